//! The wiring: a [`NodeSlot`] is a node's stable place in a graph. Links point at slots, not at running
//! nodes, so a node can be swapped (hot reload) while the links into it stay. The slot owns what waits
//! for the node: lanes of processes that have not got a session yet (the node is at its cap of live
//! processes). A new [`NodeRuntime`] takes over the waiting lanes; sessions already running finish on
//! the runtime they started on.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::lane::{lane, LaneReader, LaneWriter, Padded};
use crate::node::{DynNode, Node, OutPort};
use crate::process::{IdMap, Process, ProcessId};
use crate::session::SessionStart;
use crate::wake::Wake;

/// The default credit of a link per process (unanswered packets).
pub const DEFAULT_BUFFER: usize = 64;
/// The default cap on a node's live processes.
pub const DEFAULT_CONCURRENCY: usize = 4096;
/// At most this many finished sessions per node wait to serve the next process.
const MAX_IDLE: usize = 256;
/// How long a finished session waits for the next process before its task ends.
pub(crate) const IDLE_FOR: std::time::Duration = std::time::Duration::from_millis(500);

/// The count of live sessions, in stripes: each thread counts in its own (a session starts and ends
/// once per node and process, and one shared counter would have every core fight over its cache
/// line). A session may end on another thread than it started on: a stripe can go below zero, the
/// sum is right.
const STRIPES: usize = 16;
static LIVE_SESSIONS: [Padded<AtomicIsize>; STRIPES] = [const { Padded(AtomicIsize::new(0)) }; STRIPES];
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed);
    static STRIPE: usize = THREAD.with(|t| *t) % STRIPES;
}

/// This thread's number (a thread being torn down gets `usize::MAX`).
fn this_thread() -> usize {
    THREAD.try_with(|t| *t).unwrap_or(usize::MAX)
}

/// How far back from the most recent idle session a session parked by this thread is looked for.
const LOCAL_LOOKBACK: usize = 16;

fn live_stripe() -> &'static AtomicIsize {
    // A thread being torn down counts in stripe 0.
    &LIVE_SESSIONS[STRIPE.try_with(|s| *s).unwrap_or(0)].0
}

/// How many sessions (node × process tasks) are running in this program. While sessions start and
/// end on other threads the sum is a moment's estimate; at rest it is exact.
pub fn live_sessions() -> usize {
    let sum: isize = LIVE_SESSIONS.iter().map(|s| s.0.load(Ordering::SeqCst)).sum();
    sum.max(0) as usize
}

/// Counts a session for as long as it lives.
pub(crate) struct SessionGuard(());

impl SessionGuard {
    pub(crate) fn new() -> Self {
        live_stripe().fetch_add(1, Ordering::SeqCst);
        SessionGuard(())
    }
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        live_stripe().fetch_sub(1, Ordering::SeqCst);
    }
}

/// Where an out port leads: in port `port` of the node in `slot`.
#[derive(Clone)]
pub struct Target {
    pub slot: Arc<NodeSlot>,
    pub port: usize,
}

/// Per-node settings.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// Credit of each link into this node, per process.
    pub buffer: usize,
    /// Cap on live processes; lanes of further processes wait in the slot.
    pub concurrency: usize,
}

impl Default for NodeOptions {
    fn default() -> Self {
        NodeOptions {
            buffer: DEFAULT_BUFFER,
            concurrency: DEFAULT_CONCURRENCY,
        }
    }
}

/// A loaded node: its behaviour, where its out ports lead, and its settings.
pub struct NodeRuntime {
    pub(crate) name: Arc<str>,
    pub(crate) node: Arc<dyn DynNode>,
    pub(crate) outs: Vec<Vec<Target>>,
    pub(crate) error: Vec<Target>,
    pub(crate) options: NodeOptions,
    pub(crate) streams: bool,
}

/// A node kind's behaviour with its type erased: what a codec compiles a spec into.
#[derive(Clone)]
pub struct BoxedNode {
    node: Arc<dyn DynNode>,
    streams: bool,
}

impl BoxedNode {
    pub fn new<N: Node>(node: N) -> Self {
        BoxedNode {
            node: Arc::new(node),
            streams: N::STREAMS,
        }
    }

    /// Runs the node's load hook, giving it its own slot.
    pub fn load(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        self.node.load(slot)
    }

    /// Runs the node's unload hook.
    pub fn unload(&self) {
        self.node.unload()
    }
}

impl std::fmt::Debug for BoxedNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoxedNode")
            .field("streams", &self.streams)
            .finish()
    }
}

impl NodeRuntime {
    pub fn new<N: Node>(name: impl Into<Arc<str>>, node: N) -> Self {
        Self::from_boxed(name, BoxedNode::new(node))
    }

    pub fn from_boxed(name: impl Into<Arc<str>>, node: BoxedNode) -> Self {
        NodeRuntime {
            name: name.into(),
            node: node.node,
            outs: Vec::new(),
            error: Vec::new(),
            options: NodeOptions::default(),
            streams: node.streams,
        }
    }

    /// Links `port` to `target`'s in port `in_port`; links of one port keep the order they are added in.
    pub fn link(mut self, port: OutPort, target: &Arc<NodeSlot>, in_port: usize) -> Self {
        let t = Target {
            slot: target.clone(),
            port: in_port,
        };
        match port {
            OutPort::Out(i) => {
                if self.outs.len() <= i {
                    self.outs.resize_with(i + 1, Vec::new);
                }
                self.outs[i].push(t);
            }
            OutPort::Error => self.error.push(t),
        }
        self
    }

    pub fn options(mut self, options: NodeOptions) -> Self {
        self.options = options;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where `port` leads, in link order.
    pub fn targets(&self, port: OutPort) -> &[Target] {
        match port {
            OutPort::Out(i) => self.outs.get(i).map(Vec::as_slice).unwrap_or(&[]),
            OutPort::Error => &self.error,
        }
    }
}

/// New lanes for a running session of one process. The flag lets the session skip the lock when
/// nothing arrived, which is almost always; a new lane wakes the session through its [`Wake`].
pub(crate) struct Attach {
    lanes: Mutex<VecDeque<LaneReader>>,
    arrived: AtomicBool,
    /// Set when the node is swapped or unloaded: an idle session waiting here leaves.
    closed: AtomicBool,
    pub(crate) wake: Arc<Wake>,
}

impl Attach {
    fn new() -> Arc<Self> {
        Arc::new(Attach {
            lanes: Mutex::new(VecDeque::new()),
            arrived: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            wake: Wake::new(),
        })
    }

    fn push(&self, reader: LaneReader) {
        let mut lanes = self.lanes.lock();
        lanes.push_back(reader);
        self.arrived.store(true, Ordering::Release);
        self.wake.notify();
    }

    fn close(&self) {
        let _lanes = self.lanes.lock();
        self.closed.store(true, Ordering::Release);
        self.wake.notify();
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Moves the lanes that have arrived into `out` (the caller's buffer, kept between calls: no
    /// allocation per process); true when any did. The session registers its waker with
    /// [`Self::wake`] first.
    pub(crate) fn try_take(&self, out: &mut Vec<LaneReader>) -> bool {
        if self.arrived.load(Ordering::Acquire) && self.arrived.swap(false, Ordering::AcqRel) {
            let before = out.len();
            let mut lanes = self.lanes.lock();
            // Usually one lane: popping beats setting up a drain.
            while let Some(lane) = lanes.pop_front() {
                out.push(lane);
            }
            out.len() > before
        } else {
            false
        }
    }

    /// Every lane not yet taken. Called under the slot's lock, which every push holds too: with
    /// `arrived` clear, nothing is there and the lanes' lock is not taken.
    pub(crate) fn take_all(&self) -> Vec<LaneReader> {
        if !self.arrived.load(Ordering::Acquire) {
            return Vec::new();
        }
        self.arrived.store(false, Ordering::Release);
        self.lanes.lock().drain(..).collect()
    }
}

/// A session in the idle list: its attach, the reaper's tick it parked at, and the thread it parked
/// on (its task and memory are warm in that core's cache).
struct Idle {
    attach: Arc<Attach>,
    tick: u64,
    thread: usize,
}

struct SlotInner {
    runtime: Option<Arc<NodeRuntime>>,
    generation: u64,
    sessions: IdMap<Arc<Attach>>,
    live: usize,
    waiting: VecDeque<LaneReader>,
    /// Sessions that finished their process and wait to serve the next one (no new task needed),
    /// each with the reaper's tick it parked at. The most recent is last: it is handed the next
    /// process.
    idle: Vec<Idle>,
    /// The reaper's clock: counts its rounds, every half [`IDLE_FOR`] (a park reads no clock).
    tick: u64,
    /// A reaper task is running: it ends sessions idle for longer than [`IDLE_FOR`].
    reaping: bool,
}

impl SlotInner {
    /// An idle session for the next process: the most recent one parked on this thread, else the
    /// most recent. A session's task is woken on the thread that hands it the lane, so one parked
    /// here keeps its task, core and buffers in this core's cache; one from the other core brings
    /// them over (between the cores of some machines, a cache line costs five times as much).
    fn take_idle(&mut self) -> Option<Arc<Attach>> {
        let here = this_thread();
        let len = self.idle.len();
        let at = self.idle[len.saturating_sub(LOCAL_LOOKBACK)..]
            .iter()
            .rposition(|i| i.thread == here)
            .map(|i| i + len.saturating_sub(LOCAL_LOOKBACK))
            .or(len.checked_sub(1))?;
        Some(self.idle.remove(at).attach)
    }
}

/// A node's stable place in a graph.
pub struct NodeSlot {
    name: Arc<str>,
    inner: Mutex<SlotInner>,
}

impl std::fmt::Debug for NodeSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeSlot").field("name", &self.name).finish()
    }
}

impl NodeSlot {
    pub fn new(name: impl Into<Arc<str>>) -> Arc<Self> {
        Arc::new(NodeSlot {
            name: name.into(),
            inner: Mutex::new(SlotInner {
                runtime: None,
                generation: 0,
                sessions: IdMap::default(),
                live: 0,
                waiting: VecDeque::new(),
                idle: Vec::new(),
                tick: 0,
                reaping: false,
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Loads (or swaps in) a node. Sessions of the old node finish on it; lanes waiting for a session
    /// are handed to the new one. Returns the old runtime.
    pub fn install(self: &Arc<Self>, runtime: NodeRuntime) -> Option<Arc<NodeRuntime>> {
        let mut inner = self.inner.lock();
        inner.generation += 1;
        inner.sessions.clear();
        inner.live = 0;
        for Idle { attach: a, .. } in inner.idle.drain(..) {
            a.close();
        }
        let old = inner.runtime.replace(Arc::new(runtime));
        self.start_waiting(&mut inner);
        old
    }

    /// Unloads the node. Lanes waiting for it are answered with an error; new lanes are refused.
    pub fn uninstall(&self) -> Option<Arc<NodeRuntime>> {
        let mut inner = self.inner.lock();
        inner.generation += 1;
        inner.sessions.clear();
        inner.live = 0;
        for Idle { attach: a, .. } in inner.idle.drain(..) {
            a.close();
        }
        let waiting: Vec<_> = inner.waiting.drain(..).collect();
        let old = inner.runtime.take();
        drop(inner);
        for mut r in waiting {
            r.fail(Error::new(
                ErrorKind::Closed,
                format!("node \"{}\" was unloaded", self.name),
            ));
        }
        old
    }

    pub fn runtime(&self) -> Option<Arc<NodeRuntime>> {
        self.inner.lock().runtime.clone()
    }

    /// Opens a lane into in port `port` for `process`, with the node's buffer as credit.
    pub fn open(self: &Arc<Self>, process: &Arc<Process>, port: usize) -> Result<LaneWriter> {
        self.open_with(process, port, None)
    }

    /// Opens a lane with an explicit credit.
    pub fn open_with(
        self: &Arc<Self>,
        process: &Arc<Process>,
        port: usize,
        cap: Option<usize>,
    ) -> Result<LaneWriter> {
        let mut inner = self.inner.lock();
        // The runtime is moved out for the call and back, not cloned: every open of every node's
        // lane would otherwise count its reference up and down (one cache line for all cores).
        let Some(rt) = inner.runtime.take() else {
            return Err(Error::new(
                ErrorKind::Unavailable,
                format!("node \"{}\" is not loaded", self.name),
            ));
        };
        let (writer, reader) = lane(process.clone(), port, cap.unwrap_or(rt.options.buffer));
        self.admit(&mut inner, &rt, reader);
        inner.runtime = Some(rt);
        Ok(writer)
    }

    /// Gives a lane to the process's session, starts one, or queues the lane at the cap.
    fn admit(self: &Arc<Self>, inner: &mut SlotInner, rt: &Arc<NodeRuntime>, reader: LaneReader) {
        let pid = reader.process().id();
        if let Some(attach) = inner.sessions.get(&pid) {
            attach.push(reader);
        } else if inner.live < rt.options.concurrency.max(1) {
            inner.live += 1;
            if let Some(attach) = inner.take_idle() {
                // An idle session of this node takes the process: no task to spawn.
                attach.push(reader);
                inner.sessions.insert(pid, attach);
                return;
            }
            let attach = Attach::new();
            inner.sessions.insert(pid, attach.clone());
            rt.node.clone().start(SessionStart {
                slot: self.clone(),
                runtime: rt.clone(),
                generation: inner.generation,
                first: reader,
                attach,
            });
        } else {
            inner.waiting.push_back(reader);
        }
    }

    fn start_waiting(self: &Arc<Self>, inner: &mut SlotInner) {
        if inner.waiting.is_empty() {
            return;
        }
        let Some(rt) = inner.runtime.clone() else { return };
        while inner.live < rt.options.concurrency.max(1) {
            let Some(reader) = inner.waiting.pop_front() else {
                break;
            };
            if reader.process().is_done() {
                continue;
            }
            self.admit(inner, &rt, reader);
        }
    }

    /// Called by a session that has nothing left to do. `Finish::Late` with the lanes of its process
    /// that arrived meanwhile: the session goes on with them instead of ending. Otherwise, in the same
    /// lock, it leaves its process and offers itself for the next one ([`Self::park_locked`]).
    pub(crate) fn finish_session(
        self: &Arc<Self>,
        generation: u64,
        pid: ProcessId,
        attach: &Arc<Attach>,
    ) -> Finish {
        let mut inner = self.inner.lock();
        let late = attach.take_all();
        if !late.is_empty() {
            return Finish::Late(late);
        }
        // The map's reference to the session's attach serves the idle list next (no count touched).
        let mut mine = None;
        if inner.generation == generation {
            mine = inner.sessions.remove(&pid).filter(|r| Arc::ptr_eq(r, attach));
            inner.live -= 1;
            self.start_waiting(&mut inner);
        }
        let mine = mine.unwrap_or_else(|| attach.clone());
        if self.park_locked(&mut inner, generation, mine) {
            Finish::Parked
        } else {
            Finish::Leave
        }
    }

    /// A session that finished its process offers itself for the next one. False when it should
    /// leave instead (the node changed, or enough sessions are idle already). An idle session waits
    /// without a timer of its own: one reaper task per slot, running only while sessions are idle,
    /// ends those idle for longer than [`IDLE_FOR`] (a timer per wait cost more than the wait).
    fn park_locked(self: &Arc<Self>, inner: &mut SlotInner, generation: u64, attach: Arc<Attach>) -> bool {
        if inner.generation != generation || inner.idle.len() >= MAX_IDLE || attach.is_closed() {
            return false;
        }
        let tick = inner.tick;
        inner.idle.push(Idle {
            attach,
            tick,
            thread: this_thread(),
        });
        if !inner.reaping {
            inner.reaping = true;
            tokio::spawn(reap(Arc::downgrade(self)));
        }
        true
    }

    /// Lanes waiting for a session (the node is at its cap of live processes).
    pub fn waiting(&self) -> usize {
        self.inner.lock().waiting.len()
    }
}

/// What a session that ran out of work does next.
pub(crate) enum Finish {
    /// Lanes of its process arrived meanwhile: go on with them.
    Late(Vec<LaneReader>),
    /// It waits in the slot's idle list for the next process.
    Parked,
    /// It leaves (the node changed, or enough sessions are idle).
    Leave,
}

/// Ends the sessions of a slot that have been idle for longer than [`IDLE_FOR`], checking twice per
/// period; leaves when none is idle (the next park starts it again) or the slot is gone.
async fn reap(slot: Weak<NodeSlot>) {
    loop {
        tokio::time::sleep(IDLE_FOR / 2).await;
        let Some(slot) = slot.upgrade() else { return };
        let mut inner = slot.inner.lock();
        inner.tick += 1;
        let now = inner.tick;
        inner.idle.retain(|Idle { attach, tick, .. }| {
            // Three rounds after its park: idle for two to three half periods.
            let stale = now - tick >= 3;
            if stale {
                attach.close();
            }
            !stale
        });
        if inner.idle.is_empty() {
            inner.reaping = false;
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(thread: usize) -> Idle {
        Idle {
            attach: Attach::new(),
            tick: 0,
            thread,
        }
    }

    fn inner(idle: Vec<Idle>) -> SlotInner {
        SlotInner {
            runtime: None,
            generation: 0,
            sessions: IdMap::default(),
            live: 0,
            waiting: VecDeque::new(),
            idle,
            tick: 0,
            reaping: false,
        }
    }

    #[test]
    fn the_next_process_gets_the_latest_session_parked_on_this_thread_else_the_latest() {
        let here = this_thread();
        let mine = idle(here);
        let mine_attach = mine.attach.clone();
        let mut slot = inner(vec![mine, idle(here + 1), idle(here + 2)]);
        let got = slot.take_idle().expect("an idle session");
        assert!(Arc::ptr_eq(&got, &mine_attach));
        // None parked here: the most recent, and the order of the rest is kept.
        let latest = slot.idle[1].attach.clone();
        let got = slot.take_idle().expect("an idle session");
        assert!(Arc::ptr_eq(&got, &latest));
        assert_eq!(slot.idle.len(), 1);
        assert_eq!(slot.idle[0].thread, here + 1);
        slot.take_idle().expect("the last idle session");
        assert!(slot.take_idle().is_none());
    }

    #[test]
    fn a_session_parked_here_beyond_the_lookback_is_not_searched_for() {
        let here = this_thread();
        let mut list = vec![idle(here)];
        list.extend((0..LOCAL_LOOKBACK).map(|i| idle(here + 1 + i)));
        let latest = list.last().expect("entries").attach.clone();
        let mut slot = inner(list);
        let got = slot.take_idle().expect("an idle session");
        assert!(Arc::ptr_eq(&got, &latest));
    }
}
