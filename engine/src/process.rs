//! Processes: one execution (an HTTP request, a job, an `init` call). A process has an id (UUID v7), an
//! optional parent, a copy-on-write store its children can read, exit hooks that run in reverse order,
//! and a cancellation signal that reaches every task working for it. Exiting a parent ends its children
//! with the same cause.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::{Error, ErrorKind};
use crate::observe::{Observer, Severity};
use crate::value::Value;
use crate::wake::Wake;

/// A process id: a UUID v7, so ids sort by start time.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcessId(uuid::Uuid);

impl std::hash::Hash for ProcessId {
    /// The low 64 bits: random in a UUID v7, so they spread well on their own.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.0.as_u64_pair().1);
    }
}

/// A hasher for maps keyed by [`ProcessId`]: its hash is already random bits, so SipHash's work is
/// wasted on the per-packet path.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by process id.
pub(crate) type IdMap<V> = HashMap<ProcessId, V, std::hash::BuildHasherDefault<IdHasher>>;

impl ProcessId {
    pub fn new() -> Self {
        ProcessId(uuid::Uuid::now_v7())
    }

    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl Default for ProcessId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for ProcessId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A watching session's wake-up, if it still serves the process it watched (a session that has
/// moved on to another process is left alone).
fn serving((wake, serve): &(Weak<Wake>, u64)) -> Option<Arc<Wake>> {
    wake.upgrade()
        .filter(|w| w.serving.load(Ordering::Acquire) == *serve)
}

type Hook = Box<dyn FnOnce(Option<&Error>) + Send>;

/// One execution. Shared as `Arc<Process>` by every task that works for it.
pub struct Process {
    id: ProcessId,
    parent: Option<Arc<Process>>,
    /// Set once the process has ended: tasks working for it stop.
    done: AtomicBool,
    /// Wakes the futures of [`Process::done`].
    ended: Notify,
    /// The sessions working for the process, woken when it ends (cheaper than a future each), each
    /// with the number of the serve it was working on.
    watchers: Mutex<Vec<(Weak<Wake>, u64)>>,
    store: Mutex<HashMap<String, Value>>,
    hooks: Mutex<Vec<Hook>>,
    children: Mutex<Vec<Weak<Process>>>,
    exit: OnceLock<Option<Error>>,
    warnings: Mutex<Vec<String>>,
    /// Who watches this process and its children (a job), if anyone.
    observer: Option<Arc<dyn Observer>>,
}

impl fmt::Debug for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Process")
            .field("id", &self.id)
            .field("parent", &self.parent.as_ref().map(|p| p.id))
            .field("exit", &self.exit.get())
            .finish()
    }
}

impl Process {
    /// A new root process.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::build(None, None))
    }

    /// A new root process watched by `observer`, as its children will be.
    pub fn observed(observer: Arc<dyn Observer>) -> Arc<Self> {
        Arc::new(Self::build(None, Some(observer)))
    }

    fn build(parent: Option<Arc<Process>>, observer: Option<Arc<dyn Observer>>) -> Self {
        Process {
            observer,
            id: ProcessId::new(),
            parent,
            done: AtomicBool::new(false),
            ended: Notify::new(),
            watchers: Mutex::new(Vec::new()),
            store: Mutex::new(HashMap::new()),
            hooks: Mutex::new(Vec::new()),
            children: Mutex::new(Vec::new()),
            exit: OnceLock::new(),
            warnings: Mutex::new(Vec::new()),
        }
    }

    /// A child process: it sees this process's store (copy on write) and ends when this one does.
    pub fn fork(self: &Arc<Self>) -> Arc<Self> {
        let child = Arc::new(Self::build(Some(self.clone()), self.observer.clone()));
        let mut children = self.children.lock();
        children.retain(|c| c.strong_count() > 0);
        children.push(Arc::downgrade(&child));
        drop(children);
        if let Some(cause) = self.exit.get() {
            child.exit(cause.clone());
        }
        child
    }

    pub fn id(&self) -> ProcessId {
        self.id
    }

    pub fn parent(&self) -> Option<&Arc<Process>> {
        self.parent.as_ref()
    }

    /// Reads a key: this process's own value, else its parent's.
    pub fn get(&self, key: &str) -> Option<Value> {
        if let Some(v) = self.store.lock().get(key) {
            return Some(v.clone());
        }
        self.parent.as_ref().and_then(|p| p.get(key))
    }

    /// Writes a key in this process only; the parent's value is left as it was.
    pub fn set(&self, key: impl Into<String>, value: Value) {
        self.store.lock().insert(key.into(), value);
    }

    /// Registers a hook run when the process exits; hooks run in reverse order of registration. A hook
    /// registered after the exit runs at once.
    pub fn on_exit(&self, hook: impl FnOnce(Option<&Error>) + Send + 'static) {
        let mut hooks = self.hooks.lock();
        match self.exit.get() {
            Some(cause) => {
                drop(hooks);
                hook(cause.as_ref());
            }
            None => hooks.push(Box::new(hook)),
        }
    }

    /// Ends the process: `None` for success, an error otherwise. Runs the exit hooks (last registered
    /// first), ends the children with the same cause, and stops every task still working for it.
    /// Only the first call counts.
    pub fn exit(&self, cause: Option<Error>) {
        if self.exit.set(cause.clone()).is_err() {
            return;
        }
        let children: Vec<_> = self
            .children
            .lock()
            .drain(..)
            .filter_map(|c| c.upgrade())
            .collect();
        for child in children {
            child.exit(cause.clone());
        }
        let hooks: Vec<Hook> = std::mem::take(&mut *self.hooks.lock());
        for hook in hooks.into_iter().rev() {
            hook(cause.as_ref());
        }
        self.done.store(true, Ordering::SeqCst);
        self.ended.notify_waiters();
        let watchers = std::mem::take(&mut *self.watchers.lock());
        for w in watchers.iter().filter_map(serving) {
            w.notify();
        }
    }

    /// Has `wake` notified when the process ends. The caller checks [`Self::is_done`] after this, so
    /// an end that comes first is not missed.
    pub(crate) fn watch(&self, wake: &Arc<Wake>) {
        let serve = wake.serving.load(Ordering::Acquire);
        let mut watchers = self.watchers.lock();
        if watchers.capacity() == 0 {
            // A request passes through a handful of nodes: room for them at once.
            watchers.reserve(8);
        } else if watchers.len() >= 16 && watchers.len().is_power_of_two() {
            watchers.retain(|w| serving(w).is_some());
        }
        watchers.push((Arc::downgrade(wake), serve));
    }

    /// Cancels the process: an exit with a `cancelled` error.
    pub fn cancel(&self) {
        self.exit(Some(Error::new(
            ErrorKind::Cancelled,
            format!("process {} cancelled", self.id),
        )));
    }

    /// The exit cause once the process has exited: `Some(None)` for success.
    pub fn exit_cause(&self) -> Option<Option<&Error>> {
        self.exit.get().map(|c| c.as_ref())
    }

    pub fn is_done(&self) -> bool {
        self.done.load(Ordering::SeqCst)
    }

    /// Completes when the process has ended (exit, cancel, or its parent's end).
    pub async fn done(&self) {
        loop {
            let notified = self.ended.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the flag is read, so an end in between still wakes it.
            notified.as_mut().enable();
            if self.is_done() {
                return;
            }
            notified.await;
        }
    }

    /// The error tasks report when they are stopped because the process ended.
    pub fn ended_error(&self) -> Error {
        match self.exit.get() {
            Some(Some(e)) => e.clone(),
            _ => match self.parent.as_ref() {
                Some(p) if p.is_done() => p.ended_error(),
                _ => Error::new(ErrorKind::Cancelled, format!("process {} ended", self.id)),
            },
        }
    }

    /// Records a warning (unpaired inputs, dropped items) for whoever watches the process.
    pub fn warn(&self, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!(process = %self.id, "{message}");
        if let Some(o) = &self.observer {
            o.log(None, Severity::Warning, &message);
        }
        self.warnings.lock().push(message);
    }

    /// The observer watching this process, if any.
    pub fn observer(&self) -> Option<&Arc<dyn Observer>> {
        self.observer.as_ref()
    }

    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn child_reads_parent_and_writes_its_own_copy() {
        let parent = Process::new();
        parent.set("a", Value::from(1));
        let child = parent.fork();
        assert_eq!(child.get("a"), Some(Value::from(1)));
        child.set("a", Value::from(2));
        assert_eq!(child.get("a"), Some(Value::from(2)));
        assert_eq!(parent.get("a"), Some(Value::from(1)));
        parent.set("b", Value::from(3));
        assert_eq!(child.get("b"), Some(Value::from(3)));
    }

    #[test]
    fn hooks_run_in_reverse_order_once() {
        let p = Process::new();
        let log = Arc::new(Mutex::new(Vec::new()));
        for i in 0..3 {
            let log = log.clone();
            p.on_exit(move |_| log.lock().push(i));
        }
        p.exit(None);
        p.exit(Some(Error::node("late")));
        assert_eq!(*log.lock(), vec![2, 1, 0]);
        assert_eq!(p.exit_cause(), Some(None));
        let log2 = log.clone();
        p.on_exit(move |_| log2.lock().push(9));
        assert_eq!(*log.lock(), vec![2, 1, 0, 9]);
    }

    #[test]
    fn parent_exit_ends_children_with_the_same_cause() {
        let parent = Process::new();
        let child = parent.fork();
        let grandchild = child.fork();
        let seen = Arc::new(AtomicUsize::new(0));
        let s = seen.clone();
        grandchild.on_exit(move |cause| {
            assert_eq!(cause.map(|e| e.message().to_string()), Some("boom".to_string()));
            s.fetch_add(1, Ordering::SeqCst);
        });
        parent.exit(Some(Error::node("boom")));
        assert!(child.is_done() && grandchild.is_done());
        assert_eq!(
            grandchild.exit_cause().flatten().map(|e| e.message()),
            Some("boom")
        );
        assert_eq!(seen.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn child_exit_leaves_parent_running() {
        let parent = Process::new();
        let child = parent.fork();
        child.cancel();
        assert!(child.is_done());
        assert!(!parent.is_done());
        assert_eq!(
            child.exit_cause().flatten().map(|e| e.kind()),
            Some(ErrorKind::Cancelled)
        );
    }

    #[test]
    fn fork_of_an_ended_process_is_ended() {
        let parent = Process::new();
        parent.exit(None);
        assert!(parent.fork().is_done());
    }
}
