//! The `gateway` kind (uniflow's `gateway`, formerly `upgrader`): upgrades a listener's HTTP/1.1
//! request to a WebSocket. The request arrives on `io`; the gateway answers it `101 Switching
//! Protocols` and takes the connection over, in the request's process, which now lives as long as
//! the connection. Each message received becomes a packet `{type, data}` out of `out` in that
//! process, one at a time and in order, and the reply to it is written back as messages (none for
//! `None`, one per element of a stream). Packets arriving on `in` in that process (or a child of it)
//! are written too. The process ends when the connection closes.

use std::sync::{Arc, Weak};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::{FieldIssue, IO_PORT};
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, NodeSlot, OutPort, Result, Value};

use super::http_client::duration_field;
use super::upgrade;
use super::ws::{self, Connections, Replies, RECEIVED};

/// How long the client has to complete the switch when no `timeout` is set.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `gateway` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct GatewayFields {
    /// The protocol to upgrade to: `websocket`.
    pub protocol: String,
    /// How long the switch of protocols may take once answered (`"10s"`, or milliseconds); 10s when
    /// absent.
    #[serde(default)]
    #[schemars(schema_with = "super::listener::duration_schema")]
    pub timeout: Option<serde_json::Value>,
    /// The size of the read and write buffers in bytes; tungstenite's defaults when absent.
    #[serde(default)]
    pub buffer: Option<usize>,
}

/// The codec of `gateway`.
#[derive(Debug, Default, Clone, Copy)]
pub struct GatewayKind;

impl Kind for GatewayKind {
    const KIND: &'static str = "gateway";
    type Fields = GatewayFields;

    fn ports(&self) -> Ports {
        Ports::new(&["io", "in"], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "Upgrades a listener's request (on `io`) to a WebSocket: each received message goes out of \
         `out` in the request's process and its reply is written back; `in` writes messages too."
    }

    fn compile(
        &self,
        f: GatewayFields,
        cx: &CompileContext<'_>,
    ) -> std::result::Result<BoxedNode, FieldIssue> {
        if !f.protocol.eq_ignore_ascii_case("websocket") {
            return Err(FieldIssue::new(
                "protocol",
                format!("unsupported protocol {:?}; only \"websocket\" is", f.protocol),
            ));
        }
        let timeout = duration_field(&f.timeout, "timeout")?.unwrap_or(DEFAULT_TIMEOUT);
        Ok(BoxedNode::new(Gateway {
            label: format!("gateway {}/{}", cx.namespace, cx.name),
            timeout,
            buffer: f.buffer,
            conns: Arc::new(Connections::default()),
            slot: Mutex::new(Weak::new()),
        }))
    }
}

/// The running `gateway` node.
pub struct Gateway {
    label: String,
    timeout: Duration,
    buffer: Option<usize>,
    conns: Arc<Connections>,
    slot: Mutex<Weak<NodeSlot>>,
}

impl Gateway {
    fn bad(&self, m: impl std::fmt::Display) -> Error {
        Error::new(ErrorKind::UnsupportedValue, format!("{}: {m}", self.label))
    }

    /// Checks the request, takes its connection and answers `101`.
    async fn upgrade(&self, cx: &mut Cx, request: Value) -> Result<()> {
        let process = cx.process().clone();
        let (pending, response) = upgrade::websocket(&request, &process).map_err(|m| self.bad(m))?;
        let slot = self.slot.lock().clone();
        let (label, conns, timeout, config) = (
            self.label.clone(),
            self.conns.clone(),
            self.timeout,
            ws::config(self.buffer),
        );
        // Registered before `io` is answered, so `in` finds it at once.
        let queue = conns.register(&process);
        tokio::spawn(async move {
            let upgraded = match tokio::time::timeout(timeout, pending).await {
                Ok(Ok(u)) => u,
                Ok(Err(e)) => {
                    conns.unregister(&process);
                    process.exit(Some(Error::node(format!(
                        "{label}: the switch to WebSocket failed: {e}"
                    ))));
                    return;
                }
                Err(_) => {
                    conns.unregister(&process);
                    process.exit(Some(Error::new(
                        ErrorKind::Timeout,
                        format!("{label}: the switch to WebSocket took over {timeout:?}"),
                    )));
                    return;
                }
            };
            let socket =
                WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(config)).await;
            ws::run(
                label,
                conns,
                slot,
                process.clone(),
                queue,
                socket,
                Replies::WriteBack,
            )
            .await;
            process.exit(None);
        });
        cx.reply(response).await
    }
}

impl Node for Gateway {
    type State = ();
    const ON_EOS: bool = false;
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        match input.port {
            IO_PORT => self.upgrade(cx, input.packet.value).await,
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
