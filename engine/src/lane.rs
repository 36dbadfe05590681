//! Lanes: the channel of one link within one process. Packets go forward, reply frames come back in
//! request order. The credit is the number of unanswered packets: a writer may have at most `cap`
//! packets whose reply has not ended, and waits at the bound until a reply ends. A lane belongs to the
//! wiring, not to the tasks at its ends: whichever end goes away, the other is told (end-of-stream for
//! the reader, an error reply for every unanswered packet for the writer), so nothing hangs.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use parking_lot::Mutex;

use crate::error::{Error, ErrorKind};
use crate::packet::Packet;
use crate::process::Process;
use crate::value::Value;
use crate::wake::Wake;

/// One frame of a reply stream. A reply is `Item*` then `End`, or `Item*` then `Err`; `One(v)` is
/// `Item(v), End` in one frame.
#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Item(Value),
    One(Value),
    End,
    Err(Error),
}

impl Frame {
    /// True when the frame ends a reply.
    pub fn is_last(&self) -> bool {
        !matches!(self, Frame::Item(_))
    }
}

struct State {
    fwd: VecDeque<Packet>,
    /// The writer has ended its stream (closed or dropped).
    closed: bool,
    back: VecDeque<Frame>,
    /// Packets sent whose reply has not ended.
    unanswered: usize,
    /// The consumer is gone: every reply still owed ends with this error.
    failed: Option<Error>,
    reader: Option<Waker>,
    writer: Option<Waker>,
    /// The writing session's wake-up, told of every reply frame and failure (see `wake.rs`).
    wake: Option<Arc<Wake>>,
    /// The reader's handler, waiting for the writer to take reply frames ([`ROOM_WANTED`]).
    room: Option<Waker>,
}

impl State {
    /// Tells the writing side that reply frames (or a failure) arrived: `ready` first, then the
    /// session's wake-up (a read-modify-write, so a session that clears it and then reads `ready`
    /// cannot miss both; see `wake.rs`).
    fn answered(&mut self, ready: &AtomicBool) {
        ready.store(true, Ordering::Release);
        if let Some(w) = &self.wake {
            w.notify();
        }
        wake(&mut self.writer);
    }
}

/// The reply direction's flags, read without the lane's lock.
pub(crate) struct Replies {
    /// Reply frames (or a failure) arrived since the writer last looked: set under the lock by the
    /// reader, cleared under it by the writer, read without it by [`LaneWriter::take_frames`].
    ready: AtomicBool,
    /// Frames queued and not yet taken by the writer, as of the last lock (a reader's handler that
    /// would add to [`reply_room`] of them waits: [`LaneReader::poll_room`]).
    queued: AtomicUsize,
    /// [`ROOM_WANTED`] and [`WRITER_GONE`], each set by one read-modify-write, so a reader that
    /// starts to wait and a writer that goes away cannot miss each other.
    flags: AtomicU8,
}

/// The reader's handler waits for the writer to take frames (its waker is in `State::room`).
const ROOM_WANTED: u8 = 1;
/// The writer has gone: no one takes frames any more, and no one waits for them.
const WRITER_GONE: u8 = 2;

/// How many reply frames may wait in a lane for its writer to take them before the reader's
/// handler waits to emit more: a reply stream read slowly (a client on a slow connection) holds
/// back its producer instead of piling up. Four bursts of the lane's credit, at least 256.
pub(crate) fn reply_room(cap: usize) -> usize {
    cap.saturating_mul(4).max(256)
}

impl Shared {
    /// Sets `flag` in the reply flags, giving them as they were: a read-modify-write, so of a reader
    /// raising [`ROOM_WANTED`] and a writer raising [`WRITER_GONE`], one sees the other's.
    fn raise(&self, flag: u8) -> u8 {
        self.replies.0.flags.fetch_or(flag, Ordering::SeqCst)
    }

    /// Wakes the reader's handler waiting for room, if one is (under the lane's lock).
    fn release_room(&self, s: &mut State) {
        let flags = &self.replies.0.flags;
        if flags.load(Ordering::Relaxed) & ROOM_WANTED != 0 {
            flags.fetch_and(!ROOM_WANTED, Ordering::SeqCst);
            wake(&mut s.room);
        }
    }
}

/// The writer took reply frames: records what is left and, once half the room is free, wakes a
/// reader's handler waiting for it.
fn taken(shared: &Shared, s: &mut State) {
    let left = s.back.len();
    shared.replies.0.queued.store(left, Ordering::Relaxed);
    if left < reply_room(shared.cap) / 2 {
        shared.release_room(s);
    }
}

/// Keeps a flag on a cache line of its own, away from the lock both ends write.
#[repr(align(128))]
pub(crate) struct Padded<T>(pub(crate) T);

pub(crate) struct Shared {
    state: Mutex<State>,
    /// What the reply direction holds, on a line of its own (both ends write it, rarely the rest).
    replies: Padded<Replies>,
    cap: usize,
    port: usize,
    process: Arc<Process>,
}

/// Opens a lane into in port `port` of some node, for `process`, with `cap` credit (at least 1).
/// A lane whose ends have both gone earlier on this thread is reused, buffers and all (see
/// [`recycle`]): a request opens a lane per link, and most close within microseconds.
pub(crate) fn lane(process: Arc<Process>, port: usize, cap: usize) -> (LaneWriter, LaneReader) {
    let pooled = POOL.try_with(|pool| pool.try_borrow_mut().ok()?.lanes.pop());
    let shared = match pooled.ok().flatten() {
        Some(mut shared) => match Arc::get_mut(&mut shared) {
            Some(s) => {
                s.process = process;
                s.port = port;
                s.cap = cap.max(1);
                shared
            }
            // Only lanes no end holds are pooled; a shared one cannot be here.
            None => fresh(process, port, cap),
        },
        None => fresh(process, port, cap),
    };
    let credit = shared.cap;
    (
        LaneWriter {
            shared: shared.clone(),
            ended: false,
            deferred: VecDeque::new(),
            // Nothing is unanswered yet: the whole bound is free.
            credit,
        },
        LaneReader { shared, gone: false },
    )
}

fn fresh(process: Arc<Process>, port: usize, cap: usize) -> Arc<Shared> {
    Arc::new(Shared {
        state: Mutex::new(State {
            fwd: VecDeque::new(),
            closed: false,
            back: VecDeque::new(),
            unanswered: 0,
            failed: None,
            reader: None,
            writer: None,
            wake: None,
            room: None,
        }),
        replies: Padded(Replies {
            ready: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            flags: AtomicU8::new(0),
        }),
        cap: cap.max(1),
        port,
        process,
    })
}

/// How many finished lanes a thread keeps for reuse. The lanes live at once swing by hundreds (64
/// requests in flight through 10 nodes hold up to 640): with 128, 60% of the lanes of the chain
/// request bench were new allocations, each with its queues grown again; with 1024 almost none.
const POOLED: usize = 1024;

/// A thread's finished lanes, and the two stand-ins recycling needs.
struct Pool {
    /// Finished lanes, cleared, each held by nothing else.
    lanes: Vec<Arc<Shared>>,
    /// What a pooled lane points at instead of the process it served, which it must not keep alive.
    no_process: Arc<Process>,
    /// What a dropping end leaves in place of the lane it gives to the pool.
    vacant: Arc<Shared>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new({
        let no_process = Process::new();
        Pool {
            lanes: Vec::new(),
            vacant: fresh(no_process.clone(), usize::MAX, 1),
            no_process,
        }
    });
}

/// Called by an end as it drops: when the other end has gone already (this end holds the last
/// reference), the lane is cleared and kept for the next [`lane`] on this thread. Its queues keep
/// their capacity; what it held for its process (packets, frames, wakers, the process itself) is
/// dropped now. While the thread is being torn down (its pool gone) the lane is simply freed.
fn recycle(end: &mut Arc<Shared>) {
    // The first end to go (the other still holds the lane) has nothing to do: one load.
    if Arc::strong_count(end) != 1 {
        return;
    }
    let _ = POOL.try_with(|pool| {
        let Ok(mut pool) = pool.try_borrow_mut() else {
            return;
        };
        if pool.lanes.len() >= POOLED {
            return;
        }
        let Some(s) = Arc::get_mut(end) else {
            return;
        };
        let state = s.state.get_mut();
        // A lane that carried a burst is not kept with its big buffers.
        if state.fwd.capacity() + state.back.capacity() > 1024 {
            return;
        }
        if !state.fwd.is_empty() {
            state.fwd.clear();
        }
        if !state.back.is_empty() {
            state.back.clear();
        }
        state.closed = false;
        state.unanswered = 0;
        state.failed = None;
        state.reader = None;
        state.writer = None;
        state.wake = None;
        state.room = None;
        *s.replies.0.ready.get_mut() = false;
        *s.replies.0.queued.get_mut() = 0;
        *s.replies.0.flags.get_mut() = 0;
        s.process = pool.no_process.clone();
        // The end gives up the cleared lane for a shared stand-in; the lane goes to the pool.
        let shared = std::mem::replace(end, pool.vacant.clone());
        pool.lanes.push(shared);
    });
}

fn wake(w: &mut Option<Waker>) {
    if let Some(w) = w.take() {
        w.wake();
    }
}

/// The writing end: sends packets, reads reply frames.
pub struct LaneWriter {
    shared: Arc<Shared>,
    ended: bool,
    /// Packets sent with [`Self::defer`], not yet in the lane: they go in with the next lock this
    /// end takes ([`Self::flush`], a push, a close, a look at the replies), in order, before anything
    /// else. A session defers what its handler emits and flushes before it waits or after a burst,
    /// so a consumer gets a burst in one lock and one wake-up instead of one per packet.
    deferred: VecDeque<Packet>,
    /// Credit known to be free: the bound less the unanswered packets, as of the last lock, less
    /// what was deferred since. Answers only add credit, so this never overstates it.
    credit: usize,
}

/// Moves a writer's deferred packets into the lane, under its lock: on a failed lane they are owed
/// an error reply like every packet the consumer did not answer. Gives the credit left.
#[inline]
fn put_deferred(deferred: &mut VecDeque<Packet>, cap: usize, s: &mut State) -> usize {
    if !deferred.is_empty() {
        put_deferred_now(deferred, s);
    }
    cap.saturating_sub(s.unanswered)
}

fn put_deferred_now(deferred: &mut VecDeque<Packet>, s: &mut State) {
    s.unanswered += deferred.len();
    if s.failed.is_some() {
        deferred.clear();
    } else {
        move_all(deferred, &mut s.fwd);
        wake(&mut s.reader);
    }
}

/// Moves everything in `from` to the back of `to`, in order. Into an empty queue (the usual case:
/// the taker has handled what it took before) the two buffers are swapped, so no element is copied
/// and each side keeps a buffer of the same capacity.
fn move_all<T>(from: &mut VecDeque<T>, to: &mut VecDeque<T>) {
    if to.is_empty() {
        std::mem::swap(from, to);
    } else {
        to.extend(from.drain(..));
    }
}

/// Locks a writer's lane with its deferred packets put in first: `lock!(self)` gives the guard.
macro_rules! lock {
    ($w:expr) => {{
        let mut s = $w.shared.state.lock();
        $w.credit = put_deferred(&mut $w.deferred, $w.shared.cap, &mut s);
        s
    }};
}

impl LaneWriter {
    /// Sends `packet` without taking the lane's lock when credit is known to be free: it goes into
    /// the lane with the next lock this end takes. Hands it back when the known credit is used up
    /// (send it with [`Self::poll_push`], which puts the deferred packets in first and looks again).
    pub(crate) fn defer(&mut self, packet: Packet) -> Result<(), Packet> {
        if self.credit == 0 {
            return Err(packet);
        }
        self.credit -= 1;
        self.deferred.push_back(packet);
        Ok(())
    }

    /// Puts the deferred packets into the lane (one lock, one wake-up of the consumer).
    pub(crate) fn flush(&mut self) {
        if !self.deferred.is_empty() {
            drop(lock!(self));
        }
    }

    /// Ready when a packet may be sent (credit is free), or with the error that ends the lane.
    pub fn poll_reserve(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let mut s = lock!(self);
        if let Some(e) = &s.failed {
            return Poll::Ready(Err(e.clone()));
        }
        if s.unanswered < self.shared.cap {
            return Poll::Ready(Ok(()));
        }
        if !s.writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.writer = Some(cx.waker().clone());
        }
        self.at_bound(&mut s);
        Poll::Pending
    }

    /// The writer waits for credit: a reader's handler waiting for room goes on (see
    /// [`LaneReader::poll_room`]), since a writer that reads its replies only once it can send again
    /// would otherwise wait on it for ever.
    fn at_bound(&self, s: &mut State) {
        self.shared.release_room(s);
    }

    /// Sends a packet. Call after `poll_reserve` was ready; sending past the credit is allowed (the
    /// caller is trusted) but defeats backpressure.
    pub fn push(&mut self, packet: Packet) -> Result<(), Error> {
        let mut s = lock!(self);
        if let Some(e) = &s.failed {
            return Err(e.clone());
        }
        s.fwd.push_back(packet);
        s.unanswered += 1;
        wake(&mut s.reader);
        Ok(())
    }

    /// Sends `packet` if credit is free, in one lock; hands it back (Pending) when at the bound, the
    /// task registered to be woken when an answer returns credit.
    pub fn poll_push(&mut self, cx: &mut Context<'_>, packet: Packet) -> Result<Result<(), Packet>, Error> {
        self.push_or(packet, Some(cx))
    }

    /// Sends `packet` if credit is free, in one lock; hands it back when at the bound.
    pub fn try_push(&mut self, packet: Packet) -> Result<Result<(), Packet>, Error> {
        self.push_or(packet, None)
    }

    fn push_or(&mut self, packet: Packet, cx: Option<&mut Context<'_>>) -> Result<Result<(), Packet>, Error> {
        let mut s = lock!(self);
        if let Some(e) = &s.failed {
            return Err(e.clone());
        }
        if s.unanswered < self.shared.cap {
            s.fwd.push_back(packet);
            s.unanswered += 1;
            self.credit -= 1;
            wake(&mut s.reader);
            return Ok(Ok(()));
        }
        if let Some(cx) = cx {
            if !s.writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                s.writer = Some(cx.waker().clone());
            }
        }
        self.at_bound(&mut s);
        Ok(Err(packet))
    }

    /// Waits for credit, then sends.
    pub async fn send(&mut self, packet: Packet) -> Result<(), Error> {
        std::future::poll_fn(|cx| self.poll_reserve(cx)).await?;
        self.push(packet)
    }

    /// The next reply frame, or `None` when no reply is owed.
    pub fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        let mut s = lock!(self);
        if let Some(f) = s.back.pop_front() {
            taken(&self.shared, &mut s);
            return Poll::Ready(Some(f));
        }
        if s.unanswered == 0 {
            return Poll::Ready(None);
        }
        if let Some(e) = s.failed.clone() {
            s.unanswered -= 1;
            return Poll::Ready(Some(Frame::Err(e)));
        }
        if !s.writer.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.writer = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Moves every reply frame that has arrived into `out` with one lock, and registers nothing:
    /// `Some(true)` when frames moved, `Some(false)` when no reply is owed, `None` when frames are
    /// owed and none has arrived. For a session, which is woken through the [`Wake`] given to
    /// [`Self::set_wake`].
    pub(crate) fn take_frames(&mut self, out: &mut VecDeque<Frame>) -> Option<bool> {
        if !self.shared.replies.0.ready.load(Ordering::Acquire) {
            // Nothing arrived since the last look (a failure sets `ready` too): no lock taken.
            return None;
        }
        let mut s = lock!(self);
        self.shared.replies.0.ready.store(false, Ordering::Relaxed);
        if !s.back.is_empty() {
            move_all(&mut s.back, out);
            taken(&self.shared, &mut s);
            return Some(true);
        }
        if s.unanswered == 0 {
            return Some(false);
        }
        if let Some(e) = s.failed.clone() {
            for _ in 0..s.unanswered {
                out.push_back(Frame::Err(e.clone()));
            }
            s.unanswered = 0;
            return Some(true);
        }
        None
    }

    /// Has `wake` notified whenever reply frames or a failure arrive on this lane.
    /// Called as the lane opens: what arrives before it (a failure) has set `ready` already.
    pub(crate) fn set_wake(&mut self, wake: Arc<Wake>) {
        self.shared.state.lock().wake = Some(wake);
    }

    /// The next reply frame if one is there now. Takes no lock when nothing arrived since the last
    /// look (the `ready` flag, which every frame and failure sets).
    pub fn try_frame(&mut self) -> Option<Frame> {
        if !self.shared.replies.0.ready.load(Ordering::Acquire) {
            return None;
        }
        let mut s = lock!(self);
        let frame = if let Some(f) = s.back.pop_front() {
            taken(&self.shared, &mut s);
            Some(f)
        } else if s.unanswered > 0 {
            s.failed.clone().map(|e| {
                s.unanswered -= 1;
                Frame::Err(e)
            })
        } else {
            None
        };
        // Cleared under the lock, and only with nothing left to give: set again by the next frame.
        if s.back.is_empty() && !(s.failed.is_some() && s.unanswered > 0) {
            self.shared.replies.0.ready.store(false, Ordering::Release);
        }
        frame
    }

    pub async fn frame(&mut self) -> Option<Frame> {
        std::future::poll_fn(|cx| self.poll_frame(cx)).await
    }

    /// Ends the forward stream (end-of-stream for the reader); replies still come back.
    pub fn close(&mut self) {
        if !self.ended {
            self.ended = true;
            let mut s = lock!(self);
            s.closed = true;
            wake(&mut s.reader);
        }
    }

    /// True while a reply frame is still to be read: a reply not ended yet, or frames that arrived
    /// and were not taken (a reply can end before its writer looks).
    pub fn owes_frames(&self) -> bool {
        let s = self.shared.state.lock();
        s.unanswered > 0 || !s.back.is_empty() || !self.deferred.is_empty()
    }

    /// Packets sent whose reply has not ended.
    pub fn unanswered(&self) -> usize {
        self.shared.state.lock().unanswered + self.deferred.len()
    }

    pub fn cap(&self) -> usize {
        self.shared.cap
    }
}

impl Drop for LaneWriter {
    /// A writer that goes away ends its stream, what it deferred sent first.
    fn drop(&mut self) {
        self.close();
        let flags = self.shared.raise(WRITER_GONE);
        if flags & ROOM_WANTED != 0 {
            wake(&mut self.shared.state.lock().room);
        }
        recycle(&mut self.shared);
    }
}

/// The reading end: receives packets, sends reply frames in order.
pub struct LaneReader {
    shared: Arc<Shared>,
    gone: bool,
}

impl LaneReader {
    pub fn port(&self) -> usize {
        self.shared.port
    }

    pub fn process(&self) -> &Arc<Process> {
        &self.shared.process
    }

    /// The next packet, or `None` at end-of-stream.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Packet>> {
        let mut s = self.shared.state.lock();
        if let Some(p) = s.fwd.pop_front() {
            return Poll::Ready(Some(p));
        }
        if s.closed {
            return Poll::Ready(None);
        }
        if !s.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.reader = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Moves every packet that has arrived into `out` with one lock. Ready(true) when packets moved,
    /// Ready(false) at end-of-stream, Pending (the task registered) otherwise.
    pub fn poll_recv_all(&mut self, cx: &mut Context<'_>, out: &mut VecDeque<Packet>) -> Poll<bool> {
        let mut s = self.shared.state.lock();
        if !s.fwd.is_empty() {
            move_all(&mut s.fwd, out);
            return Poll::Ready(true);
        }
        if s.closed {
            return Poll::Ready(false);
        }
        if !s.reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.reader = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    pub async fn recv(&mut self) -> Option<Packet> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends one reply frame; frames go back in the order packets were received.
    pub fn reply(&mut self, frame: Frame) {
        let mut s = self.shared.state.lock();
        if s.failed.is_some() {
            return;
        }
        if frame.is_last() {
            s.unanswered = s.unanswered.saturating_sub(1);
        }
        if self.writer_gone() {
            return;
        }
        s.back.push_back(frame);
        self.shared
            .replies
            .0
            .queued
            .store(s.back.len(), Ordering::Relaxed);
        s.answered(&self.shared.replies.0.ready);
    }

    /// Sends several reply frames under one lock.
    pub fn reply_all(&mut self, frames: impl IntoIterator<Item = Frame>) {
        self.reply_queue(&mut frames.into_iter().collect());
    }

    /// Sends every frame of `frames` under one lock, emptying it (its buffer is swapped into the
    /// lane when the writer has taken what came before, so no frame is copied).
    pub(crate) fn reply_queue(&mut self, frames: &mut VecDeque<Frame>) {
        if frames.is_empty() {
            return;
        }
        let ends = frames.iter().filter(|f| f.is_last()).count();
        let mut s = self.shared.state.lock();
        if s.failed.is_some() {
            frames.clear();
            return;
        }
        s.unanswered = s.unanswered.saturating_sub(ends);
        if self.writer_gone() {
            // No one will read them.
            frames.clear();
            return;
        }
        move_all(frames, &mut s.back);
        self.shared
            .replies
            .0
            .queued
            .store(s.back.len(), Ordering::Relaxed);
        s.answered(&self.shared.replies.0.ready);
    }

    fn writer_gone(&self) -> bool {
        self.shared.replies.0.flags.load(Ordering::Acquire) & WRITER_GONE != 0
    }

    /// True when the reply frames waiting for the writer fill [`reply_room`]: a handler answering
    /// on this lane should wait ([`Self::poll_room`]) before it emits more. No lock.
    pub(crate) fn reply_full(&self) -> bool {
        self.shared.replies.0.queued.load(Ordering::Relaxed) >= reply_room(self.shared.cap)
    }

    /// Ready when the writer has taken enough reply frames to make room (or has gone, or this end
    /// has failed), or when the writer is at its credit bound: it may be one that reads its replies
    /// only once it can send again, and holding back the answers that return its credit would
    /// leave both waiting. Otherwise the task waits until one of these holds.
    pub(crate) fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let mut s = self.shared.state.lock();
        if s.back.len() < reply_room(self.shared.cap) || s.failed.is_some() || s.unanswered >= self.shared.cap
        {
            return Poll::Ready(());
        }
        if !s.room.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.room = Some(cx.waker().clone());
        }
        let flags = self.shared.raise(ROOM_WANTED);
        if flags & WRITER_GONE != 0 {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// The consumer gives up: every reply still owed (queued packets included) ends with `err`.
    pub fn fail(&mut self, err: Error) {
        if self.gone {
            return;
        }
        self.gone = true;
        let mut s = self.shared.state.lock();
        if s.failed.is_none() {
            // Replies already ended stay; what is owed ends with the error.
            s.fwd.clear();
            s.failed = Some(err);
        }
        s.answered(&self.shared.replies.0.ready);
    }

    /// Marks the lane as done with, for a session that has read it to its end and answered every
    /// packet (nothing is owed): its drop then takes no lock to check.
    pub(crate) fn settle(&mut self) {
        self.gone = true;
    }

    /// True when the writer has ended and every packet has been read.
    pub fn is_drained(&self) -> bool {
        let s = self.shared.state.lock();
        s.closed && s.fwd.is_empty()
    }

    /// True when the writer has ended and every packet it sent is answered.
    fn owes_nothing(&self) -> bool {
        let s = self.shared.state.lock();
        s.closed && s.fwd.is_empty() && s.unanswered == 0
    }
}

impl Drop for LaneReader {
    /// A reader that goes away answers what it owes with an error, and refuses what comes later.
    fn drop(&mut self) {
        // A lane whose writer has ended and whose every packet is answered owes nothing: no error
        // to build, no wake-up for the writer (the usual end of a request).
        if !self.gone && !self.owes_nothing() {
            let process = &self.shared.process;
            let err = if process.is_done() {
                process.ended_error()
            } else {
                Error::new(ErrorKind::Closed, "the consumer went away before answering")
            };
            self.fail(err);
        }
        recycle(&mut self.shared);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::Origin;
    use futures::FutureExt;

    fn pkt(p: &Process, i: i64) -> Packet {
        Packet::new(Value::from(i), Origin::entry(p.id(), i as u32))
    }

    #[tokio::test]
    async fn writer_waits_exactly_at_the_bound() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 3);
        for i in 0..3 {
            assert!(
                w.send(pkt(&p, i)).now_or_never().is_some(),
                "packet {i} is within credit"
            );
        }
        assert_eq!(w.unanswered(), 3);
        // The fourth waits: credit is counted in unanswered packets, not unread ones.
        let _ = r.recv().await;
        assert!(
            w.send(pkt(&p, 3)).now_or_never().is_none(),
            "read but unanswered still holds credit"
        );
        r.reply(Frame::Item(Value::from(0)));
        assert!(
            w.send(pkt(&p, 3)).now_or_never().is_none(),
            "a reply that has not ended holds credit"
        );
        r.reply(Frame::End);
        assert_eq!(w.unanswered(), 2);
        assert!(
            w.send(pkt(&p, 3)).now_or_never().is_some(),
            "an ended reply returns one credit"
        );
        assert!(w.send(pkt(&p, 4)).now_or_never().is_none());
    }

    #[test]
    fn deferred_packets_arrive_at_the_flush_in_order_and_hold_their_credit() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 3);
        // A fresh writer knows its whole bound is free: up to it, packets wait in the writer.
        assert!(w.defer(pkt(&p, 0)).is_ok());
        assert!(w.defer(pkt(&p, 1)).is_ok());
        assert!(w.defer(pkt(&p, 2)).is_ok());
        // The bound: a fourth is handed back, deferred or pushed.
        assert!(w.defer(pkt(&p, 3)).is_err());
        assert_eq!(w.unanswered(), 3);
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut got = VecDeque::new();
        assert_eq!(
            r.poll_recv_all(&mut cx, &mut got),
            Poll::Pending,
            "deferred packets are not in the lane before the flush"
        );
        assert!(
            matches!(w.try_push(pkt(&p, 3)), Ok(Err(_))),
            "the deferred hold their credit"
        );
        w.flush();
        assert_eq!(r.poll_recv_all(&mut cx, &mut got), Poll::Ready(true));
        let values: Vec<Value> = got.iter().map(|p| p.value.clone()).collect();
        assert_eq!(values, vec![Value::from(0), Value::from(1), Value::from(2)]);
        assert!(matches!(w.try_push(pkt(&p, 3)), Ok(Err(_))), "still at the bound");
        r.reply(Frame::One(Value::from(0)));
        assert!(
            matches!(w.try_push(pkt(&p, 3)), Ok(Ok(()))),
            "an answer returns credit"
        );
    }

    #[test]
    fn deferred_packets_on_a_failed_lane_are_answered_with_the_error() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 4);
        assert!(matches!(w.try_push(pkt(&p, 0)), Ok(Ok(()))));
        assert!(w.defer(pkt(&p, 1)).is_ok());
        r.fail(Error::new(ErrorKind::Closed, "gone"));
        w.flush();
        let frames: Vec<Frame> = std::iter::from_fn(|| w.try_frame()).collect();
        assert_eq!(frames.len(), 2, "the pushed and the deferred packet: {frames:?}");
        assert!(frames
            .iter()
            .all(|f| matches!(f, Frame::Err(e) if e.kind() == ErrorKind::Closed)));
        drop(w);
    }

    #[tokio::test]
    async fn a_dropped_writer_sends_what_it_deferred_then_ends() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 4);
        assert!(matches!(w.try_push(pkt(&p, 0)), Ok(Ok(()))));
        assert!(w.defer(pkt(&p, 1)).is_ok());
        drop(w);
        assert_eq!(r.recv().await.map(|p| p.value), Some(Value::from(0)));
        assert_eq!(r.recv().await.map(|p| p.value), Some(Value::from(1)));
        assert!(r.recv().await.is_none());
    }

    #[tokio::test]
    async fn replies_come_back_in_order_and_eos_after_close() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 8);
        for i in 0..3 {
            w.send(pkt(&p, i)).await.unwrap();
        }
        w.close();
        let mut got = Vec::new();
        while let Some(pk) = r.recv().await {
            got.push(pk.value.clone());
            r.reply(Frame::One(pk.value));
        }
        assert_eq!(got.len(), 3);
        for i in 0..3 {
            assert_eq!(w.frame().await, Some(Frame::One(Value::from(i))));
        }
        assert_eq!(w.frame().await, None);
    }

    #[tokio::test]
    async fn a_failed_consumer_releases_a_blocked_writer() {
        let p = Process::new();
        let (mut w, r) = lane(p.clone(), 0, 1);
        w.send(pkt(&p, 0)).await.unwrap();
        let blocked = tokio::spawn(async move {
            let res = w.send(pkt(&p, 1)).await;
            (res, w.frame().await)
        });
        tokio::task::yield_now().await;
        drop(r);
        let (res, frame) = blocked.await.unwrap();
        assert_eq!(res.unwrap_err().kind(), ErrorKind::Closed);
        assert!(matches!(frame, Some(Frame::Err(e)) if e.kind() == ErrorKind::Closed));
    }

    #[test]
    fn try_frame_gives_every_frame_and_failure_then_none() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 8);
        assert_eq!(w.try_frame(), None, "nothing sent");
        for i in 0..4 {
            assert!(matches!(w.try_push(pkt(&p, i)), Ok(Ok(()))));
        }
        r.reply_all([Frame::One(Value::from(0)), Frame::Item(Value::from(1))]);
        assert_eq!(w.try_frame(), Some(Frame::One(Value::from(0))));
        assert_eq!(w.try_frame(), Some(Frame::Item(Value::from(1))));
        assert_eq!(w.try_frame(), None, "all taken");
        r.reply(Frame::End);
        assert_eq!(
            w.try_frame(),
            Some(Frame::End),
            "a frame after an empty look is seen"
        );
        r.fail(Error::new(ErrorKind::Closed, "gone"));
        assert!(matches!(w.try_frame(), Some(Frame::Err(_))), "packet 2 fails");
        assert!(matches!(w.try_frame(), Some(Frame::Err(_))), "packet 3 fails");
        assert_eq!(w.try_frame(), None, "nothing more is owed");
        assert!(w.try_push(pkt(&p, 4)).is_err(), "a failed lane refuses packets");
    }

    #[test]
    fn an_ended_reply_not_yet_read_is_still_owed() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 4);
        assert!(!w.owes_frames());
        w.push(pkt(&p, 0)).unwrap();
        assert!(w.owes_frames(), "a reply is due");
        r.reply(Frame::One(Value::from(0)));
        assert_eq!(w.unanswered(), 0, "the reply has ended");
        assert!(w.owes_frames(), "but it has not been read");
        assert_eq!(w.try_frame(), Some(Frame::One(Value::from(0))));
        assert!(!w.owes_frames());
    }

    #[test]
    fn a_reused_lane_starts_clean() {
        let old = Process::new();
        let (mut w, mut r) = lane(old.clone(), 2, 1);
        w.push(pkt(&old, 0)).unwrap();
        w.close();
        r.fail(Error::new(ErrorKind::Closed, "gone"));
        let before = Arc::as_ptr(&w.shared);
        drop(r);
        drop(w);
        let new = Process::new();
        let (mut w, mut r) = lane(new.clone(), 0, 4);
        assert_eq!(Arc::as_ptr(&w.shared), before, "the finished lane is reused");
        assert!(Arc::ptr_eq(r.process(), &new), "it serves the new process");
        assert_eq!((r.port(), w.cap(), w.unanswered()), (0, 4, 0));
        assert!(!r.is_drained(), "not closed, nothing queued");
        assert!(w.try_frame().is_none(), "no frame or failure of the old process");
        w.push(pkt(&new, 7)).unwrap();
        let mut got = VecDeque::new();
        let waker = futures::task::noop_waker();
        let polled = r.poll_recv_all(&mut Context::from_waker(&waker), &mut got);
        assert_eq!(polled, Poll::Ready(true));
        assert_eq!(got.len(), 1, "only the new packet");
        assert_eq!(Arc::strong_count(&old), 1, "the old process is not kept alive");
    }

    #[tokio::test]
    async fn a_dropped_writer_is_end_of_stream() {
        let p = Process::new();
        let (mut w, mut r) = lane(p.clone(), 0, 4);
        w.send(pkt(&p, 0)).await.unwrap();
        drop(w);
        assert!(r.recv().await.is_some());
        assert!(r.recv().await.is_none());
    }
}
