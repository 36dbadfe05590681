//! The `javascript` language: an ES module whose default export is called with the input payload
//! (`export default function (args) { return args.params.id }`), as uniflow calls it; a returned
//! promise is awaited, a `throw` is an error reply.
//!
//! QuickJS contexts are not `Send` and a busy script would block a tokio worker, so each program has
//! a small pool of worker threads, each with its own QuickJS runtime in which the module is evaluated
//! once. Threads start on demand (one more whenever the queued jobs outnumber the idle workers, up to
//! [`max_workers`]) and leave after [`IDLE_EXIT`] without work, so an unused program holds none. A
//! runaway script (`while (true) {}`) is stopped by the runtime's interrupt handler at its deadline,
//! when its process ends, or when the program is dropped; that runtime is then thrown away, and the
//! worker builds a fresh one for its next job. Other jobs of the same program go to other workers
//! meanwhile.
//!
//! Compiling declares and evaluates the module once on a short-lived thread, so a syntax error, a
//! throwing top-level statement or a missing default export is a compile error of the `code` field.
//!
//! A default export that is a generator function (`export default function* (args) { yield 1 }`, or
//! an `async function*`) streams: [`JsProgram::stream`] hands each yielded value from the worker to
//! the caller through a channel of one as it is produced, so a slow consumer holds the script at its
//! next `yield` (backpressure), and a consumer that leaves stops it. [`JsProgram::run`] gathers the
//! yielded values into a list instead.

mod convert;
mod engine;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use futures::Stream;
use parking_lot::Mutex;
use tokio::sync::{mpsc as tmpsc, oneshot};
use weir_engine::{Error, ErrorKind, Process, Result, Value};

use super::{timeout_error, CompileError, Language};
use engine::{Engine, Failure, Outcome, Watch};

/// How long a worker thread waits for work before it leaves.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// The stack of a worker thread; QuickJS itself stops at [`engine::MAX_STACK`].
const THREAD_STACK: usize = 8 << 20;

/// The most worker threads one program runs at once: the cores, at least 4 (so a few runaway
/// scripts do not starve the others), at most 16.
pub(super) fn max_workers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(4, 16)
}

/// One call of the default export.
struct Job {
    input: Value,
    /// Call with the elements of a list input as the arguments.
    spread: bool,
    deadline: Option<Instant>,
    timeout: Duration,
    /// Set by the caller when it stops waiting (its process ended, it was dropped).
    cancel: Arc<AtomicBool>,
    reply: Reply,
}

/// Where a job's result goes.
enum Reply {
    /// The one result (a generator's values gathered into a list).
    Once(oneshot::Sender<Result<Value>>),
    /// Each yielded value as it comes (or the one result), then the channel closes.
    Stream(tmpsc::Sender<Result<Piece>>),
}

impl Reply {
    fn is_closed(&self) -> bool {
        match self {
            Reply::Once(tx) => tx.is_closed(),
            Reply::Stream(tx) => tx.is_closed(),
        }
    }

    fn send(self, result: Result<Value>) {
        match self {
            Reply::Once(tx) => {
                let _ = tx.send(result);
            }
            Reply::Stream(tx) => {
                let _ = tx.blocking_send(result.map(Piece::Result));
            }
        }
    }
}

/// One element of a streamed run.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// The run's one result: the function was not a generator.
    Result(Value),
    /// One value a generator yielded.
    Yield(Value),
}

/// What the workers of one program share.
struct Shared {
    code: Arc<str>,
    rx: Mutex<mpsc::Receiver<Job>>,
    /// Jobs sent and not yet taken by a worker.
    queued: AtomicUsize,
    /// Workers waiting for a job.
    idle: AtomicUsize,
    workers: AtomicUsize,
    max: usize,
    /// Set when the program is dropped: stops running scripts.
    closed: Arc<AtomicBool>,
}

/// The sending side; dropping it (with the last clone of the program) ends the workers.
struct Pool {
    tx: Mutex<mpsc::Sender<Job>>,
    shared: Arc<Shared>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
    }
}

/// A compiled JavaScript module.
#[derive(Clone)]
pub(super) struct JsProgram {
    pool: Arc<Pool>,
    timeout: Option<Duration>,
}

impl JsProgram {
    pub(super) fn compile(code: &str, timeout: Option<Duration>) -> Result<Self, CompileError> {
        check(code, timeout)?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            code: Arc::from(code),
            rx: Mutex::new(rx),
            queued: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
            workers: AtomicUsize::new(0),
            max: max_workers(),
            closed: Arc::new(AtomicBool::new(false)),
        });
        Ok(JsProgram {
            pool: Arc::new(Pool {
                tx: Mutex::new(tx),
                shared,
            }),
            timeout,
        })
    }

    /// Calls the default export with `input` (spread over its arguments when `spread` and `input`
    /// is a list) and returns its result; a generator's values are gathered into a list.
    pub(super) async fn run(&self, process: &Arc<Process>, input: Value, spread: bool) -> Result<Value> {
        let timeout = self.timeout;
        let deadline = timeout.map(|t| Instant::now() + t);
        let cancel = Arc::new(AtomicBool::new(false));
        let _stop_on_drop = CancelOnDrop(cancel.clone());
        let (reply, answer) = oneshot::channel();
        self.pool.submit(Job {
            input,
            spread,
            deadline,
            timeout: timeout.unwrap_or_default(),
            cancel: cancel.clone(),
            reply: Reply::Once(reply),
        })?;
        let expiry = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            answered = answer => answered.unwrap_or_else(|_| Err(Error::new(ErrorKind::Internal, "the JavaScript worker went away"))),
            _ = process.done() => Err(process.ended_error()),
            // The worker interrupts the script at the same deadline; this covers a job still queued.
            _ = expiry => Err(timeout_error(Language::Javascript, timeout.unwrap_or_default())),
        }
    }

    /// Calls the default export with `input` and streams what it gives: each value a generator
    /// yields as it is produced, or the one result. The timeout bounds the whole run; the stream
    /// ends with an error at it, when the process ends, or when the script fails. Dropping the
    /// stream stops the script.
    pub(super) fn stream(
        &self,
        process: &Arc<Process>,
        input: Value,
    ) -> impl Stream<Item = Result<Piece>> + Send + 'static {
        let timeout = self.timeout;
        let deadline = timeout.map(|t| Instant::now() + t);
        let cancel = Arc::new(AtomicBool::new(false));
        let (tx, rx) = tmpsc::channel(1);
        let submitted = self.pool.submit(Job {
            input,
            spread: false,
            deadline,
            timeout: timeout.unwrap_or_default(),
            cancel: cancel.clone(),
            reply: Reply::Stream(tx),
        });
        let state = StreamState {
            rx,
            process: process.clone(),
            deadline,
            timeout: timeout.unwrap_or_default(),
            _stop_on_drop: CancelOnDrop(cancel),
            failed: submitted.err(),
        };
        futures::stream::unfold(Some(state), |state| async move {
            let mut state = state?;
            if let Some(e) = state.failed.take() {
                return Some((Err(e), None));
            }
            let deadline = state.deadline;
            let expiry = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            let StreamState {
                rx, process, timeout, ..
            } = &mut state;
            let next = tokio::select! {
                next = rx.recv() => next,
                _ = process.done() => Some(Err(process.ended_error())),
                _ = expiry => Some(Err(timeout_error(Language::Javascript, *timeout))),
            };
            match next {
                Some(Ok(piece)) => Some((Ok(piece), Some(state))),
                Some(Err(e)) => Some((Err(e), None)),
                None => None,
            }
        })
    }

    /// Worker threads alive now.
    #[cfg(test)]
    pub(super) fn workers(&self) -> usize {
        self.pool.shared.workers.load(Ordering::SeqCst)
    }

    /// Worker threads waiting for a job now.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.pool.shared.idle.load(Ordering::SeqCst)
    }

    /// Counts the live workers even after the program is dropped.
    #[cfg(test)]
    pub(super) fn worker_probe(&self) -> impl Fn() -> usize {
        let shared = self.pool.shared.clone();
        move || shared.workers.load(Ordering::SeqCst)
    }
}

/// What a streamed run's reader holds.
struct StreamState {
    rx: tmpsc::Receiver<Result<Piece>>,
    process: Arc<Process>,
    deadline: Option<Instant>,
    timeout: Duration,
    _stop_on_drop: CancelOnDrop,
    failed: Option<Error>,
}

/// Stops the job's script when the caller stops waiting for it.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Pool {
    fn submit(&self, job: Job) -> Result<()> {
        let shared = &self.shared;
        let queued = shared.queued.fetch_add(1, Ordering::SeqCst) + 1;
        if queued > shared.idle.load(Ordering::SeqCst) {
            spawn_worker(shared);
        }
        if shared.workers.load(Ordering::SeqCst) == 0 {
            shared.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::new(
                ErrorKind::Unavailable,
                "no JavaScript worker thread could be started",
            ));
        }
        self.tx
            .lock()
            .send(job)
            .map_err(|_| Error::new(ErrorKind::Closed, "the JavaScript program was unloaded"))
    }
}

/// Starts one more worker unless the pool is at its cap.
fn spawn_worker(shared: &Arc<Shared>) {
    let claimed = shared
        .workers
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
            (n < shared.max).then_some(n + 1)
        });
    if claimed.is_err() {
        return;
    }
    let s = shared.clone();
    let started = std::thread::Builder::new()
        .name("weir-javascript".into())
        .stack_size(THREAD_STACK)
        .spawn(move || work(s));
    if let Err(e) = started {
        shared.workers.fetch_sub(1, Ordering::SeqCst);
        tracing::error!("cannot start a JavaScript worker thread: {e}");
    }
}

/// A worker thread: takes jobs until the program is dropped or it has been idle too long.
fn work(shared: Arc<Shared>) {
    let watch = Watch::new(shared.closed.clone());
    let mut engine: Option<Engine> = None;
    // Counted idle before each reply is sent, so a caller that sends its next job right after the
    // reply finds this worker idle and starts no other.
    shared.idle.fetch_add(1, Ordering::SeqCst);
    loop {
        let next = shared.rx.lock().recv_timeout(IDLE_EXIT);
        shared.idle.fetch_sub(1, Ordering::SeqCst);
        let job = match next {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                shared.workers.fetch_sub(1, Ordering::SeqCst);
                // A job sent while this worker was leaving may have counted on it: stay for it.
                if shared.queued.load(Ordering::SeqCst) > 0
                    && shared
                        .workers
                        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                            (n < shared.max).then_some(n + 1)
                        })
                        .is_ok()
                {
                    shared.idle.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                return;
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        shared.queued.fetch_sub(1, Ordering::SeqCst);
        if job.cancel.load(Ordering::SeqCst) || job.reply.is_closed() {
            shared.idle.fetch_add(1, Ordering::SeqCst);
            continue;
        }
        if job.deadline.is_some_and(|d| Instant::now() >= d) {
            shared.idle.fetch_add(1, Ordering::SeqCst);
            job.reply
                .send(Err(timeout_error(Language::Javascript, job.timeout)));
            continue;
        }
        watch.arm(job.deadline, Some(job.cancel.clone()));
        let Job {
            input,
            spread,
            timeout,
            reply,
            ..
        } = job;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let engine = match engine.take() {
                Some(e) => e,
                None => Engine::new(&shared.code, watch.clone())?,
            };
            let out = match &reply {
                Reply::Stream(tx) => {
                    // Blocks this thread while the reader is at its bound: the script waits at its
                    // `yield`. A reader that left fails the send and stops the script.
                    let mut sink = |v: Value| tx.blocking_send(Ok(Piece::Yield(v))).is_ok();
                    engine.call(&input, spread, Some(&mut sink))
                }
                Reply::Once(_) => engine.call(&input, spread, None),
            };
            Ok((engine, out))
        }));
        watch.disarm();
        let outcome = match result {
            Ok(Ok((e, out))) => {
                // A runtime whose script was interrupted or ran out of memory may be left half-way:
                // the next job gets a fresh one.
                if !matches!(out, Err(Failure::Stopped(_) | Failure::OutOfMemory)) {
                    engine = Some(e);
                }
                out
            }
            Ok(Err(failure)) => Err(failure),
            Err(_) => Err(Failure::Panic),
        };
        shared.idle.fetch_add(1, Ordering::SeqCst);
        match outcome {
            Ok(Outcome::Value(v)) => reply.send(Ok(v)),
            // Every value went out already; dropping the sender ends the stream.
            Ok(Outcome::Streamed) => drop(reply),
            Err(f) => reply.send(Err(f.into_error(timeout))),
        }
    }
    shared.workers.fetch_sub(1, Ordering::SeqCst);
}

/// Declares and evaluates the module once, on a thread of its own (the module's top-level code runs
/// under the same deadline as a call), and checks that it exports a default function.
fn check(code: &str, timeout: Option<Duration>) -> Result<(), CompileError> {
    let code = code.to_string();
    let checked = std::thread::Builder::new()
        .name("weir-javascript-check".into())
        .stack_size(THREAD_STACK)
        .spawn(move || {
            let watch = Watch::new(Arc::new(AtomicBool::new(false)));
            watch.arm(timeout.map(|t| Instant::now() + t), None);
            Engine::new(&code, watch).map(drop)
        })
        .map_err(|e| CompileError::Code(format!("cannot start a thread to compile the module: {e}")))?
        .join();
    match checked {
        Ok(Ok(())) => Ok(()),
        Ok(Err(Failure::Stopped(_))) => Err(CompileError::Code(format!(
            "the module's top-level code did not finish within the timeout of {:?}",
            timeout.unwrap_or_default()
        ))),
        Ok(Err(f)) => Err(CompileError::Code(
            f.into_error(timeout.unwrap_or_default()).message().to_string(),
        )),
        Err(_) => Err(CompileError::Code("compiling the module panicked".into())),
    }
}
