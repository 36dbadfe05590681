//! A session's state (`Core`): its in lanes with the replies being composed for them, its out lanes,
//! and the step that ends one handler, finds the next input and begins it, in one lock. Shared by
//! the session task (`mod.rs`) and the node's [`super::Cx`]; `compose.rs` moves reply frames.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::compose::{Entry, Part};
use crate::error::{Error, ErrorKind, Result};
use crate::lane::{LaneReader, LaneWriter};
use crate::node::{Input, MapNow, OutPort};
use crate::packet::{Origin, Packet};
use crate::process::Process;
use crate::slot::{Attach, NodeRuntime, Target};
use crate::wake::Wake;

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
    pub(crate) fn count(&self) {
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
    pub(crate) current: usize,
    detached: Option<usize>,
    pub(crate) next_part: u64,
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
    pub(crate) hold: bool,
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
    pub(crate) eos: bool,
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

fn port_index(port: OutPort) -> usize {
    match port {
        OutPort::Out(i) => i + 1,
        OutPort::Error => 0,
    }
}

impl Core {
    pub(crate) fn new(ports: usize, wake: Arc<Wake>) -> Self {
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
    pub(crate) fn register(&mut self, cx: &Context<'_>) {
        self.wake.register(&mut self.waker, cx.waker());
    }

    pub(crate) fn push_part(&mut self, part: Part) {
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
    pub(crate) fn out_lane(
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
    pub(crate) fn emit_now(
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
    pub(crate) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.reply_full() {
            return Poll::Ready(());
        }
        match self.ins.get_mut(self.current).and_then(|l| l.reader.as_mut()) {
            Some(reader) => reader.poll_room(cx),
            None => Poll::Ready(()),
        }
    }

    /// A packet went out on out lane `oi`: its reply joins the current input's.
    pub(crate) fn sent_on(&mut self, oi: usize) {
        self.outs[oi].count();
        let id = self.next_part;
        self.next_part += 1;
        self.outs[oi].order.push_back(id);
        self.push_part(Part::One { id, lane: oi });
    }

    pub(crate) fn attach(&mut self, reader: LaneReader) {
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
    pub(crate) fn step(
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

    /// [`Self::step`] for a node with [`crate::Node::MAPS_NOW`]: a burst in this one lock, each input
    /// mapped (`map`: the node's `map_now`, a panic as its error), emitted and ended, then the next,
    /// until one must wait to be emitted, fails, goes to `on_packet`, or no input is left.
    pub(crate) fn step_mapped(
        &mut self,
        process: &Arc<Process>,
        cx: &mut Context<'_>,
        attach: &Attach,
        ended: &mut Option<(Result<()>, bool)>,
        runtime: &NodeRuntime,
        map: &mut impl FnMut(Input) -> Result<MapNow>,
    ) -> Poll<Next> {
        loop {
            let next = self.step(process, cx, attach, ended);
            let Poll::Ready(Next::Packet(_, port, packet)) = next else {
                return next;
            };
            match map(Input { port, packet }) {
                Ok(MapNow::Out(packet)) => {
                    if let Err(packet) = self.emit_now(process, runtime, packet) {
                        return Poll::Ready(Next::Emit(packet));
                    }
                }
                Ok(MapNow::Fail { error, origin }) => return Poll::Ready(Next::Failed(error, Some(origin))),
                Ok(MapNow::Wait(Input { port, packet })) => {
                    return Poll::Ready(Next::Packet(self.current, port, packet))
                }
                Err(panic) => return Poll::Ready(Next::Failed(panic, None)),
            }
            *ended = Some((Ok(()), false));
        }
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
    pub(crate) fn end(&mut self, result: Result<()>) -> Option<Error> {
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

    pub(crate) fn pending_replies(&self) -> bool {
        self.ins.iter().any(|l| !l.entries.is_empty())
    }

    /// Forgets ended lanes and closed outputs, for a session that goes on with late lanes.
    pub(crate) fn reset(&mut self) {
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
    pub(crate) fn fail_all(&mut self, err: &Error) {
        for lane in &mut self.ins {
            if let Some(r) = lane.reader.as_mut() {
                r.fail(err.clone());
            }
        }
    }
}

pub(crate) enum Next {
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
