//! [`Cx`]: a node's view of one process in a session, what its handlers read from and emit through
//! (the emits go into the session's [`Core`], see `lanes.rs`).

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use parking_lot::Mutex;

use crate::compose::Part;
use crate::error::{Error, ErrorKind, Result};
use crate::node::OutPort;
use crate::packet::{Origin, Packet};
use crate::process::Process;
use crate::slot::{NodeRuntime, Target};
use crate::value::Value;
use crate::wake::Wake;

use super::lanes::Core;

/// A node's view of one process: what it reads from and emits to.
pub struct Cx {
    pub(super) process: Arc<Process>,
    pub(super) runtime: Arc<NodeRuntime>,
    pub(super) core: Arc<Mutex<Core>>,
    pub(super) origin: Option<Origin>,
    pub(super) emitted: u32,
}

impl Cx {
    pub(super) fn new(process: Arc<Process>, runtime: Arc<NodeRuntime>, wake: Arc<Wake>) -> Self {
        let ports = runtime.outs.len() + 1;
        Cx {
            process,
            runtime,
            core: Arc::new(Mutex::new(Core::new(ports, wake))),
            origin: None,
            emitted: 0,
        }
    }

    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// The node's name in its graph.
    pub fn node_name(&self) -> &str {
        self.runtime.name()
    }

    /// The lineage of the input being handled.
    pub fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }

    /// True when `port` leads somewhere.
    pub fn is_connected(&self, port: OutPort) -> bool {
        !self.runtime.targets(port).is_empty()
    }

    /// Where `port` leads, in link order (empty when unconnected): for a node that calls its targets
    /// itself, to read their replies (`pipe`, `try`, `retry`) or in another process (`cache`,
    /// `session`), with [`crate::Call`] or lanes of its own.
    pub fn targets(&self, port: OutPort) -> &[Target] {
        self.runtime.targets(port)
    }

    /// Ends the reply of the input being handled with `err`, as it is: unlike returning the error
    /// from the handler, it is not routed to `error` (the node has handled it already).
    pub fn fail(&mut self, err: Error) {
        self.push_now(Part::Fail(err));
    }

    /// Keeps the reply to the input being handled open after the handler returns: it ends when the
    /// node handles its next input (as it is then), or, when this was the last input, it takes what
    /// `on_eos` and `on_finish` emit and ends after them. A collecting node (`reduce`) answers its
    /// last input with its result this way. The held input keeps one unit of its link's credit, so a
    /// link with a buffer of one cannot send past it.
    pub fn hold_reply(&mut self) {
        self.core.lock().hold = true;
    }

    /// Records a warning on the process.
    pub fn warn(&self, message: impl Into<String>) {
        self.process
            .warn(format!("node \"{}\": {}", self.runtime.name(), message.into()));
    }

    /// Reports a piece of a streamed result (a token) to whoever watches the process; `done` on the
    /// last. The value is not emitted: a streaming node emits it as well.
    pub fn chunk(&self, content: &Value, done: bool) {
        if let Some(o) = self.process.observer() {
            o.chunk(self.runtime.name(), content, done);
        }
    }

    /// Reports how far the node has got to whoever watches the process.
    pub fn progress(&self, progress: u64, total: u64) {
        if let Some(o) = self.process.observer() {
            o.progress(self.runtime.name(), progress, total);
        }
    }

    /// Adds a part to the reply of the input being handled and sends on what is ready.
    fn push_now(&mut self, part: Part) {
        let mut core = self.core.lock();
        core.push_part(part);
        // A consumer sees each element as soon as it is written.
        core.compose(&self.process);
    }

    /// Answers the input being handled with `value` directly, whatever `out` is connected to (a router
    /// answering 404 itself). The value joins the reply in order with what is emitted.
    pub async fn reply(&mut self, value: Value) -> Result<()> {
        self.push_with_room(Part::Local(value)).await;
        Ok(())
    }

    /// [`Self::push_now`] once the reply's lane has room for more frames (see [`Core::poll_room`]).
    async fn push_with_room(&mut self, part: Part) {
        let process = &self.process;
        let core = &self.core;
        let mut part = Some(part);
        poll_fn(|cx| {
            let mut core = core.lock();
            if core.poll_room(cx).is_pending() {
                return Poll::Pending;
            }
            if let Some(part) = part.take() {
                core.push_part(part);
            }
            // A consumer sees each element as soon as it is written.
            core.compose(process);
            Poll::Ready(())
        })
        .await
    }

    /// Emits a value on `port` with the lineage of the input being handled (a child of it for
    /// streaming nodes). Waits while a link is at its credit bound. With `port` unconnected the value
    /// itself joins the input's reply (on `error`, as an error).
    pub async fn emit(&mut self, port: OutPort, value: Value) -> Result<()> {
        let origin = match &self.origin {
            Some(o) if self.runtime.streams => o.child(self.emitted),
            Some(o) => o.clone(),
            None => Origin::entry(self.process.id(), self.emitted),
        };
        self.emitted += 1;
        self.emit_packet(port, Packet::new(value, origin)).await
    }

    /// Emits a packet with an explicit lineage.
    pub async fn emit_packet(&mut self, port: OutPort, packet: Packet) -> Result<()> {
        let links = self.runtime.targets(port).len();
        if links == 0 {
            let part = match port {
                OutPort::Error => Part::Fail(match packet.value {
                    Value::Error(e) => e,
                    other => Error::node(other.to_string()),
                }),
                OutPort::Out(_) => {
                    if let Some(o) = self.process.observer() {
                        o.output(self.runtime.name(), port, &packet.value);
                    }
                    Part::Local(packet.value)
                }
            };
            self.push_with_room(part).await;
            return Ok(());
        }
        if links == 1 {
            // One link, the common case: one lock per emit, nothing to allocate, and the runtime
            // borrowed, not cloned (its count is shared by every session of the node).
            let runtime = &self.runtime;
            let targets = runtime.targets(port);
            let process = &self.process;
            let core = &self.core;
            let mut packet = Some(packet);
            return poll_fn(|cx| {
                let mut core = core.lock();
                if core.poll_room(cx).is_pending() {
                    return Poll::Pending;
                }
                let oi = match core.out_lane(process, (runtime.name(), port), 0, &targets[0]) {
                    Ok(oi) => oi,
                    Err(e) => {
                        core.push_part(Part::Fail(e.clone()));
                        return Poll::Ready(Err(e));
                    }
                };
                // No composing here: when the push must wait, `handle` composes as the handler
                // waits; otherwise the session composes once per burst (`poll_next`).
                let Some(p) = packet.take() else {
                    return Poll::Ready(Err(Error::new(ErrorKind::Internal, "packet sent twice")));
                };
                // Deferred while credit is known to be free: the burst goes to the consumer in one
                // lock when the session composes (see `LaneWriter::defer`).
                let sent = match core.outs[oi].writer.defer(p) {
                    Ok(()) => {
                        core.unflushed = true;
                        Ok(())
                    }
                    Err(p) => match core.outs[oi].writer.poll_push(cx, p) {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(back)) => {
                            packet = Some(back);
                            return Poll::Pending;
                        }
                        Err(e) => Err(e),
                    },
                };
                Poll::Ready(match sent {
                    Ok(()) => {
                        core.sent_on(oi);
                        Ok(())
                    }
                    Err(e) => {
                        core.push_part(Part::Fail(e.clone()));
                        Err(e)
                    }
                })
            })
            .await;
        }
        poll_fn(|cx| self.core.lock().poll_room(cx)).await;
        let runtime = self.runtime.clone();
        let targets = runtime.targets(port);
        let id = {
            let mut core = self.core.lock();
            core.next_part += 1;
            core.next_part - 1
        };
        let mut lanes = Vec::with_capacity(targets.len());
        let mut failure = None;
        for (ti, target) in targets.iter().enumerate() {
            let opened = self
                .core
                .lock()
                .out_lane(&self.process, (runtime.name(), port), ti, target);
            let oi = match opened {
                Ok(oi) => oi,
                Err(e) => {
                    failure = Some(e);
                    continue;
                }
            };
            match self.send(oi, packet.clone()).await {
                Ok(()) => {
                    self.core.lock().outs[oi].order.push_back(id);
                    lanes.push(oi);
                }
                Err(e) => failure = Some(e),
            }
        }
        // A consumer that is gone stops the producer: the error is in the reply and returned here.
        let result = match &failure {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        };
        self.core.lock().push_part(Part::remote(id, lanes, failure));
        result
    }

    /// Sends on out lane `oi`, composing replies while it waits for credit.
    async fn send(&mut self, oi: usize, packet: Packet) -> Result<()> {
        let process = &self.process;
        let core = &self.core;
        poll_fn(|cx| {
            let mut core = core.lock();
            core.compose(process);
            core.outs[oi].writer.poll_reserve(cx)
        })
        .await?;
        let mut core = self.core.lock();
        core.outs[oi].writer.push(packet)?;
        core.outs[oi].count();
        Ok(())
    }

    /// Routes a handler error to `error` when it is connected, else keeps it as the reply.
    pub(super) async fn route_error(&mut self, result: Result<()>) -> Result<()> {
        match result {
            Err(e) if e.kind() != ErrorKind::Panic && self.is_connected(OutPort::Error) => {
                self.emit(OutPort::Error, Value::Error(e)).await
            }
            other => other,
        }
    }
}
