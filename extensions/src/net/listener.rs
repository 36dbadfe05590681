//! The `listener` kind: an HTTP server (HTTP/1.1, and HTTP/2 over cleartext with prior knowledge)
//! that starts one root process per request and writes the request, as uniflow's payload, out of its
//! `out` port (see `serve.rs` for the request/response rules). It binds when loaded and prints one
//! line `listening NAMESPACE/NODE ADDR` on stdout; when unloaded it releases the port at once, lets
//! in-flight requests finish for up to `grace`, then closes what is left.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::coerce::to_duration;
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, NodeSlot, OutPort, Result};

use super::serve::{self, Shared, IN_ERROR};
use super::tls::{self, TlsFields};

/// The default cap on a request body: 10 MiB.
pub const DEFAULT_MAX_BODY: u64 = 10 << 20;
/// The default time in-flight requests get to finish when the listener is unloaded.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// The `listener` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ListenerFields {
    /// The protocol: `http` (HTTP/1.1, and HTTP/2 with prior knowledge on the same port).
    pub protocol: String,
    /// The address to bind, an IP or a host name; all IPv4 interfaces (`0.0.0.0`) when absent.
    #[serde(default)]
    pub host: Option<String>,
    /// The TCP port; `0` picks a free one (the `listening` line tells which).
    pub port: u16,
    /// How long a request may take until its response starts (`"30s"`, or milliseconds); none when absent.
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<serde_json::Value>,
    /// The largest request body accepted, in bytes (`1048576`, `"1MiB"`, `"512KB"`); default 10 MiB.
    /// Larger bodies are answered 413.
    #[serde(default)]
    #[schemars(schema_with = "size_schema")]
    pub max_body: Option<serde_json::Value>,
    /// How long in-flight requests may run on after the listener is unloaded; default 10s.
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub grace: Option<serde_json::Value>,
    /// HTTPS: the certificate chain and private key (inline PEM, a PEM file's path, or base64 of PEM).
    /// The same port then speaks TLS only, HTTP/2 and HTTP/1.1 chosen by ALPN.
    #[serde(default)]
    pub tls: Option<TlsFields>,
}

pub(crate) fn duration_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "number", "null"],
        "description": "A duration: \"500ms\", \"1.5s\", \"1h30m\", or a number of milliseconds."
    })
}

fn size_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "integer", "null"],
        "description": "A size in bytes, or with a unit: \"512KB\", \"10MiB\"."
    })
}

/// Reads a size: a byte count, or a number with `B`, `KB`/`KiB`, `MB`/`MiB`, `GB`/`GiB`.
fn parse_size(v: &serde_json::Value) -> std::result::Result<u64, String> {
    let text = match v {
        serde_json::Value::Number(n) => {
            return n.as_u64().ok_or_else(|| format!("{n} is not a size in bytes"))
        }
        serde_json::Value::String(s) => s.trim(),
        other => return Err(format!("expected a size, found {other}")),
    };
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("{text:?} is not a size"))?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "kib" => 1 << 10,
        "mb" | "m" => 1_000_000,
        "mib" => 1 << 20,
        "gb" | "g" => 1_000_000_000,
        "gib" => 1 << 30,
        other => return Err(format!("unknown size unit {other:?} in {text:?}")),
    };
    n.checked_mul(scale)
        .ok_or_else(|| format!("{text:?} is too large"))
}

/// Addresses of the loaded listeners by `NAMESPACE/NODE`, for the host to learn where one bound (the
/// system listener on port 0, whose address it protects).
static BOUND: Mutex<Option<std::collections::HashMap<String, SocketAddr>>> = Mutex::new(None);

/// Where the listener `NAMESPACE/NODE` is bound, while it is loaded.
pub fn bound_addr(label: &str) -> Option<SocketAddr> {
    BOUND.lock().as_ref().and_then(|m| m.get(label).copied())
}

/// A listener's settings, checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// `NAMESPACE/NODE`, for the `listening` line and logs.
    pub label: String,
    pub host: Option<String>,
    pub port: u16,
    pub timeout: Option<Duration>,
    pub max_body: u64,
    pub grace: Duration,
    /// The TLS config when the listener serves HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Config {
    pub(crate) fn from_fields(
        f: ListenerFields,
        cx: &CompileContext<'_>,
    ) -> std::result::Result<Self, FieldIssue> {
        if !f.protocol.eq_ignore_ascii_case("http") {
            return Err(FieldIssue::new(
                "protocol",
                format!("unsupported protocol {:?}; only \"http\" is", f.protocol),
            ));
        }
        let duration = |v: &Option<serde_json::Value>, field: &str| match v {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => to_duration(v, field).map(Some).map_err(FieldIssue::from),
        };
        let timeout = duration(&f.timeout, "timeout")?.filter(|d| !d.is_zero());
        let grace = duration(&f.grace, "grace")?.unwrap_or(DEFAULT_GRACE);
        let max_body = match &f.max_body {
            None | Some(serde_json::Value::Null) => DEFAULT_MAX_BODY,
            Some(v) => parse_size(v).map_err(|m| FieldIssue::new("max_body", m))?,
        };
        let host = f.host.map(|h| h.trim().to_string()).filter(|h| !h.is_empty());
        let tls = match &f.tls {
            None => None,
            Some(t) => Some(tls::server_config(t).map_err(|(field, m)| FieldIssue::new(field, m))?),
        };
        Ok(Config {
            label: format!("{}/{}", cx.namespace, cx.name),
            host,
            port: f.port,
            timeout,
            max_body,
            grace,
            tls,
        })
    }

    /// The addresses to try binding, in order.
    fn addrs(&self) -> Result<Vec<SocketAddr>> {
        let host = self.host.as_deref().unwrap_or("0.0.0.0");
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        (host, self.port)
            .to_socket_addrs()
            .map(|a| a.collect())
            .map_err(|e| {
                Error::new(
                    ErrorKind::Unavailable,
                    format!("listener {}: cannot resolve host {host:?}: {e}", self.label),
                )
            })
    }
}

/// The codec of `listener`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ListenerKind;

impl Kind for ListenerKind {
    const KIND: &'static str = "listener";
    type Fields = ListenerFields;

    fn ports(&self) -> Ports {
        Ports::new(&[], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "An HTTP server (HTTP/1.1 and h2c): one process per request, the request out of `out` as \
         uniflow's payload, the reply as the response (streamed as SSE or a chunked body)."
    }

    fn compile(&self, fields: ListenerFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Listener::new(Config::from_fields(fields, cx)?)))
    }
}

/// A bound server.
struct Server {
    /// The listening socket; taken (closed) on unload so the port is free at once.
    socket: Arc<Mutex<Option<TcpListener>>>,
    /// Stops accepting and starts the drain.
    stop: CancellationToken,
    addr: SocketAddr,
    /// The accept-and-drain task, handed to `weir_engine::drain` on unload.
    task: Option<tokio::task::JoinHandle<()>>,
}

struct Inner {
    config: Config,
    server: Mutex<Option<Server>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // A listener dropped without being unloaded still frees its port.
        if let Some(server) = self.server.get_mut().take() {
            drop(server.socket.lock().take());
            server.stop.cancel();
        }
    }
}

/// The running listener. Clones share one server.
#[derive(Clone)]
pub struct Listener(Arc<Inner>);

impl Listener {
    pub(crate) fn new(config: Config) -> Self {
        Listener(Arc::new(Inner {
            config,
            server: Mutex::new(None),
        }))
    }

    /// The bound address while the listener is loaded.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.0.server.lock().as_ref().map(|s| s.addr)
    }

    fn bind(&self) -> Result<TcpListener> {
        let config = &self.0.config;
        let mut last = None;
        for addr in config.addrs()? {
            match std::net::TcpListener::bind(addr).and_then(|l| l.set_nonblocking(true).map(|()| l)) {
                Ok(l) => {
                    return TcpListener::from_std(l).map_err(|e| {
                        Error::new(ErrorKind::Internal, format!("listener {}: {e}", config.label))
                    })
                }
                Err(e) => last = Some(format!("cannot bind {addr} (host, port): {e}")),
            }
        }
        let why = last.unwrap_or_else(|| "the host resolves to no address".to_string());
        Err(Error::new(
            ErrorKind::Unavailable,
            format!("listener {}: {why}", config.label),
        ))
    }

    fn start(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        let mut server = self.0.server.lock();
        if server.is_some() {
            return Ok(());
        }
        let config = &self.0.config;
        let handle = tokio::runtime::Handle::try_current().map_err(|_| {
            Error::new(
                ErrorKind::Internal,
                format!("listener {}: loaded outside a tokio runtime", config.label),
            )
        })?;
        let _enter = handle.enter();
        let socket = self.bind()?;
        let addr = socket
            .local_addr()
            .map_err(|e| Error::new(ErrorKind::Internal, format!("listener {}: {e}", config.label)))?;
        let socket = Arc::new(Mutex::new(Some(socket)));
        let stop = CancellationToken::new();
        let shared = Arc::new(Shared {
            slot: Arc::downgrade(slot),
            timeout: config.timeout,
            max_body: config.max_body,
            scheme: if config.tls.is_some() { "https" } else { "http" },
            requests: {
                let (ns, name) = config.label.split_once('/').unwrap_or(("", &config.label));
                crate::metrics::http_requests(ns, name)
            },
        });
        let task = handle.spawn(accept_loop(socket.clone(), stop.clone(), shared, config.clone()));
        *server = Some(Server {
            socket,
            stop,
            addr,
            task: Some(task),
        });
        drop(server);
        BOUND
            .lock()
            .get_or_insert_with(Default::default)
            .insert(config.label.clone(), addr);
        tracing::info!(listener = %config.label, %addr, "listening");
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening {} {addr}", config.label);
        let _ = out.flush();
        Ok(())
    }

    fn stop(&self) {
        let Some(server) = self.0.server.lock().take() else {
            return;
        };
        if let Some(m) = BOUND.lock().as_mut() {
            if m.get(&self.0.config.label) == Some(&server.addr) {
                m.remove(&self.0.config.label);
            }
        }
        // Closing the socket here frees the port before a replacement binds it.
        drop(server.socket.lock().take());
        server.stop.cancel();
        // The host waits for the drain before it exits (SIGTERM lets in-flight requests finish).
        if let Some(task) = server.task {
            weir_engine::drain::register(task);
        }
    }
}

/// How long a client may take over the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves one connection (plain or TLS) until it ends, watched for graceful shutdown. Upgrades
/// (WebSocket, for `gateway`) are allowed.
async fn serve_connection<S>(
    builder: &auto::Builder<TokioExecutor>,
    watcher: hyper_util::server::graceful::Watcher,
    shared: Arc<Shared>,
    peer: SocketAddr,
    stream: S,
) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| serve::handle(shared.clone(), peer, req));
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    watcher.watch(conn).await
}

/// Accepts connections until stopped, then drains them for up to the grace period.
async fn accept_loop(
    socket: Arc<Mutex<Option<TcpListener>>>,
    stop: CancellationToken,
    shared: Arc<Shared>,
    config: Config,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    let builder = Arc::new(builder);
    let graceful = GracefulShutdown::new();
    let force = CancellationToken::new();
    loop {
        let accepted = tokio::select! {
            _ = stop.cancelled() => break,
            r = std::future::poll_fn(|cx| match socket.lock().as_ref() {
                Some(l) => l.poll_accept(cx).map(Some),
                None => Poll::Ready(None),
            }) => r,
        };
        let stream = match accepted {
            None => break,
            Some(Ok(accepted)) => accepted,
            Some(Err(e)) => {
                tracing::warn!(listener = %config.label, "accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (stream, peer) = stream;
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let watcher = graceful.watcher();
        let force = force.clone();
        let label = config.label.clone();
        let builder = builder.clone();
        let tls = config.tls.clone();
        tokio::spawn(async move {
            let served = async {
                match tls {
                    None => serve_connection(&builder, watcher, shared, peer, stream).await,
                    Some(tls) => {
                        let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
                        match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
                            Ok(Ok(stream)) => serve_connection(&builder, watcher, shared, peer, stream).await,
                            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}").into()),
                            Err(_) => Err("TLS handshake timed out".into()),
                        }
                    }
                }
            };
            tokio::select! {
                r = served => if let Err(e) = r {
                    tracing::debug!(listener = %label, "connection ended: {e}");
                },
                _ = force.cancelled() => {}
            }
        });
    }
    drop(socket.lock().take());
    if tokio::time::timeout(config.grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(listener = %config.label, "closing requests still running after {:?}", config.grace);
        force.cancel();
    }
}

impl Node for Listener {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        if input.port == IN_ERROR {
            return cx.emit(OutPort::Error, input.packet.value).await;
        }
        cx.emit_packet(OutPort::OUT, input.packet).await
    }

    fn on_load(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        self.start(slot)
    }

    fn on_unload(&self) {
        self.stop()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use weir_codecs::codec::Scheme;

    const CX: CompileContext<'static> = CompileContext::new("default", "http");

    fn decode(fields: serde_json::Value) -> std::result::Result<Config, Vec<FieldIssue>> {
        let mut s = Scheme::new();
        s.register(ListenerKind);
        let codec = s.get("listener").cloned().ok_or_else(Vec::new)?;
        let decoded = codec.decode(&fields)?;
        let typed: ListenerFields =
            serde_json::from_value(decoded).map_err(|e| vec![FieldIssue::new("", e.to_string())])?;
        Config::from_fields(typed, &CX).map_err(|e| vec![e])
    }

    #[test]
    fn net_listener_fields_coerce_like_uniflow() {
        let c = decode(json!({"protocol": "http", "port": "8000", "timeout": "1.5s", "max_body": "1KiB"}))
            .unwrap();
        assert_eq!(
            (c.port, c.timeout, c.max_body),
            (8000, Some(Duration::from_millis(1500)), 1024)
        );
        assert_eq!(c.label, "default/http");
        let c = decode(json!({"protocol": "http", "port": 0, "timeout": 250, "max_body": 99})).unwrap();
        assert_eq!(
            (c.timeout, c.max_body, c.grace),
            (Some(Duration::from_millis(250)), 99, DEFAULT_GRACE)
        );
    }

    #[test]
    fn net_listener_errors_name_the_field() {
        let field = |v| decode(v).unwrap_err()[0].field.clone();
        assert_eq!(field(json!({"protocol": "gopher", "port": 1})), "protocol");
        assert_eq!(field(json!({"protocol": "http", "port": 70000})), "port");
        assert_eq!(
            field(json!({"protocol": "http", "port": 1, "timeout": "soon"})),
            "timeout"
        );
        assert_eq!(
            field(json!({"protocol": "http", "port": 1, "max_body": "3 parsecs"})),
            "max_body"
        );
    }
}
