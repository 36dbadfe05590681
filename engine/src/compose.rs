//! Reply composition. The reply to one input is the ordered stream of the replies to the packets the
//! node emitted while handling it (or the emitted values themselves when `out` is unconnected), ended
//! when the handler is done and every emitted packet is answered. A packet sent to several links is
//! answered by joining their reply streams element by element: element i is the i-th element of each
//! reply that has one (one → it, several → a list in link order), any error → an error.
//!
//! Replies on an out lane arrive in send order, and parts of several inputs (and several in lanes) can
//! share a lane, so each out lane keeps the ids of the parts it owes, and a part reads a lane only when
//! it is at the front. The oldest unfinished part is always at the front of all its lanes, so
//! composition never waits on itself.

use std::collections::VecDeque;
use std::task::Poll;

use crate::error::{Error, ErrorKind};
use crate::lane::{Frame, LaneReader};
use crate::process::Process;
use crate::session::{Core, InLane, OutLane};
use crate::value::Value;

/// An entry's parts in order; the first is kept inline, so an input that emits once allocates nothing.
#[derive(Default)]
pub(crate) struct Parts {
    first: Option<Part>,
    more: VecDeque<Part>,
}

impl Parts {
    pub(crate) fn push_back(&mut self, part: Part) {
        if self.first.is_none() && self.more.is_empty() {
            self.first = Some(part);
        } else {
            self.more.push_back(part);
        }
    }

    fn front_mut(&mut self) -> Option<&mut Part> {
        match self.first {
            Some(ref mut p) => Some(p),
            None => self.more.front_mut(),
        }
    }

    fn pop_front(&mut self) -> Option<Part> {
        self.first.take().or_else(|| self.more.pop_front())
    }
}

/// The reply to one input, being composed.
pub(crate) struct Entry {
    pub(crate) parts: Parts,
    /// The handler has returned: no more parts will come.
    pub(crate) done: bool,
    failed: bool,
}

impl Entry {
    pub(crate) fn new() -> Self {
        Entry {
            parts: Parts::default(),
            done: false,
            failed: false,
        }
    }
}

pub(crate) struct Slot {
    value: Option<Value>,
    /// The slot's value was its lane's last element.
    last: bool,
    ended: bool,
}

pub(crate) enum Part {
    /// A value that is itself part of the reply (`out` unconnected).
    Local(Value),
    /// An error that ends the reply.
    Fail(Error),
    /// The reply of a packet sent to one link.
    One { id: u64, lane: usize },
    /// The reply of a packet sent to several links, joined element by element (boxed: rare, and
    /// parts stay small to move).
    Remote(Box<Remote>),
}

pub(crate) struct Remote {
    id: u64,
    lanes: Vec<usize>,
    slots: Vec<Slot>,
    failure: Option<Error>,
}

impl Part {
    pub(crate) fn remote(id: u64, lanes: Vec<usize>, failure: Option<Error>) -> Self {
        let slots = if lanes.len() > 1 {
            lanes
                .iter()
                .map(|_| Slot {
                    value: None,
                    last: false,
                    ended: false,
                })
                .collect()
        } else {
            Vec::new()
        };
        Part::Remote(Box::new(Remote {
            id,
            lanes,
            slots,
            failure,
        }))
    }
}

/// Forwards the reply frames of one link.
fn advance_one(id: u64, ol: &mut OutLane, failed: &mut bool, sink: &mut Sink<'_>) -> Progress {
    if ol.order.front() != Some(&id) {
        return Progress::Blocked;
    }
    loop {
        match ol.take_frame() {
            Poll::Ready(Some(Frame::Item(v))) => sink.put(failed, v),
            Poll::Ready(Some(Frame::One(v))) => {
                sink.put(failed, v);
                ol.order.pop_front();
                return Progress::Done;
            }
            Poll::Ready(Some(Frame::End)) => {
                ol.order.pop_front();
                return Progress::Done;
            }
            Poll::Ready(Some(Frame::Err(e))) => {
                sink.fail(failed, e);
                ol.order.pop_front();
                return Progress::Done;
            }
            Poll::Ready(None) => {
                sink.fail(failed, lost(id));
                ol.order.pop_front();
                return Progress::Done;
            }
            Poll::Pending => return Progress::Blocked,
        }
    }
}

/// Where an entry's frames go: gathered, then sent in one lock by `flush`.
struct Sink<'a> {
    reader: &'a mut Option<LaneReader>,
    outbox: &'a mut VecDeque<Frame>,
    process: &'a Process,
}

impl Sink<'_> {
    fn flush(&mut self) {
        if self.outbox.is_empty() {
            return;
        }
        if let Some(r) = self.reader.as_mut() {
            r.reply_queue(self.outbox);
        }
    }

    fn send(&mut self, frame: Frame) {
        match self.reader.as_mut() {
            Some(_) => self.outbox.push_back(frame),
            None => {
                if let Frame::Err(e) = frame {
                    self.process
                        .warn(format!("a packet emitted at end of input failed: {e}"));
                }
            }
        }
    }

    /// Sends an element of a reply unless the reply has `failed`.
    fn put(&mut self, failed: &mut bool, value: Value) {
        if *failed {
            return;
        }
        self.send(Frame::Item(value));
    }

    /// Ends a reply with an error, once.
    fn fail(&mut self, failed: &mut bool, err: Error) {
        if *failed {
            return;
        }
        *failed = true;
        self.send(Frame::Err(err));
    }

    fn finish(&mut self, failed: bool) {
        if failed {
            return;
        }
        // Elements go out as soon as they are composed; an end that finds the last element still
        // unsent (same pass) merges with it into one frame.
        match self.outbox.pop_back() {
            Some(Frame::Item(v)) => self.outbox.push_back(Frame::One(v)),
            Some(other) => {
                self.outbox.push_back(other);
                self.send(Frame::End);
            }
            None => self.send(Frame::End),
        }
    }
}

enum Progress {
    Done,
    Blocked,
}

fn lost(id: u64) -> Error {
    Error::new(ErrorKind::Internal, format!("reply to part {id} was lost"))
}

fn advance(part: &mut Part, failed: &mut bool, outs: &mut [OutLane], sink: &mut Sink<'_>) -> Progress {
    match part {
        Part::Local(v) => {
            sink.put(failed, std::mem::take(v));
            Progress::Done
        }
        Part::Fail(e) => {
            sink.fail(failed, e.clone());
            Progress::Done
        }
        Part::One { id, lane } => advance_one(*id, &mut outs[*lane], failed, sink),
        Part::Remote(remote) => {
            let Remote {
                id,
                lanes,
                slots,
                failure,
            } = &mut **remote;
            if let Some(e) = failure.take() {
                sink.fail(failed, e);
            }
            let id = *id;
            if lanes.is_empty() {
                return Progress::Done;
            }
            if slots.is_empty() {
                return advance_one(id, &mut outs[lanes[0]], failed, sink);
            }
            loop {
                for (k, &oi) in lanes.iter().enumerate() {
                    let s = &mut slots[k];
                    if s.ended || s.value.is_some() {
                        continue;
                    }
                    let ol = &mut outs[oi];
                    if ol.order.front() != Some(&id) {
                        return Progress::Blocked;
                    }
                    match ol.take_frame() {
                        Poll::Ready(Some(Frame::Item(v))) => s.value = Some(v),
                        Poll::Ready(Some(Frame::One(v))) => {
                            s.value = Some(v);
                            s.last = true;
                            ol.order.pop_front();
                        }
                        Poll::Ready(Some(Frame::End)) => {
                            s.ended = true;
                            ol.order.pop_front();
                        }
                        Poll::Ready(Some(Frame::Err(e))) => {
                            sink.fail(failed, e);
                            s.ended = true;
                            ol.order.pop_front();
                        }
                        Poll::Ready(None) => {
                            sink.fail(failed, lost(id));
                            s.ended = true;
                            ol.order.pop_front();
                        }
                        Poll::Pending => return Progress::Blocked,
                    }
                }
                let mut values: Vec<Value> = Vec::new();
                for s in slots.iter_mut() {
                    if let Some(v) = s.value.take() {
                        values.push(v);
                    }
                    if s.last {
                        s.ended = true;
                        s.last = false;
                    }
                }
                match values.len() {
                    0 => {}
                    1 => sink.put(failed, values.pop().unwrap_or_default()),
                    _ => sink.put(failed, Value::from(values)),
                }
                if slots.iter().all(|s| s.ended) {
                    return Progress::Done;
                }
            }
        }
    }
}

/// Moves one in lane's replies forward; true if anything moved.
fn compose_lane(lane: &mut InLane, outs: &mut [OutLane], process: &Process) -> bool {
    let InLane {
        reader,
        entries,
        outbox,
        ..
    } = lane;
    let mut sink = Sink {
        reader,
        outbox,
        process,
    };
    let mut moved = false;
    while let Some(entry) = entries.front_mut() {
        let mut blocked = false;
        // Parts are advanced in place and dropped once done.
        while let Some(part) = entry.parts.front_mut() {
            if let Progress::Blocked = advance(part, &mut entry.failed, outs, &mut sink) {
                blocked = true;
                break;
            }
            entry.parts.pop_front();
            moved = true;
        }
        if blocked || !entry.done {
            break;
        }
        sink.finish(entry.failed);
        entries.pop_front();
        moved = true;
    }
    sink.flush();
    moved
}

impl Core {
    /// Moves every reply frame that has arrived into the replies of the inputs it belongs to. The
    /// session is woken through its `Wake` when more arrive. With several in lanes, a part finished
    /// for one lane can unblock another lane's part on the same out lane, so passes repeat until
    /// nothing moves.
    pub(crate) fn compose(&mut self, process: &Process) {
        let woke = self.wake.take();
        self.compose_if(process, woke);
    }

    /// Puts the packets the handler emitted into their lanes, if any wait (see `LaneWriter::defer`).
    fn flush_deferred(&mut self) {
        if std::mem::take(&mut self.unflushed) {
            for out in &mut self.outs {
                out.writer.flush();
            }
        }
    }

    /// Composes when `woke` (a lane changed: the caller took the session's `Wake`) or when parts
    /// were added since the last composition; otherwise nothing can have moved.
    /// Packets the handler emitted since are put into their lanes first.
    pub(crate) fn compose_if(&mut self, process: &Process, woke: bool) {
        self.flush_deferred();
        if !woke && !self.dirty {
            return;
        }
        self.dirty = false;
        let Core { ins, outs, .. } = self;
        loop {
            let mut moved = false;
            let mut busy = 0;
            for lane in ins.iter_mut() {
                if !lane.entries.is_empty() {
                    moved |= compose_lane(lane, outs, process);
                    busy += 1;
                }
            }
            if !moved || busy <= 1 {
                return;
            }
        }
    }
}
