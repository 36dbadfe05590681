//! Sessions: one task per (node, process). A session reads the process's lanes into the node in order,
//! calls the node's handlers one at a time, and composes each input's reply from what the handler
//! emitted (see `compose.rs`) while the next inputs are already being handled, so a chain pipelines.
//! When every input lane has ended and every reply is sent, the session ends its output lanes and
//! leaves. A panic fails the session's process work with an error reply; cancellation of the process
//! stops the session at its next await, and its lanes tell both neighbours.

mod cx;
mod lanes;

pub use cx::Cx;
use lanes::Next;
pub(crate) use lanes::{Core, InLane, OutLane};

use std::future::{poll_fn, Future};
use std::panic::AssertUnwindSafe;
use std::pin::{pin, Pin};
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::task::Poll;

use parking_lot::Mutex;

use crate::error::{Error, ErrorKind, Result};
use crate::lane::LaneReader;
use crate::node::{Input, Node, OutPort};
use crate::process::Process;
use crate::slot::{Attach, Finish, NodeRuntime, NodeSlot, SessionGuard};

/// What a slot hands a node to start a session.
pub struct SessionStart {
    pub(crate) slot: Arc<NodeSlot>,
    pub(crate) runtime: Arc<NodeRuntime>,
    pub(crate) generation: u64,
    pub(crate) first: LaneReader,
    pub(crate) attach: Arc<Attach>,
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
            if N::MAPS_NOW {
                let mut map = |input| {
                    std::panic::catch_unwind(AssertUnwindSafe(|| node.map_now(state, &process, input)))
                        .map_err(|payload| panic_error(name, payload))
                };
                core.step_mapped(&process, c, attach, &mut ended, &cx.runtime, &mut map)
            } else {
                core.step(&process, c, attach, &mut ended)
            }
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
