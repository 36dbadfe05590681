//! A session's wake-up: one flag and one waker shared by everything that can give a session work
//! (reply frames or an error on one of its out lanes, a new lane of a process). A notifier wakes the
//! session only when the flag goes from clear to set, so a burst of replies costs one wake and one
//! atomic each; the session clears the flag before it looks at its lanes, so nothing that arrives
//! while it looks is missed. When the flag is clear the session skips its out lanes altogether: no
//! lock is taken on a lane that has nothing new.
//!
//! Ordering: a notifier publishes its change (a lane's `ready` flag, an attach's `arrived`) and then
//! swaps the flag; the session swaps the flag clear and then reads the changes. Both swaps are
//! read-modify-writes of one atomic, so either the session sees the change or the notifier sees the
//! cleared flag and wakes it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::Waker;

use parking_lot::Mutex;

pub(crate) struct Wake {
    flag: AtomicBool,
    waker: Mutex<Option<Waker>>,
    /// Counts the processes the session has served: a process that ends wakes the session only if
    /// it is still serving that process (see [`crate::process::Process::watch`]).
    pub(crate) serving: AtomicU64,
}

impl Wake {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Wake {
            // Set: the first look at the lanes is never skipped.
            flag: AtomicBool::new(true),
            waker: Mutex::new(None),
            serving: AtomicU64::new(0),
        })
    }

    /// Something changed for the session: wake it, unless a wake is already owed. Always a
    /// read-modify-write, so the session's [`Self::take`] and this cannot both miss each other's
    /// write: whoever changed something (a lane's `ready`, an attach's `arrived`) before calling this
    /// is seen by a session that takes the flag after it.
    pub(crate) fn notify(&self) {
        if !self.flag.swap(true, Ordering::AcqRel) {
            if let Some(w) = self.waker.lock().as_ref() {
                w.wake_by_ref();
            }
        }
    }

    /// True when something changed since the last call; clears the flag.
    pub(crate) fn take(&self) -> bool {
        self.flag.load(Ordering::Acquire) && self.flag.swap(false, Ordering::AcqRel)
    }

    /// Makes `waker` the one woken by the next notice. `cache` is the caller's copy of the waker it
    /// registered last, so an unchanged waker (the usual case: a session is one task) costs no lock.
    pub(crate) fn register(&self, cache: &mut Option<Waker>, waker: &Waker) {
        if cache.as_ref().is_some_and(|w| w.will_wake(waker)) {
            return;
        }
        *self.waker.lock() = Some(waker.clone());
        *cache = Some(waker.clone());
    }
}
