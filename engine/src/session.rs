//! Sessions: one task per (node, process). A session reads the process's lanes into the node in order,
//! calls the node's handlers one at a time, and composes each input's reply from what the handler
//! emitted (see `compose.rs`) while the next inputs are already being handled, so a chain pipelines.
//! When every input lane has ended and every reply is sent, the session ends its output lanes and
//! leaves. A panic fails the session's process work with an error reply; cancellation of the process
//! stops the session at its next await, and its lanes tell both neighbours.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;

use crate::compose::{Entry, Part};
use crate::error::{Error, ErrorKind, Result};
use crate::lane::{LaneReader, LaneWriter};
use crate::node::{Input, MapNow, Node, OutPort};
use crate::packet::{Origin, Packet};
use crate::process::Process;
use crate::slot::{Attach, Finish, NodeRuntime, NodeSlot, SessionGuard, Target};
use crate::value::Value;
use crate::wake::Wake;

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
    pub(crate) outbox: VecDeque<crate::lane::Frame>,
}

pub(crate) struct OutLane {
    pub(crate) writer: LaneWriter,
    /// Ids of the parts whose replies are still to come on this lane, in send order.
    pub(crate) order: VecDeque<u64>,
    /// Reply frames taken from the lane in one lock, not yet composed.
    pub(crate) frames: VecDeque<crate::lane::Frame>,
    /// The edge's packet counter when the process is observed.
    counter: Option<Arc<AtomicU64>>,
}

impl OutLane {
    fn count(&self) {
        if let Some(c) = &self.counter {
            c.fetch_add(1, AtomicOrdering::Relaxed);
        }
    }
}

impl OutLane {
    /// The next reply frame: Ready(None) when none is owed, Pending when none has arrived (the
    /// session is woken through its [`Wake`] when one does).
    pub(crate) fn take_frame(&mut self) -> Poll<Option<crate::lane::Frame>> {
        if let Some(f) = self.frames.pop_front() {
            return Poll::Ready(Some(f));
        }
        match self.writer.take_frames(&mut self.frames) {
            Some(true) => Poll::Ready(self.frames.pop_front()),
            Some(false) => Poll::Ready(None),
            None => Poll::Pending,
        }
    }
}

/// The lanes of a session and the replies being composed. Shared (one task, an uncontended lock)
/// between the handler, which emits through [`Cx`], and the session loop, which keeps composing
/// replies while the handler waits on something else, so every element goes on at once.
pub(crate) struct Core {
    pub(crate) ins: Vec<InLane>,
    pub(crate) outs: Vec<OutLane>,
    /// `out_map[port][target]` is the index of that link's lane in `outs`, once opened.
    out_map: Vec<Vec<Option<usize>>>,
    /// The in lane whose last entry the handler is producing, or the detached lane.
    current: usize,
    detached: Option<usize>,
    next_part: u64,
    open_per_port: Vec<usize>,
    cursor: usize,
    /// Buffers of lanes of earlier processes, cleared, kept to spare the allocations of the next.
    spare_in: Vec<InBuffers>,
    spare_out: Vec<OutBuffers>,
    /// Packets handled since the replies were last composed (see [`BATCH`]).
    burst: u32,
    /// Lanes taken from the session's [`Attach`], a buffer kept between looks.
    arrivals: Vec<LaneReader>,
    /// The handler asked to keep its input's reply open ([`Cx::hold_reply`]).
    hold: bool,
    /// The in lane whose last entry is held open: it ends when the next input is handled, or takes
    /// what the end-of-input handlers emit and ends after them.
    held: Option<usize>,
    /// The session's wake-up, notified by its out lanes and its [`Attach`].
    pub(crate) wake: Arc<Wake>,
    /// The waker last registered with `wake`.
    waker: Option<std::task::Waker>,
    /// Parts or ends were added since the last composition: compose even if no lane changed.
    pub(crate) dirty: bool,
    /// Some out lane holds deferred packets: they go out when the session next composes.
    pub(crate) unflushed: bool,
    /// The node has an `on_eos` of its own ([`Node::ON_EOS`]): a port that ends is reported.
    eos: bool,
}

type InBuffers = (VecDeque<Entry>, VecDeque<Packet>, VecDeque<crate::lane::Frame>);
type OutBuffers = (VecDeque<u64>, VecDeque<crate::lane::Frame>);

/// `Core::current` while an end-of-input handler has not emitted yet (its entry is not made).
const UNBEGUN: usize = usize::MAX;

/// At most this many packets are handled in a row before the replies are composed: a link's default
/// credit, so a writer at its bound gets its credit back in one composition. In a chain of
/// pass-through nodes streaming on 2 workers, 64 gave 445-465K packets/s where 16 gave 370-390K.
const BATCH: u32 = 64;

/// How many spare lane buffers a session keeps.
const SPARE: usize = 8;

/// A node's view of one process: what it reads from and emits to.
pub struct Cx {
    process: Arc<Process>,
    runtime: Arc<NodeRuntime>,
    core: Arc<Mutex<Core>>,
    origin: Option<Origin>,
    emitted: u32,
}

fn port_index(port: OutPort) -> usize {
    match port {
        OutPort::Out(i) => i + 1,
        OutPort::Error => 0,
    }
}

impl Core {
    fn new(ports: usize, wake: Arc<Wake>) -> Self {
        Core {
            wake,
            waker: None,
            dirty: true,
            unflushed: false,
            ins: Vec::new(),
            outs: Vec::new(),
            out_map: vec![Vec::new(); ports],
            current: 0,
            detached: None,
            next_part: 0,
            open_per_port: Vec::new(),
            cursor: 0,
            hold: false,
            held: None,
            spare_in: Vec::new(),
            spare_out: Vec::new(),
            arrivals: Vec::new(),
            burst: 0,
            eos: true,
        }
    }

    fn in_lane(&mut self, reader: Option<LaneReader>, port: usize) -> InLane {
        let (entries, inbox, outbox) = self.spare_in.pop().unwrap_or_default();
        InLane {
            ended: reader.is_none(),
            reader,
            port,
            entries,
            inbox,
            outbox,
        }
    }

    /// Registers the session task's waker: called at each point where the session task itself (not
    /// a future inside a handler) may wait.
    fn register(&mut self, cx: &Context<'_>) {
        self.wake.register(&mut self.waker, cx.waker());
    }

    fn push_part(&mut self, part: Part) {
        self.dirty = true;
        let current = self.current_lane();
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

    /// The index in `outs` of link `ti` of port index `pi`, opening its lane on first use.
    /// `from` names the edge (node and port) for an observer.
    fn out_lane(
        &mut self,
        process: &Arc<Process>,
        from: (&str, OutPort),
        ti: usize,
        target: &Target,
    ) -> Result<usize> {
        let pi = port_index(from.1);
        if let Some(oi) = self.out_map[pi].get(ti).copied().flatten() {
            return Ok(oi);
        }
        let mut writer = target.slot.open(process, target.port)?;
        writer.set_wake(self.wake.clone());
        let (order, frames) = self.spare_out.pop().unwrap_or_default();
        let counter = process
            .observer()
            .and_then(|o| o.edge(from.0, from.1, target.slot.name(), target.port));
        self.outs.push(OutLane {
            writer,
            order,
            frames,
            counter,
        });
        let oi = self.outs.len() - 1;
        let row = &mut self.out_map[pi];
        if row.len() <= ti {
            row.resize(ti + 1, None);
        }
        row[ti] = Some(oi);
        Ok(oi)
    }

    /// Emits what [`Node::map_now`] made of an input on `out`, in the lock the session holds, when
    /// that needs no wait: `out` unconnected (the value joins the reply) or one link whose credit is
    /// known to be free (the packet is deferred, see `LaneWriter::defer`). Hands the packet back
    /// otherwise, for [`Cx::emit_packet`] to send (it waits for credit, joins several links, and
    /// reports a lane that cannot open).
    fn emit_now(
        &mut self,
        process: &Arc<Process>,
        runtime: &NodeRuntime,
        packet: Packet,
    ) -> Result<(), Packet> {
        if self.reply_full() {
            return Err(packet);
        }
        let targets = runtime.targets(OutPort::OUT);
        match targets {
            [] => {
                if let Some(o) = process.observer() {
                    o.output(runtime.name(), OutPort::OUT, &packet.value);
                }
                self.push_part(Part::Local(packet.value));
                Ok(())
            }
            [target] => {
                let Ok(oi) = self.out_lane(process, (runtime.name(), OutPort::OUT), 0, target) else {
                    return Err(packet);
                };
                self.outs[oi].writer.defer(packet)?;
                self.unflushed = true;
                self.sent_on(oi);
                Ok(())
            }
            _ => Err(packet),
        }
    }

    /// The reply being made fills its lane: the frames its writer has not taken yet reach
    /// `lane::reply_room`. No lock.
    fn reply_full(&self) -> bool {
        self.ins
            .get(self.current)
            .and_then(|l| l.reader.as_ref())
            .is_some_and(LaneReader::reply_full)
    }

    /// Ready when the reply being made has room in its lane for more frames; otherwise the handler
    /// waits for the writer to take some (a reply stream read slowly holds back what feeds it).
    /// Replies are composed meanwhile. The lane that collects what the end-of-input handlers emit
    /// has no reader and always has room.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.reply_full() {
            return Poll::Ready(());
        }
        match self.ins.get_mut(self.current).and_then(|l| l.reader.as_mut()) {
            Some(reader) => reader.poll_room(cx),
            None => Poll::Ready(()),
        }
    }

    /// A packet went out on out lane `oi`: its reply joins the current input's.
    fn sent_on(&mut self, oi: usize) {
        self.outs[oi].count();
        let id = self.next_part;
        self.next_part += 1;
        self.outs[oi].order.push_back(id);
        self.push_part(Part::One { id, lane: oi });
    }

    fn attach(&mut self, reader: LaneReader) {
        let port = reader.port();
        if self.open_per_port.len() <= port {
            self.open_per_port.resize(port + 1, 0);
        }
        self.open_per_port[port] += 1;
        let lane = self.in_lane(Some(reader), port);
        self.ins.push(lane);
    }

    fn detached_lane(&mut self) -> usize {
        match self.detached {
            Some(i) => i,
            None => {
                let lane = self.in_lane(None, usize::MAX);
                self.ins.push(lane);
                self.detached = Some(self.ins.len() - 1);
                self.ins.len() - 1
            }
        }
    }

    /// Next thing to do: a packet, a port that ended, or the end of all input.
    fn poll_next(&mut self, process: &Process, cx: &mut Context<'_>, attach: &Attach) -> Poll<Next> {
        self.register(cx);
        // Replies are composed once per burst of up to [`BATCH`] packets, not after each: one look at
        // the out lanes and one reply lock upstream serve many. A packet already taken from a lane
        // needs no other look at all. What arrives meanwhile stays flagged (in the `Wake`, or as
        // `dirty`) for the composition after the burst, or for a handler that waits, which composes.
        if self.burst < BATCH {
            if let Some(lane) = self.ins.get_mut(self.cursor) {
                if let Some(packet) = lane.inbox.pop_front() {
                    self.burst += 1;
                    let port = lane.port;
                    return Poll::Ready(Next::Packet(self.cursor, port, packet));
                }
            }
        }
        // Taken before the lanes are looked at, so whatever arrives from now on wakes the task again.
        if self.wake.take() {
            self.dirty = true;
        }
        if attach.try_take(&mut self.arrivals) {
            let mut arrivals = std::mem::take(&mut self.arrivals);
            for r in arrivals.drain(..) {
                self.attach(r);
            }
            self.arrivals = arrivals;
        }
        let next = self.next_input(cx);
        match next {
            Poll::Ready(Next::Packet(..)) if self.burst < BATCH => self.burst += 1,
            Poll::Ready(Next::Packet(..)) | Poll::Pending => {
                self.burst = 0;
                self.compose_if(process, false);
            }
            // The end-of-input handlers run next; the session composes as they wait and after them.
            Poll::Ready(_) => self.burst = 0,
        }
        next
    }

    /// Ends the last handler (`ended`: its result, and whether a held reply stays open), finds the
    /// next input and begins it: one lock for the three.
    fn step(
        &mut self,
        process: &Process,
        cx: &mut Context<'_>,
        attach: &Attach,
        ended: &mut Option<(Result<()>, bool)>,
    ) -> Poll<Next> {
        if let Some((result, keep)) = ended.take() {
            if let Some(panic) = self.end_with(result, keep) {
                self.compose(process);
                return Poll::Ready(Next::Panicked(panic));
            }
        }
        let next = self.poll_next(process, cx, attach);
        match &next {
            Poll::Ready(Next::Packet(lane, ..)) => self.begin(*lane),
            Poll::Ready(Next::PortEnded(_) | Next::AllEnded) => self.begin_end_of_input(),
            _ => {}
        }
        next
    }

    /// The next packet from the in lanes (round robin), a port that ended, or the end of all input.
    fn next_input(&mut self, cx: &mut Context<'_>) -> Poll<Next> {
        let n = self.ins.len();
        for k in 0..n {
            let i = (self.cursor + k) % n;
            let lane = &mut self.ins[i];
            if lane.ended {
                continue;
            }
            if let Some(packet) = lane.inbox.pop_front() {
                self.cursor = i;
                return Poll::Ready(Next::Packet(i, lane.port, packet));
            }
            let Some(reader) = lane.reader.as_mut() else {
                continue;
            };
            match reader.poll_recv_all(cx, &mut lane.inbox) {
                Poll::Ready(true) => {
                    if let Some(packet) = lane.inbox.pop_front() {
                        self.cursor = i + 1;
                        return Poll::Ready(Next::Packet(i, lane.port, packet));
                    }
                }
                Poll::Ready(false) => {
                    lane.ended = true;
                    let port = lane.port;
                    self.open_per_port[port] -= 1;
                    if self.open_per_port[port] == 0 && self.eos {
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

    fn begin(&mut self, lane: usize) {
        self.release();
        self.hold = false;
        self.current = lane;
        self.ins[lane].entries.push_back(Entry::new());
    }

    /// Begins an end-of-input handler: into the held reply when there is one, else into an entry of
    /// the detached lane, made only once the handler emits or holds (most emit nothing).
    fn begin_end_of_input(&mut self) {
        self.hold = false;
        match self.held {
            Some(lane) => self.current = lane,
            None => self.current = UNBEGUN,
        }
    }

    /// The in lane whose last entry the handler is producing, making the end-of-input entry now if
    /// it was put off.
    fn current_lane(&mut self) -> usize {
        if self.current == UNBEGUN {
            let lane = self.detached_lane();
            self.ins[lane].entries.push_back(Entry::new());
            self.current = lane;
        }
        self.current
    }

    /// Ends the reply held open, if any.
    fn release(&mut self) {
        if let Some(lane) = self.held.take() {
            self.dirty = true;
            if let Some(entry) = self.ins[lane].entries.back_mut() {
                entry.done = true;
            }
        }
    }

    /// Ends the handler's part of the current entry; `keep` leaves a held entry open.
    fn end(&mut self, result: Result<()>) -> Option<Error> {
        self.end_with(result, false)
    }

    fn end_with(&mut self, result: Result<()>, keep: bool) -> Option<Error> {
        if self.current == UNBEGUN {
            if result.is_ok() && !self.hold {
                // An end-of-input handler that emitted nothing and holds nothing: no entry to end.
                return None;
            }
            self.current_lane();
        }
        let mut panicked = None;
        let failed = result.is_err();
        if let Err(e) = result {
            if e.kind() == ErrorKind::Panic {
                panicked = Some(e.clone());
            }
            self.push_part(Part::Fail(e));
        }
        if std::mem::take(&mut self.hold) && !failed && self.held.is_none() {
            self.held = Some(self.current);
            return panicked;
        }
        if keep && !failed && self.held == Some(self.current) {
            return panicked;
        }
        if self.held == Some(self.current) {
            self.held = None;
        }
        self.dirty = true;
        if let Some(entry) = self.ins[self.current].entries.back_mut() {
            entry.done = true;
        }
        panicked
    }

    fn pending_replies(&self) -> bool {
        self.ins.iter().any(|l| !l.entries.is_empty())
    }

    /// Forgets ended lanes and closed outputs, for a session that goes on with late lanes.
    fn reset(&mut self) {
        for lane in self.ins.drain(..) {
            let InLane {
                mut reader,
                ended,
                mut entries,
                mut inbox,
                mut outbox,
                ..
            } = lane;
            // Read to its end with every reply sent: nothing is owed, the drop need not look.
            if let Some(r) = reader.as_mut().filter(|_| ended && entries.is_empty()) {
                r.settle();
            }
            drop(reader);
            if self.spare_in.len() < SPARE {
                entries.clear();
                inbox.clear();
                outbox.clear();
                self.spare_in.push((entries, inbox, outbox));
            }
        }
        for lane in self.outs.drain(..) {
            let OutLane {
                mut order,
                mut frames,
                ..
            } = lane;
            if self.spare_out.len() < SPARE {
                order.clear();
                frames.clear();
                self.spare_out.push((order, frames));
            }
        }
        for row in &mut self.out_map {
            row.clear();
        }
        self.detached = None;
        self.open_per_port.iter_mut().for_each(|n| *n = 0);
        self.cursor = 0;
        self.burst = 0;
        self.hold = false;
        self.held = None;
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

impl Cx {
    fn new(process: Arc<Process>, runtime: Arc<NodeRuntime>, wake: Arc<Wake>) -> Self {
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
    async fn route_error(&mut self, result: Result<()>) -> Result<()> {
        match result {
            Err(e) if e.kind() != ErrorKind::Panic && self.is_connected(OutPort::Error) => {
                self.emit(OutPort::Error, Value::Error(e)).await
            }
            other => other,
        }
    }
}

enum Next {
    /// A packet from in lane `.0`, which reads in port `.1`.
    Packet(usize, usize, Packet),
    /// What [`Node::map_now`] made of an input, to emit on `out` with a wait.
    Emit(Packet),
    /// [`Node::map_now`] failed an input (with its origin), or panicked: the handler's result.
    Failed(Error, Option<Origin>),
    /// The last handler panicked (its error).
    Panicked(Error),
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

/// The session task.
pub(crate) async fn run<N: Node>(node: Arc<N>, start: SessionStart) {
    let SessionStart {
        slot,
        runtime,
        generation,
        first,
        attach,
    } = start;
    let mut cx = Cx::new(first.process().clone(), runtime, attach.wake.clone());
    let core = cx.core.clone();
    core.lock().eos = N::ON_EOS;
    let name: Arc<str> = cx.runtime.name.clone();
    // Lanes handed to the parked session, and the waker it waits with: kept from process to process.
    let mut handed = Vec::new();
    let mut waker = None;
    let mut process = first.process().clone();
    core.lock().attach(first);
    loop {
        // Done with that process, the session waits a little for the next one (parked by
        // `finish_session`) instead of ending the task.
        if !serve(&*node, &slot, generation, &attach, &mut cx, &core, &name, process).await {
            return;
        }
        // A process handed over already needs no timer (the common case under load).
        if !attach.try_take(&mut handed) {
            // Waits until handed a process, or closed (the reaper, a swap or an unload).
            let open = poll_fn(|c| {
                attach.wake.register(&mut waker, c.waker());
                attach.wake.take();
                if attach.try_take(&mut handed) {
                    Poll::Ready(true)
                } else if attach.is_closed() {
                    // Closed under the slot lock after leaving the idle list: no lane can follow.
                    Poll::Ready(false)
                } else {
                    Poll::Pending
                }
            })
            .await;
            if !open {
                return;
            }
        }
        // `serve` left the core reset: the lanes of the next process go in with one lock.
        let Some(next) = handed.first() else { return };
        process = next.process().clone();
        let mut c = core.lock();
        for r in handed.drain(..) {
            c.attach(r);
        }
    }
}

/// Serves one process, whose first lanes the caller has attached, until all its input has ended and
/// every reply is sent; leaves the core reset. True when the session is parked for the next process,
/// false when it should leave.
#[allow(clippy::too_many_arguments)]
async fn serve<N: Node>(
    node: &N,
    slot: &Arc<NodeSlot>,
    generation: u64,
    attach: &Arc<Attach>,
    cx: &mut Cx,
    core: &Arc<Mutex<Core>>,
    name: &str,
    process: Arc<Process>,
) -> bool {
    let _guard = SessionGuard::new();
    let pid = process.id();
    cx.process = process.clone();
    let mut state = N::State::default();
    let observer = process.observer().cloned();
    if let Some(o) = &observer {
        o.node_started(name, &process);
    }
    let (failure, parked) = loop {
        // The process's end wakes the session through its `Wake`; checked before every poll.
        process.watch(&attach.wake);
        let outcome = {
            let mut fut = pin!(drive(node, &mut state, cx, core, attach, name));
            poll_fn(|c| {
                if process.is_done() {
                    return Poll::Ready(Err(process.ended_error()));
                }
                fut.as_mut().poll(c)
            })
            .await
        };
        if let Err(err) = outcome {
            core.lock().fail_all(&err);
            // Anything attached meanwhile is answered with the error by its reader's drop.
            let parked = loop {
                match slot.finish_session(generation, pid, attach) {
                    Finish::Late(late) => drop(late),
                    Finish::Parked => break true,
                    Finish::Leave => break false,
                }
            };
            break (Some(err), parked);
        }
        match slot.finish_session(generation, pid, attach) {
            Finish::Late(late) => {
                // More of this process arrived after the outputs ended: go on with fresh output lanes.
                let mut c = core.lock();
                c.reset();
                for r in late {
                    c.attach(r);
                }
            }
            done => break (None, matches!(done, Finish::Parked)),
        }
    };
    attach.wake.serving.fetch_add(1, AtomicOrdering::Release);
    core.lock().reset();
    if let Some(o) = &observer {
        o.node_finished(name, &process, failure.as_ref());
    }
    parked
}

/// Runs a handler while composing replies whenever it waits, so what it emitted goes on at once. A
/// panic in the handler becomes its error. The handler is pinned where its caller made it: a handler
/// future can be large, and this runs once per packet, so it is never moved.
async fn handle<F: Future<Output = Result<()>>>(
    core: &Mutex<Core>,
    process: &Process,
    name: &str,
    mut fut: Pin<&mut F>,
) -> Result<()> {
    poll_fn(
        |c| match std::panic::catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(c))) {
            Ok(Poll::Ready(r)) => Poll::Ready(r),
            Ok(Poll::Pending) => {
                let mut core = core.lock();
                core.register(c);
                core.compose(process);
                Poll::Pending
            }
            Err(payload) => Poll::Ready(Err(panic_error(name, payload))),
        },
    )
    .await
}

/// A handler's result as its input's entry ends with: an error is reported to the observer and goes
/// to `error` like a handler's emit (while it waits for credit there, replies are composed and what
/// was deferred goes out).
async fn failed(
    cx: &mut Cx,
    core: &Mutex<Core>,
    process: &Process,
    name: &str,
    result: Result<()>,
) -> Result<()> {
    let Err(e) = &result else { return result };
    if let Some(o) = process.observer() {
        o.node_failed(name, process, e);
    }
    handle(core, process, name, pin!(cx.route_error(result))).await
}

/// Runs the node until all input has ended and every reply is sent. An `Err` is a panic.
async fn drive<N: Node>(
    node: &N,
    state: &mut N::State,
    cx: &mut Cx,
    core: &Arc<Mutex<Core>>,
    attach: &Attach,
    name: &str,
) -> Result<()> {
    let process = cx.process.clone();
    // The end of the last handler, made in the same lock as the look for the next input.
    let mut ended: Option<(Result<()>, bool)> = None;
    loop {
        let next = poll_fn(|c| {
            let mut core = core.lock();
            let mut next = core.step(&process, c, attach, &mut ended);
            if N::MAPS_NOW {
                // A burst in this one lock: each input mapped, emitted and ended, then the next.
                while let Poll::Ready(Next::Packet(_, port, packet)) = next {
                    let input = Input { port, packet };
                    let mapped =
                        std::panic::catch_unwind(AssertUnwindSafe(|| node.map_now(state, &process, input)));
                    match mapped {
                        Ok(MapNow::Out(packet)) => {
                            if let Err(packet) = core.emit_now(&process, &cx.runtime, packet) {
                                return Poll::Ready(Next::Emit(packet));
                            }
                        }
                        Ok(MapNow::Fail { error, origin }) => {
                            return Poll::Ready(Next::Failed(error, Some(origin)))
                        }
                        Ok(MapNow::Wait(Input { port, packet })) => {
                            return Poll::Ready(Next::Packet(core.current, port, packet))
                        }
                        Err(payload) => return Poll::Ready(Next::Failed(panic_error(name, payload), None)),
                    }
                    ended = Some((Ok(()), false));
                    next = core.step(&process, c, attach, &mut ended);
                }
            }
            next
        })
        .await;
        match next {
            Next::Emit(packet) => {
                cx.origin = Some(packet.origin.clone());
                cx.emitted = 0;
                let result = handle(core, &process, name, pin!(cx.emit_packet(OutPort::OUT, packet))).await;
                ended = Some((failed(cx, core, &process, name, result).await, false));
            }
            Next::Failed(error, origin) => {
                cx.origin = origin;
                cx.emitted = 0;
                ended = Some((failed(cx, core, &process, name, Err(error)).await, false));
            }
            Next::Packet(_, port, packet) => {
                cx.origin = Some(packet.origin.clone());
                cx.emitted = 0;
                let result = {
                    let fut = pin!(node.on_packet(state, cx, Input { port, packet }));
                    handle(core, &process, name, fut).await
                };
                ended = Some((failed(cx, core, &process, name, result).await, false));
            }
            Next::PortEnded(port) => {
                cx.origin = None;
                cx.emitted = 0;
                let result = handle(core, &process, name, pin!(node.on_eos(state, cx, port))).await;
                if let Err(e) = &result {
                    cx.warn(format!("at end of port in[{port}]: {e}"));
                }
                ended = Some((result, true));
            }
            Next::Panicked(panic) => return Err(panic),
            Next::AllEnded => {
                cx.origin = None;
                cx.emitted = 0;
                let result = handle(core, &process, name, pin!(node.on_finish(state, cx))).await;
                if let Err(e) = &result {
                    cx.warn(format!("at end of input: {e}"));
                }
                // The handler's end and the outputs' close in the first lock of the last wait.
                let mut ended = Some(result);
                return poll_fn(|c| {
                    let mut core = core.lock();
                    if let Some(result) = ended.take() {
                        if let Some(panic) = core.end(result) {
                            return Poll::Ready(Err(panic));
                        }
                        for out in &mut core.outs {
                            out.writer.close();
                        }
                    }
                    core.register(c);
                    core.compose(&process);
                    if core.pending_replies() {
                        Poll::Pending
                    } else {
                        Poll::Ready(Ok(()))
                    }
                })
                .await;
            }
        }
    }
}
