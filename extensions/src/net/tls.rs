//! TLS for the `net` kinds, with one rustls crypto provider for the whole workspace: *ring*.
//!
//! mongodb, reqwest and jsonschema each pick a provider by default; weir builds rustls with `ring`
//! only and every config here names the provider explicitly ([`provider`]). Code that builds rustls
//! configs through a library's defaults calls [`install_crypto_provider`] once at start-up (the host
//! does, and so do tests), so rustls never has to guess.
//!
//! A listener's `tls` field holds a certificate chain and a private key, each inline PEM, a path to a
//! PEM file, or base64 of PEM (uniflow's listener documents "base64 encoded cert").

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use schemars::JsonSchema;
use serde::Deserialize;

/// The crypto provider every TLS config of weir uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Installs *ring* as rustls's process-wide default provider. Safe to call many times and from any
/// crate; a provider installed earlier stays.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The listener's `tls` field.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFields {
    /// The certificate chain: inline PEM, a path to a PEM file, or base64 of PEM.
    pub cert: String,
    /// The private key (PKCS#8, PKCS#1 or SEC1): inline PEM, a path to a PEM file, or base64 of PEM.
    pub key: String,
}

/// The PEM text a field means: itself when it is PEM, else the file it names, else its base64.
fn pem_text(field: &str, text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim();
    if trimmed.contains("-----BEGIN") {
        return Ok(trimmed.as_bytes().to_vec());
    }
    if trimmed.is_empty() {
        return Err(format!("{field} is empty"));
    }
    let path = Path::new(trimmed);
    if path.is_file() {
        return std::fs::read(path).map_err(|e| format!("cannot read {field} file {trimmed:?}: {e}"));
    }
    let compact: String = trimmed.chars().filter(|c| !c.is_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(compact) {
        Ok(bytes) if bytes.windows(10).any(|w| w == b"-----BEGIN") => Ok(bytes),
        _ => Err(format!(
            "{field} is neither PEM, nor a readable file, nor base64 of PEM: {trimmed:?}"
        )),
    }
}

/// Reads a certificate chain and key into `(field, message)` errors.
pub(crate) fn load_pair(
    tls: &TlsFields,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), (&'static str, String)> {
    let cert = pem_text("cert", &tls.cert).map_err(|m| ("tls.cert", m))?;
    let key = pem_text("key", &tls.key).map_err(|m| ("tls.key", m))?;
    let certs = CertificateDer::pem_slice_iter(&cert)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ("tls.cert", format!("invalid PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(("tls.cert", "no CERTIFICATE in the PEM".to_string()));
    }
    let key = PrivateKeyDer::from_pem_slice(&key)
        .map_err(|e| ("tls.key", format!("no usable private key in the PEM: {e}")))?;
    Ok((certs, key))
}

/// A server config for `tls` offering HTTP/2 and HTTP/1.1 by ALPN.
pub(crate) fn server_config(tls: &TlsFields) -> Result<Arc<ServerConfig>, (&'static str, String)> {
    let (certs, key) = load_pair(tls)?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| ("tls", e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ("tls.key", format!("the key does not fit the certificate: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A client config trusting the web PKI roots (for `wss://`).
pub(crate) fn client_config() -> Result<Arc<ClientConfig>, String> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
