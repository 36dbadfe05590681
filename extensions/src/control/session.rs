//! `session`: per-process stored values, joined to later packets (uniflow's session node). A packet
//! on `io` stores its payload as the session of its process (a later one replaces it); the session
//! lives until that process ends. A packet on `in` is sent, for every live session, into a child of
//! the session's process as `[session, payload]`: flows that run per connection (a WebSocket, a
//! job) so receive what other processes send them, and an `if` downstream can pick the sessions
//! that match (`self[0].uid == self[1].uid`).
//!
//! The reply to a packet on `in` joins the replies of every session's child, in the order the
//! sessions were stored (one → it, several → a list per element; none → `None`); each child process
//! exits when its reply is in. A packet on `io` is answered with `None`. With `out` unconnected,
//! each `[session, payload]` pair is itself the answer.
//!
//! Ports: `in` (in[0]) and `io` → `out`, `error`.

use std::sync::{Arc, Weak};

use indexmap::IndexMap;
use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Process, ProcessId, Result, Value};

use super::downstream::{call_targets, join};

/// The engine in-port index of `io` (the same for every kind with an `io` port).
pub use weir_codecs::resource::IO_PORT;

/// A `session` spec has no fields of its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct SessionFields {}

/// The `session` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct SessionKind;

impl Kind for SessionKind {
    const KIND: &'static str = "session";
    type Fields = SessionFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in", "io"], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "Stores a session per process (io) and sends each packet (in) to every live session as [session, payload]."
    }

    fn compile(&self, _: SessionFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Session::default()))
    }
}

/// The sessions stored, by process, in the order they were first stored.
type Sessions = Arc<Mutex<IndexMap<ProcessId, (Weak<Process>, Value)>>>;

/// The node.
#[derive(Default)]
pub struct Session {
    sessions: Sessions,
}

impl Session {
    /// The live sessions now.
    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn store(&self, process: &Arc<Process>, value: Value) {
        let id = process.id();
        let first = {
            let mut sessions = self.sessions.lock();
            sessions.insert(id, (Arc::downgrade(process), value)).is_none()
        };
        if first {
            let sessions = Arc::downgrade(&self.sessions);
            process.on_exit(move |_| {
                if let Some(s) = sessions.upgrade() {
                    s.lock().shift_remove(&id);
                }
            });
        }
    }

    fn live(&self) -> Vec<(Arc<Process>, Value)> {
        let mut sessions = self.sessions.lock();
        sessions.retain(|_, (p, _)| p.upgrade().is_some_and(|p| !p.is_done()));
        sessions
            .values()
            .filter_map(|(p, v)| p.upgrade().map(|p| (p, v.clone())))
            .collect()
    }
}

impl Node for Session {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let payload = input.packet.value;
        if input.port == IO_PORT {
            self.store(cx.process(), payload);
            return Ok(());
        }
        let live = self.live();
        if !cx.is_connected(OutPort::OUT) {
            for (_, session) in live {
                cx.reply(Value::list([session, payload.clone()])).await?;
            }
            return Ok(());
        }
        let targets = cx.targets(OutPort::OUT).to_vec();
        let replies = futures::future::join_all(live.into_iter().map(|(owner, session)| {
            let targets = &targets;
            let pair = Value::list([session, payload.clone()]);
            async move {
                let child = owner.fork();
                let reply = call_targets(targets, &child, pair).await;
                child.exit(reply.as_ref().err().cloned());
                reply
            }
        }))
        .await;
        for v in join(replies)? {
            cx.reply(v).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "session_tests.rs"]
mod tests;
