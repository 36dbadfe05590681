//! Outgoing connections for the client kinds (`http`, `proxy`, `websocket`): resolve the host, ask
//! [`weir_codecs::guard::check_addr`] about every address (nodes outside `system` may not reach the
//! system listener), connect, and wrap in TLS for `https`/`wss`. The check runs on exactly the
//! addresses that are then connected to, so a name that resolves to the system listener is refused as
//! surely as its IP.
//!
//! [`Connector`] plugs this into hyper's pooled client.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use weir_codecs::guard::{self, GuardError};

/// Why an outgoing connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("the URL {0:?} has no host")]
    NoHost(String),
    #[error("unsupported scheme {0:?} (use http, https, ws or wss)")]
    Scheme(String),
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("{host} resolves to no address")]
    NoAddress { host: String },
    #[error(transparent)]
    Refused(#[from] GuardError),
    #[error("cannot connect to {host} ({addr}): {source}")]
    Connect {
        host: String,
        addr: SocketAddr,
        source: io::Error,
    },
    #[error("TLS with {host} failed: {source}")]
    Tls { host: String, source: io::Error },
    #[error("TLS setup: {0}")]
    TlsConfig(String),
}

/// A connection, plain or TLS.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl Stream {
    fn h2(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(t) => t.get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        if self.h2() {
            Connected::new().negotiated_h2()
        } else {
            Connected::new()
        }
    }
}

/// Resolves `host:port` and refuses it when any address is the system listener (for `namespace`).
pub(crate) async fn resolve(namespace: &str, host: &str, port: u16) -> Result<Vec<SocketAddr>, ConnectError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let addrs: Vec<SocketAddr> = match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((bare, port))
            .await
            .map_err(|source| ConnectError::Resolve {
                host: host.to_string(),
                source,
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(ConnectError::NoAddress {
            host: host.to_string(),
        });
    }
    for addr in &addrs {
        guard::check_addr(namespace, *addr)?;
    }
    Ok(addrs)
}

/// Connects to `host:port` over TCP (after [`resolve`]), then TLS when `tls` is given, offering `alpn`.
pub(crate) async fn connect(
    namespace: &str,
    host: &str,
    port: u16,
    tls: Option<(&Arc<rustls::ClientConfig>, &[&[u8]])>,
) -> Result<Stream, ConnectError> {
    let addrs = resolve(namespace, host, port).await?;
    let mut last = None;
    let mut tcp = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(source) => {
                last = Some(ConnectError::Connect {
                    host: host.to_string(),
                    addr,
                    source,
                })
            }
        }
    }
    let Some(tcp) = tcp else {
        return Err(last.unwrap_or_else(|| ConnectError::NoAddress {
            host: host.to_string(),
        }));
    };
    let _ = tcp.set_nodelay(true);
    let Some((config, alpn)) = tls else {
        return Ok(Stream::Plain(tcp));
    };
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let name = ServerName::try_from(bare.to_string())
        .map_err(|e| ConnectError::TlsConfig(format!("{host:?} is not a TLS server name: {e}")))?;
    let mut config = config.as_ref().clone();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|source| ConnectError::Tls {
            host: host.to_string(),
            source,
        })?;
    Ok(Stream::Tls(Box::new(stream)))
}

/// A hyper connector that connects through [`connect`] on behalf of one namespace.
#[derive(Clone)]
pub(crate) struct Connector {
    namespace: Arc<str>,
    tls: Arc<rustls::ClientConfig>,
}

impl Connector {
    pub(crate) fn new(namespace: &str, tls: Arc<rustls::ClientConfig>) -> Self {
        Connector {
            namespace: namespace.into(),
            tls,
        }
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl tower_service::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = ConnectError;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| ConnectError::NoHost(uri.to_string()))?
                .to_string();
            let (secure, default_port) = match uri.scheme_str() {
                Some("https") | Some("wss") => (true, 443),
                Some("http") | Some("ws") | None => (false, 80),
                Some(other) => return Err(ConnectError::Scheme(other.to_string())),
            };
            let port = uri.port_u16().unwrap_or(default_port);
            let alpn: &[&[u8]] = &[b"h2", b"http/1.1"];
            let tls = secure.then_some((&this.tls, alpn));
            connect(&this.namespace, &host, port, tls).await.map(TokioIo::new)
        })
    }
}
