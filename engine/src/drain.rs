//! Work that must finish before the host exits: a listener that stops taking requests hands its
//! draining task here, and the host waits for every such task (up to a deadline) at shutdown, so
//! SIGTERM lets in-flight requests finish.

use std::time::Duration;

use parking_lot::Mutex;
use tokio::task::JoinHandle;

static DRAINING: Mutex<Vec<JoinHandle<()>>> = Mutex::new(Vec::new());

/// Registers a task the host waits for before it exits.
pub fn register(task: JoinHandle<()>) {
    let mut d = DRAINING.lock();
    d.retain(|t| !t.is_finished());
    d.push(task);
}

/// Waits for every registered task, for at most `within`; returns how many were still running.
pub async fn wait(within: Duration) -> usize {
    let tasks: Vec<JoinHandle<()>> = std::mem::take(&mut *DRAINING.lock());
    let deadline = tokio::time::Instant::now() + within;
    let mut left = 0;
    for t in tasks {
        if tokio::time::timeout_at(deadline, t).await.is_err() {
            left += 1;
        }
    }
    left
}
