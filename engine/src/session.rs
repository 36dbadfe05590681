//! Sessions: one task per (node, process). A session reads the process's lanes into the node in order,
//! calls the node's handlers one at a time, and composes each input's reply from what the handler
//! emitted (see `compose.rs`) while the next inputs are already being handled, so a chain pipelines.
//! When every input lane has ended and every reply is sent, the session ends its output lanes and
//! leaves. A panic fails the session's process work with an error reply; cancellation of the process
//! stops the session at its next await, and its lanes tell both neighbours.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;

use crate::compose::{Entry, Part};
use crate::error::{Error, ErrorKind, Result};
use crate::lane::{LaneReader, LaneWriter};
use crate::node::{Input, Node, OutPort};
use crate::packet::{Origin, Packet};
use crate::process::Process;
use crate::slot::{Attach, NodeRuntime, NodeSlot, SessionGuard};
use crate::value::Value;

/// What a slot hands a node to start a session.
pub struct SessionStart {
    pub(crate) slot: Arc<NodeSlot>,
    pub(crate) runtime: Arc<NodeRuntime>,
    pub(crate) generation: u64,
    pub(crate) first: LaneReader,
    pub(crate) attach: Arc<Attach>,
}

pub(crate) struct InLane {
    /// `None` for the lane that collects what `on_eos`/`on_finish` emit: no one waits for its replies.
    pub(crate) reader: Option<LaneReader>,
    pub(crate) port: usize,
    pub(crate) ended: bool,
    pub(crate) entries: VecDeque<Entry>,
    /// Packets taken from the lane in one lock, not yet handled.
    pub(crate) inbox: VecDeque<Packet>,
    /// Reply frames composed, sent in one lock at the end of a pass.
    pub(crate) outbox: Vec<crate::lane::Frame>,
}

pub(crate) struct OutLane {
    pub(crate) writer: LaneWriter,
    /// Ids of the parts whose replies are still to come on this lane, in send order.
    pub(crate) order: VecDeque<u64>,
    /// Reply frames taken from the lane in one lock, not yet composed.
    pub(crate) frames: VecDeque<crate::lane::Frame>,
}

impl OutLane {
    /// The next reply frame: Ready(None) when none is owed.
    pub(crate) fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<crate::lane::Frame>> {
        if let Some(f) = self.frames.pop_front() {
            return Poll::Ready(Some(f));
        }
        match self.writer.poll_frames(cx, &mut self.frames) {
            Poll::Ready(true) => Poll::Ready(self.frames.pop_front()),
            Poll::Ready(false) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A node's view of one process: what it reads from and emits to.
pub struct Cx {
    pub(crate) process: Arc<Process>,
    pub(crate) runtime: Arc<NodeRuntime>,
    pub(crate) ins: Vec<InLane>,
    pub(crate) outs: Vec<OutLane>,
    /// `out_map[port][target]` is the index of that link's lane in `outs`, once opened.
    out_map: Vec<Vec<Option<usize>>>,
    /// The in lane whose last entry the handler is producing, or the detached lane.
    current: usize,
    detached: Option<usize>,
    origin: Option<Origin>,
    emitted: u32,
    next_part: u64,
    open_per_port: Vec<usize>,
    cursor: usize,
}

impl Cx {
    fn new(process: Arc<Process>, runtime: Arc<NodeRuntime>) -> Self {
        let ports = runtime.outs.len() + 1;
        Cx {
            process,
            runtime,
            ins: Vec::new(),
            outs: Vec::new(),
            out_map: vec![Vec::new(); ports],
            current: 0,
            detached: None,
            origin: None,
            emitted: 0,
            next_part: 0,
            open_per_port: Vec::new(),
            cursor: 0,
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

    /// Records a warning on the process.
    pub fn warn(&self, message: impl Into<String>) {
        self.process
            .warn(format!("node \"{}\": {}", self.runtime.name(), message.into()));
    }

    fn port_index(&self, port: OutPort) -> usize {
        match port {
            OutPort::Out(i) => i + 1,
            OutPort::Error => 0,
        }
    }

    /// Answers the input being handled with `value` directly, whatever `out` is connected to (a router
    /// answering 404 itself). The value joins the reply in order with what is emitted.
    pub async fn reply(&mut self, value: Value) -> Result<()> {
        self.push_part(Part::Local(value));
        poll_fn(|cx| {
            self.compose(cx);
            Poll::Ready(())
        })
        .await;
        Ok(())
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
        let runtime = self.runtime.clone();
        let targets = runtime.targets(port);
        if targets.is_empty() {
            let part = match port {
                OutPort::Error => Part::Fail(match packet.value {
                    Value::Error(e) => e,
                    other => Error::node(other.to_string()),
                }),
                OutPort::Out(_) => Part::Local(packet.value),
            };
            self.push_part(part);
            // Send it on now: a consumer sees each packet as soon as it is written.
            poll_fn(|cx| {
                self.compose(cx);
                Poll::Ready(())
            })
            .await;
            return Ok(());
        }
        let id = self.next_part;
        self.next_part += 1;
        let pi = self.port_index(port);
        if targets.len() == 1 {
            // One link: no join, nothing to allocate.
            let oi = match self.out_lane(pi, 0, &targets[0]) {
                Ok(oi) => oi,
                Err(e) => {
                    self.push_part(Part::Fail(e.clone()));
                    return Err(e);
                }
            };
            let sent = self.send(oi, packet).await;
            return match sent {
                Ok(()) => {
                    self.outs[oi].order.push_back(id);
                    self.push_part(Part::One { id, lane: oi });
                    Ok(())
                }
                Err(e) => {
                    self.push_part(Part::Fail(e.clone()));
                    Err(e)
                }
            };
        }
        let mut lanes = Vec::with_capacity(targets.len());
        let mut failure = None;
        for (ti, target) in targets.iter().enumerate() {
            let oi = match self.out_lane(pi, ti, target) {
                Ok(oi) => oi,
                Err(e) => {
                    failure = Some(e);
                    continue;
                }
            };
            match self.send(oi, packet.clone()).await {
                Ok(()) => {
                    self.outs[oi].order.push_back(id);
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
        self.push_part(Part::remote(id, lanes, failure));
        result
    }

    /// The index in `outs` of link `ti` of port index `pi`, opening its lane on first use.
    fn out_lane(&mut self, pi: usize, ti: usize, target: &crate::slot::Target) -> Result<usize> {
        if let Some(oi) = self.out_map[pi].get(ti).copied().flatten() {
            return Ok(oi);
        }
        let writer = target.slot.open(&self.process, target.port)?;
        self.outs.push(OutLane {
            writer,
            order: VecDeque::new(),
            frames: VecDeque::new(),
        });
        let oi = self.outs.len() - 1;
        let row = &mut self.out_map[pi];
        if row.len() <= ti {
            row.resize(ti + 1, None);
        }
        row[ti] = Some(oi);
        Ok(oi)
    }

    /// Sends on out lane `oi`, composing replies while it waits for credit.
    async fn send(&mut self, oi: usize, packet: Packet) -> Result<()> {
        poll_fn(|cx| {
            self.compose(cx);
            self.outs[oi].writer.poll_reserve(cx)
        })
        .await?;
        self.outs[oi].writer.push(packet)
    }

    fn push_part(&mut self, part: Part) {
        let current = self.current;
        match self.ins[current].entries.back_mut() {
            Some(entry) if !entry.done => entry.parts.push_back(part),
            _ => {
                let mut entry = Entry::new();
                entry.parts.push_back(part);
                entry.done = true;
                self.ins[current].entries.push_back(entry);
            }
        }
    }

    fn attach(&mut self, reader: LaneReader) {
        let port = reader.port();
        if self.open_per_port.len() <= port {
            self.open_per_port.resize(port + 1, 0);
        }
        self.open_per_port[port] += 1;
        self.ins.push(InLane {
            reader: Some(reader),
            port,
            ended: false,
            entries: VecDeque::new(),
            inbox: VecDeque::new(),
            outbox: Vec::new(),
        });
    }

    fn detached_lane(&mut self) -> usize {
        match self.detached {
            Some(i) => i,
            None => {
                self.ins.push(InLane {
                    reader: None,
                    port: usize::MAX,
                    ended: true,
                    entries: VecDeque::new(),
                    inbox: VecDeque::new(),
                    outbox: Vec::new(),
                });
                self.detached = Some(self.ins.len() - 1);
                self.ins.len() - 1
            }
        }
    }

    /// Next thing to do: a packet, a port that ended, or the end of all input.
    fn poll_next(&mut self, cx: &mut Context<'_>, attach: &Attach) -> Poll<Next> {
        {
            let mut a = attach.inner.lock();
            let lanes: Vec<_> = a.lanes.drain(..).collect();
            if !a.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                a.waker = Some(cx.waker().clone());
            }
            drop(a);
            for r in lanes {
                self.attach(r);
            }
        }
        self.compose(cx);
        let n = self.ins.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let lane = &mut self.ins[i];
            if lane.ended {
                continue;
            }
            if let Some(packet) = lane.inbox.pop_front() {
                self.cursor = i;
                return Poll::Ready(Next::Packet(i, packet));
            }
            let Some(reader) = lane.reader.as_mut() else {
                continue;
            };
            match reader.poll_recv_all(cx, &mut lane.inbox) {
                Poll::Ready(true) => {
                    if let Some(packet) = lane.inbox.pop_front() {
                        self.cursor = i + 1;
                        return Poll::Ready(Next::Packet(i, packet));
                    }
                }
                Poll::Ready(false) => {
                    lane.ended = true;
                    let port = lane.port;
                    self.open_per_port[port] -= 1;
                    if self.open_per_port[port] == 0 {
                        return Poll::Ready(Next::PortEnded(port));
                    }
                }
                Poll::Pending => {}
            }
        }
        if self.ins.iter().all(|l| l.ended) {
            Poll::Ready(Next::AllEnded)
        } else {
            Poll::Pending
        }
    }

    fn begin(&mut self, lane: usize, origin: Option<Origin>) {
        self.current = lane;
        self.origin = origin;
        self.emitted = 0;
        self.ins[lane].entries.push_back(Entry::new());
    }

    fn end(&mut self, result: Result<()>) -> Option<Error> {
        let mut panicked = None;
        if let Err(e) = result {
            if e.kind() == ErrorKind::Panic {
                panicked = Some(e.clone());
            }
            self.push_part(Part::Fail(e));
        }
        if let Some(entry) = self.ins[self.current].entries.back_mut() {
            entry.done = true;
        }
        panicked
    }

    /// Routes a handler error to `error` when it is connected, else keeps it as the reply.
    async fn route_error(&mut self, result: Result<()>) -> Result<()> {
        match result {
            Err(e) if e.kind() != ErrorKind::Panic && self.is_connected(OutPort::Error) => {
                self.emit(OutPort::Error, Value::Error(e)).await
            }
            other => other,
        }
    }

    fn pending_replies(&self) -> bool {
        self.ins.iter().any(|l| !l.entries.is_empty())
    }

    /// Forgets ended lanes and closed outputs, for a session that goes on with late lanes.
    fn reset(&mut self) {
        self.ins.clear();
        self.outs.clear();
        for row in &mut self.out_map {
            row.clear();
        }
        self.detached = None;
        self.open_per_port.iter_mut().for_each(|n| *n = 0);
        self.cursor = 0;
    }

    /// Answers everything still owed with `err` (the session is giving up).
    fn fail_all(&mut self, err: &Error) {
        for lane in &mut self.ins {
            if let Some(r) = lane.reader.as_mut() {
                r.fail(err.clone());
            }
        }
    }
}

enum Next {
    Packet(usize, Packet),
    PortEnded(usize),
    AllEnded,
}

fn panic_error(node: &str, payload: Box<dyn std::any::Any + Send>) -> Error {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string());
    Error::new(ErrorKind::Panic, format!("node \"{node}\" panicked: {msg}"))
}

async fn guarded<F: std::future::Future<Output = Result<()>>>(node: &str, fut: F) -> Result<()> {
    match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(r) => r,
        Err(payload) => Err(panic_error(node, payload)),
    }
}

/// The session task.
pub(crate) async fn run<N: Node>(node: Arc<N>, start: SessionStart) {
    let _guard = SessionGuard::new();
    let SessionStart {
        slot,
        runtime,
        generation,
        first,
        attach,
    } = start;
    let process = first.process().clone();
    let pid = process.id();
    let mut cx = Cx::new(process.clone(), runtime);
    cx.attach(first);
    let name: Arc<str> = cx.runtime.name.clone();
    let mut state = N::State::default();
    loop {
        let outcome = tokio::select! {
            biased;
            _ = process.done() => Err(process.ended_error()),
            outcome = drive(&*node, &mut state, &mut cx, &attach, &name) => outcome,
        };
        if let Err(err) = outcome {
            cx.fail_all(&err);
            break;
        }
        let late = slot.finish_session(generation, pid, &attach);
        if late.is_empty() {
            return;
        }
        // More of this process arrived after the outputs ended: go on with fresh output lanes.
        cx.reset();
        for r in late {
            cx.attach(r);
        }
    }
    // Anything attached meanwhile is answered with the error by its reader's drop.
    drop(slot.finish_session(generation, pid, &attach));
}

/// Runs the node until all input has ended and every reply is sent. An `Err` is a panic.
async fn drive<N: Node>(
    node: &N,
    state: &mut N::State,
    cx: &mut Cx,
    attach: &Attach,
    name: &str,
) -> Result<()> {
    loop {
        match poll_fn(|c| cx.poll_next(c, attach)).await {
            Next::Packet(lane, packet) => {
                cx.begin(lane, Some(packet.origin.clone()));
                let port = cx.ins[lane].port;
                let result = guarded(name, node.on_packet(state, cx, Input { port, packet })).await;
                let result = cx.route_error(result).await;
                if let Some(panic) = cx.end(result) {
                    poll_fn(|c| {
                        cx.compose(c);
                        Poll::Ready(())
                    })
                    .await;
                    return Err(panic);
                }
            }
            Next::PortEnded(port) => {
                let lane = cx.detached_lane();
                cx.begin(lane, None);
                let result = guarded(name, node.on_eos(state, cx, port)).await;
                if let Err(e) = &result {
                    cx.warn(format!("at end of port in[{port}]: {e}"));
                }
                if let Some(panic) = cx.end(result) {
                    return Err(panic);
                }
            }
            Next::AllEnded => {
                let lane = cx.detached_lane();
                cx.begin(lane, None);
                let result = guarded(name, node.on_finish(state, cx)).await;
                if let Err(e) = &result {
                    cx.warn(format!("at end of input: {e}"));
                }
                if let Some(panic) = cx.end(result) {
                    return Err(panic);
                }
                for out in &mut cx.outs {
                    out.writer.close();
                }
                poll_fn(|c| {
                    cx.compose(c);
                    if cx.pending_replies() {
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                })
                .await;
                return Ok(());
            }
        }
    }
}
