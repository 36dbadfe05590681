//! What `gateway` and `websocket` share: packets ↔ WebSocket messages, the connections of a node by
//! process, and the loop that runs one connection.
//!
//! Values to messages: a map is an envelope only when it has a numeric `type` (uniflow's, gorilla's
//! numbers: 1 text, 2 binary, 8 close, 9 ping, 10 pong) and then `data` is the payload; any other
//! value is a message of its own: a string a text frame as it is, bytes a binary frame, anything else
//! a JSON text frame. Messages to values: `{type: 1, data: TEXT}` and `{type: 2, data: BYTES}`.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use weir_engine::{Call, Error, ErrorKind, Frame, NodeSlot, Process, ProcessId, Value};

/// gorilla/websocket's message types, as uniflow writes them in payloads.
pub(crate) const TEXT: i64 = 1;
pub(crate) const BINARY: i64 = 2;
pub(crate) const CLOSE: i64 = 8;
pub(crate) const PING: i64 = 9;
pub(crate) const PONG: i64 = 10;

/// The in port a connection's received messages enter the node by (then go out of `out`).
pub(crate) const RECEIVED: usize = weir_codecs::resource::IO_PORT + 1;

/// Messages waiting to be written, per connection.
const QUEUE: usize = 64;

/// A value as a message (see the module docs).
pub(crate) fn to_message(value: &Value) -> Result<Message, String> {
    if let Some(kind) = value.get("type").and_then(|t| t.as_i64()) {
        let data = value.get("data").cloned().unwrap_or_default();
        return envelope(kind, &data);
    }
    Ok(plain(value))
}

fn plain(value: &Value) -> Message {
    match value {
        Value::String(s) => Message::text(s.to_string()),
        Value::Bytes(b) => Message::binary(b.clone()),
        Value::Error(e) => Message::text(Value::Error(e.clone()).to_json().to_string()),
        v => Message::text(v.to_json().to_string()),
    }
}

fn bytes_of(data: &Value) -> Bytes {
    match data {
        Value::Null => Bytes::new(),
        Value::Bytes(b) => b.clone(),
        Value::String(s) => Bytes::from(s.to_string()),
        v => Bytes::from(v.to_json().to_string()),
    }
}

fn envelope(kind: i64, data: &Value) -> Result<Message, String> {
    Ok(match kind {
        TEXT => match data {
            Value::Null => Message::text(""),
            Value::Bytes(b) => Message::text(String::from_utf8_lossy(b).into_owned()),
            v => plain(v),
        },
        BINARY => Message::binary(bytes_of(data)),
        PING => Message::Ping(bytes_of(data)),
        PONG => Message::Pong(bytes_of(data)),
        CLOSE => {
            let code = data.get("code").and_then(Value::as_i64).unwrap_or(1000);
            let reason = match data {
                Value::String(s) => s.to_string(),
                v => v.get("reason").and_then(Value::as_str).unwrap_or("").to_string(),
            };
            let code = u16::try_from(code).map_err(|_| format!("invalid close code {code}"))?;
            Message::Close(Some(CloseFrame {
                code: CloseCode::from(code),
                reason: reason.into(),
            }))
        }
        other => {
            return Err(format!(
                "unknown WebSocket message type {other} (use 1, 2, 8, 9 or 10)"
            ))
        }
    })
}

/// A received message as a packet; `None` for control frames.
pub(crate) fn from_message(msg: Message) -> Option<Value> {
    let (kind, data) = match msg {
        Message::Text(t) => (TEXT, Value::from(t.as_str())),
        Message::Binary(b) => (BINARY, Value::Bytes(b)),
        _ => return None,
    };
    Some(Value::map([("type", Value::from(kind)), ("data", data)]))
}

/// The WebSocket settings from `buffer` (read and write buffer sizes).
pub(crate) fn config(buffer: Option<usize>) -> WebSocketConfig {
    let config = WebSocketConfig::default();
    match buffer {
        Some(n) if n > 0 => config.read_buffer_size(n).write_buffer_size(n),
        _ => config,
    }
}

/// The open connections of one node, by the process they belong to.
#[derive(Default)]
pub(crate) struct Connections {
    open: Mutex<HashMap<ProcessId, mpsc::Sender<Message>>>,
    /// Closes every connection when the node is unloaded.
    pub stop: CancellationToken,
}

impl Connections {
    /// The connection of `process` or its nearest ancestor.
    pub(crate) fn find(&self, process: &Arc<Process>) -> Option<mpsc::Sender<Message>> {
        let open = self.open.lock();
        let mut p = Some(process);
        while let Some(cur) = p {
            if let Some(tx) = open.get(&cur.id()) {
                return Some(tx.clone());
            }
            p = cur.parent();
        }
        None
    }

    /// Opens the queue of a new connection of `process`: what [`Connections::send`] writes waits
    /// there until [`run`] writes it.
    pub(crate) fn register(&self, process: &Process) -> Queue {
        let (tx, rx) = mpsc::channel::<Message>(QUEUE);
        self.open.lock().insert(process.id(), tx.clone());
        Queue { tx, rx }
    }

    /// Forgets the connection of exactly `process`.
    pub(crate) fn unregister(&self, process: &Process) {
        self.open.lock().remove(&process.id());
    }

    /// Writes `value` on the connection of `process`.
    pub(crate) async fn send(
        &self,
        label: &str,
        process: &Arc<Process>,
        value: &Value,
    ) -> weir_engine::Result<()> {
        let Some(tx) = self.find(process) else {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("{label}: no WebSocket connection in this process; open one through `io` first"),
            ));
        };
        let msg = to_message(value)
            .map_err(|m| Error::new(ErrorKind::UnsupportedValue, format!("{label}: {m}")))?;
        tx.send(msg).await.map_err(|_| {
            Error::new(
                ErrorKind::Closed,
                format!("{label}: the WebSocket connection is closed"),
            )
        })
    }
}

/// The messages waiting to be written on one connection.
pub(crate) struct Queue {
    tx: mpsc::Sender<Message>,
    rx: mpsc::Receiver<Message>,
}

/// What to do with the replies to received messages.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Replies {
    /// Write them back on the connection (`gateway`).
    WriteBack,
    /// Read and drop them (`websocket`: the server is not answered automatically).
    Drop,
}

/// Runs one connection until either side closes it, the process ends or the node is unloaded: each
/// received message goes into the node's [`RECEIVED`] port in `process`, one at a time and in order;
/// values given to [`Connections::send`] are written. Returns when the connection is over, having
/// unregistered it.
pub(crate) async fn run<S>(
    label: String,
    conns: Arc<Connections>,
    slot: Weak<NodeSlot>,
    process: Arc<Process>,
    queue: Queue,
    ws: WebSocketStream<S>,
    replies: Replies,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let Queue { tx, mut rx } = queue;
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            let closing = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let reader = async {
        while let Some(msg) = stream.next().await {
            let msg = match msg {
                Ok(Message::Close(_)) => break,
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(node = %label, "WebSocket read failed: {e}");
                    break;
                }
            };
            let Some(value) = from_message(msg) else {
                continue;
            };
            let Some(slot) = slot.upgrade() else { break };
            deliver(&label, &slot, &process, value, replies, &tx).await;
        }
    };
    tokio::select! {
        _ = reader => {}
        _ = process.done() => {}
        _ = conns.stop.cancelled() => {}
    }
    conns.unregister(&process);
    drop(tx);
    // Lets queued messages and the close frame go out.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// Hands one received value to the node and deals with its reply.
async fn deliver(
    label: &str,
    slot: &Arc<NodeSlot>,
    process: &Arc<Process>,
    value: Value,
    replies: Replies,
    tx: &mpsc::Sender<Message>,
) {
    let mut call = match Call::open(slot, process, RECEIVED) {
        Ok(c) => c,
        Err(e) => {
            process.warn(format!("{label}: a received message was not delivered: {e}"));
            return;
        }
    };
    if let Err(e) = call.send(value).await {
        process.warn(format!("{label}: a received message was not delivered: {e}"));
        return;
    }
    call.close();
    while let Some(frame) = call.frame().await {
        let (value, last) = match frame {
            Frame::Item(v) => (v, false),
            Frame::One(v) => (v, true),
            Frame::End => break,
            Frame::Err(e) => (Value::Error(e), true),
        };
        if replies == Replies::WriteBack && !value.is_null() {
            match to_message(&value) {
                Ok(msg) => {
                    if tx.send(msg).await.is_err() {
                        return;
                    }
                }
                Err(m) => process.warn(format!("{label}: a reply was not written: {m}")),
            }
        } else if let Value::Error(e) = &value {
            process.warn(format!("{label}: a received message failed: {e}"));
        }
        if last {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn net_ws_values_and_messages() {
        let v = |j: serde_json::Value| Value::from(&j);
        assert_eq!(to_message(&v(json!("hi"))).unwrap(), Message::text("hi"));
        assert_eq!(
            to_message(&v(json!({"a": 1}))).unwrap(),
            Message::text(r#"{"a":1}"#)
        );
        // `type` that is not a number: not an envelope.
        assert_eq!(
            to_message(&v(json!({"type": "x", "data": 1}))).unwrap(),
            Message::text(r#"{"type":"x","data":1}"#)
        );
        assert_eq!(
            to_message(&v(json!({"type": 1, "data": {"a": [1]}}))).unwrap(),
            Message::text(r#"{"a":[1]}"#)
        );
        assert_eq!(
            to_message(&v(json!({"type": 2, "data": "ab"}))).unwrap(),
            Message::binary(Bytes::from("ab"))
        );
        assert_eq!(
            to_message(&Value::Bytes(Bytes::from_static(b"\x00"))).unwrap(),
            Message::binary(Bytes::from_static(b"\x00"))
        );
        assert!(matches!(
            to_message(&v(json!({"type": 8, "data": {"code": 4000, "reason": "bye"}}))).unwrap(),
            Message::Close(Some(CloseFrame { code, .. })) if u16::from(code) == 4000
        ));
        assert!(to_message(&v(json!({"type": 3}))).is_err());
        assert_eq!(
            from_message(Message::text("hi")).unwrap().to_json(),
            json!({"type": 1, "data": "hi"})
        );
        assert!(from_message(Message::Ping(Bytes::new())).is_none());
    }
}
