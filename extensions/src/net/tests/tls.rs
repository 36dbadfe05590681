//! The listener over TLS: a self-signed certificate made by the test, inline or from files, and a
//! real TLS client that trusts only that certificate.

use rustls::pki_types::pem::PemObject;
use serde_json::json;
use weir_engine::testing::{map, Graph};
use weir_engine::{OutPort, Value};

use super::serve;

/// A self-signed certificate for `localhost`: `(cert PEM, key PEM)`.
fn self_signed() -> (String, String) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    (made.cert.pem(), made.signing_key.serialize_pem())
}

/// A client trusting only `cert`, with `localhost` resolving to the listener.
fn tls_client(cert: &str, srv: &super::Server) -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .resolve("localhost", srv.addr)
        .build()
        .unwrap()
}

/// Echoes the request's scheme and protocol.
fn echo(g: &mut Graph) {
    g.add(
        "echo",
        map(|v| {
            Ok(Value::map([
                ("scheme", v.get("scheme").cloned().unwrap_or_default()),
                ("protocol", v.get("protocol").cloned().unwrap_or_default()),
            ]))
        }),
        &[],
    );
}

#[tokio::test]
async fn net_listener_serves_https_with_an_inline_pem() {
    let (cert, key) = self_signed();
    let mut g = Graph::new();
    echo(&mut g);
    let srv = serve(
        &mut g,
        json!({"tls": {"cert": cert, "key": key}}),
        &[(OutPort::OUT, "echo", 0)],
    );
    let url = format!("https://localhost:{}/", srv.addr.port());
    let res = tls_client(&cert, &srv).get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    // ALPN picked HTTP/2.
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body, json!({"scheme": "https", "protocol": "HTTP/2.0"}));

    let h1 = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(cert.as_bytes()).unwrap())
        .resolve("localhost", srv.addr)
        .build()
        .unwrap();
    let body: serde_json::Value = h1.get(&url).send().await.unwrap().json().await.unwrap();
    assert_eq!(body, json!({"scheme": "https", "protocol": "HTTP/1.1"}));

    // A client that does not trust the certificate is refused by its own TLS check.
    let untrusting = reqwest::Client::builder()
        .no_proxy()
        .resolve("localhost", srv.addr)
        .build()
        .unwrap();
    assert!(untrusting.get(&url).send().await.is_err());
    // Plain HTTP on the TLS port gets no HTTP answer.
    let plain = super::client().get(srv.url("/")).send().await;
    assert!(plain.is_err() || plain.is_ok_and(|r| r.status() != 200));
}

#[tokio::test]
async fn net_listener_reads_pem_files_and_base64() {
    use base64::Engine as _;
    let (cert, key) = self_signed();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&cert_path, &cert).unwrap();
    let b64_key = base64::engine::general_purpose::STANDARD.encode(&key);
    let mut g = Graph::new();
    echo(&mut g);
    let srv = serve(
        &mut g,
        json!({"tls": {"cert": cert_path.to_str().unwrap(), "key": b64_key}}),
        &[(OutPort::OUT, "echo", 0)],
    );
    let url = format!("https://localhost:{}/", srv.addr.port());
    let body: serde_json::Value = tls_client(&cert, &srv)
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(body["scheme"], "https");
}

#[test]
fn net_listener_tls_errors_name_the_field() {
    let (cert, key) = self_signed();
    let (other_cert, _) = self_signed();
    let compile = |tls: serde_json::Value| {
        let cx = weir_codecs::codec::CompileContext::new("test", "https");
        super::scheme()
            .get("listener")
            .unwrap()
            .compile(&json!({"protocol": "http", "port": 0, "tls": tls}), &cx)
            .err()
            .map(|e| (e[0].field.clone(), e[0].message.clone()))
    };
    let (field, msg) = compile(json!({"cert": "/no/such/file.pem", "key": key})).unwrap();
    assert_eq!(field, "tls.cert");
    assert!(msg.contains("/no/such/file.pem"), "{msg}");
    assert_eq!(
        compile(json!({"cert": cert, "key": "nope"})).unwrap().0,
        "tls.key"
    );
    assert_eq!(
        compile(json!({"cert": other_cert, "key": key})).unwrap().0,
        "tls.key"
    );
    assert_eq!(compile(json!({"cert": cert})).unwrap().0, "tls");
    assert!(compile(json!({"cert": cert, "key": key})).is_none());
}

#[tokio::test]
async fn net_client_connector_speaks_tls_and_h2_to_the_listener() {
    use http_body_util::{BodyExt, Full};
    let (cert, key) = self_signed();
    let mut g = Graph::new();
    echo(&mut g);
    let srv = serve(
        &mut g,
        json!({"tls": {"cert": cert, "key": key}}),
        &[(OutPort::OUT, "echo", 0)],
    );
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_slice_iter(cert.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(super::super::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let pool = super::super::http_client::pool_with("test", std::sync::Arc::new(config));
    let uri: http::Uri = format!("https://localhost:{}/", srv.addr.port()).parse().unwrap();
    let req = http::Request::get(uri)
        .body(Full::new(bytes::Bytes::new()))
        .unwrap();
    let res = pool.request(req).await.unwrap();
    assert_eq!(res.version(), http::Version::HTTP_2);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body, json!({"scheme": "https", "protocol": "HTTP/2.0"}));
}
