//! The `websocket` kind: a WebSocket client (uniflow's `websocket` node). A packet on `io` opens a
//! connection for its process: the URL is the node's `url`, whose parts win over the payload's
//! `scheme`, `host`, `path` and `query` (a listener's request can be sent as it is); `http`/`https`
//! read as `ws`/`wss`. Each message the server sends becomes a packet `{type, data}` out of `out` in
//! that process; packets on `in` in that process (or a child of it) are sent to the server. The
//! connection closes when the process ends, and the process ends (successfully) when the server closes
//! the connection, as in uniflow.

use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::{FieldIssue, IO_PORT};
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, NodeSlot, OutPort, Result, Value};

use super::connect;
use super::http_client::{chain, duration_field};
use super::outgoing::{encode_query, escape_path, Base, Outgoing};
use super::tls;
use super::ws::{self, Connections, Replies, RECEIVED};

/// How long the handshake may take when no `timeout` is set (gorilla's default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(45);

/// The `websocket` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct WebSocketFields {
    /// The server: `ws://` or `wss://` (`http`/`https` are read as `ws`/`wss`). Its scheme, host, path
    /// and query each replace the payload's when set.
    #[serde(default)]
    pub url: Option<String>,
    /// How long connecting and the handshake may take (`"10s"`, or milliseconds); 45s when absent.
    #[serde(default)]
    #[schemars(schema_with = "super::listener::duration_schema")]
    pub timeout: Option<serde_json::Value>,
}

/// The codec of `websocket`.
#[derive(Debug, Default, Clone, Copy)]
pub struct WebSocketKind;

impl Kind for WebSocketKind {
    const KIND: &'static str = "websocket";
    type Fields = WebSocketFields;

    fn ports(&self) -> Ports {
        Ports::new(&["io", "in"], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "A WebSocket client: `io` connects (per process), `in` sends, each message received goes out \
         of `out`."
    }

    fn compile(
        &self,
        f: WebSocketFields,
        cx: &CompileContext<'_>,
    ) -> std::result::Result<BoxedNode, FieldIssue> {
        let base = Base::parse(f.url.as_deref().unwrap_or("")).map_err(|m| FieldIssue::new("url", m))?;
        if !matches!(base.scheme.as_str(), "" | "ws" | "wss" | "http" | "https") {
            return Err(FieldIssue::new(
                "url",
                format!("unsupported scheme {:?}; use ws or wss", base.scheme),
            ));
        }
        let timeout = duration_field(&f.timeout, "timeout")?.unwrap_or(DEFAULT_TIMEOUT);
        let tls = tls::client_config().map_err(|m| FieldIssue::new("url", m))?;
        Ok(BoxedNode::new(WebSocket {
            label: format!("websocket {}/{}", cx.namespace, cx.name),
            namespace: cx.namespace.to_string(),
            base,
            timeout,
            tls,
            conns: Arc::new(Connections::default()),
            slot: Mutex::new(Weak::new()),
        }))
    }
}

/// The running `websocket` node.
pub struct WebSocket {
    label: String,
    namespace: String,
    base: Base,
    timeout: Duration,
    tls: Arc<rustls::ClientConfig>,
    conns: Arc<Connections>,
    slot: Mutex<Weak<NodeSlot>>,
}

impl WebSocket {
    fn fail(&self, kind: ErrorKind, m: impl std::fmt::Display) -> Error {
        Error::new(kind, format!("{}: {m}", self.label))
    }

    /// The URL for a connection request: the node's parts win (uniflow).
    fn url(&self, payload: Value) -> Result<(bool, String, u16, String)> {
        let mut out = match payload {
            Value::Map(_) => {
                Outgoing::from_value(payload).map_err(|m| self.fail(ErrorKind::UnsupportedValue, m))?
            }
            _ => Outgoing::default(),
        };
        let b = &self.base;
        if !b.scheme.is_empty() {
            out.scheme = b.scheme.clone();
        }
        if !b.host.is_empty() {
            out.host = b.host.clone();
        }
        if !b.path.is_empty() {
            out.path = b.path.clone();
        }
        if !b.query.is_empty() {
            out.query.clear();
            for (k, v) in &b.query {
                out.query.entry(k.clone()).or_default().push(v.clone());
            }
        }
        let secure = match out.scheme.to_ascii_lowercase().as_str() {
            "wss" | "https" => true,
            "ws" | "http" | "" => false,
            other => {
                return Err(self.fail(
                    ErrorKind::UnsupportedValue,
                    format!("unsupported scheme {other:?}"),
                ))
            }
        };
        if out.host.is_empty() {
            return Err(self.fail(
                ErrorKind::UnsupportedValue,
                "no host: set the node's url or the payload's host",
            ));
        }
        let authority: http::uri::Authority = out.host.parse().map_err(|e| {
            self.fail(
                ErrorKind::UnsupportedValue,
                format!("invalid host {:?}: {e}", out.host),
            )
        })?;
        let port = authority.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let mut path = escape_path(&out.path);
        if !path.starts_with('/') {
            path.insert(0, '/');
        }
        let scheme = if secure { "wss" } else { "ws" };
        let mut url = format!("{scheme}://{}{path}", out.host);
        let query = encode_query(&out.query);
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query);
        }
        Ok((secure, authority.host().to_string(), port, url))
    }

    async fn open(&self, cx: &mut Cx, payload: Value) -> Result<()> {
        let process = cx.process().clone();
        if self.conns.find(&process).is_some() {
            return Err(self.fail(
                ErrorKind::UnsupportedValue,
                "this process has a connection already",
            ));
        }
        let (secure, host, port, url) = self.url(payload)?;
        let connecting = async {
            let alpn: &[&[u8]] = &[b"http/1.1"];
            let stream = connect::connect(&self.namespace, &host, port, secure.then_some((&self.tls, alpn)))
                .await
                .map_err(|e| self.fail(ErrorKind::Unavailable, format!("{url}: {}", chain(&e))))?;
            let request = url
                .as_str()
                .into_client_request()
                .map_err(|e| self.fail(ErrorKind::UnsupportedValue, format!("{url}: {e}")))?;
            tokio_tungstenite::client_async_with_config(request, stream, Some(ws::config(None)))
                .await
                .map_err(|e| self.fail(ErrorKind::Unavailable, format!("{url}: handshake failed: {e}")))
        };
        let (socket, _response) = tokio::time::timeout(self.timeout, connecting)
            .await
            .map_err(|_| {
                self.fail(
                    ErrorKind::Timeout,
                    format!("{url}: no connection within {:?}", self.timeout),
                )
            })??;
        let slot = self.slot.lock().clone();
        let (label, conns) = (self.label.clone(), self.conns.clone());
        // Registered before `io` is answered, so `in` finds it at once.
        let queue = conns.register(&process);
        tokio::spawn(async move {
            ws::run(label, conns, slot, process.clone(), queue, socket, Replies::Drop).await;
            process.exit(None);
        });
        Ok(())
    }
}

impl Node for WebSocket {
    type State = ();
    const ON_EOS: bool = false;
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        match input.port {
            IO_PORT => self.open(cx, input.packet.value).await,
            RECEIVED => cx.emit(OutPort::OUT, input.packet.value).await,
            _ => {
                let process = cx.process().clone();
                self.conns.send(&self.label, &process, &input.packet.value).await
            }
        }
    }

    fn on_load(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        *self.slot.lock() = Arc::downgrade(slot);
        Ok(())
    }

    fn on_unload(&self) {
        self.conns.stop.cancel();
    }
}
