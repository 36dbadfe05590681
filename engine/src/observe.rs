//! Watching a process at work: an [`Observer`] attached to a root process (and so to all its
//! children) hears when a node starts and finishes work for it, how many packets cross each edge,
//! what reaches an unconnected out port, warnings, progress and chunks. Jobs use it to make their
//! events (`job/`); a process without an observer pays one branch per hook.
//!
//! Edge counts are not reported packet by packet: the observer hands out one counter per edge (an
//! atomic the sender bumps), and reads the counters when it likes, so edge events can be coalesced.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use crate::error::Error;
use crate::node::OutPort;
use crate::process::Process;
use crate::value::Value;

/// How serious a log line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Hooks called from the sessions of every node working for an observed process. They run on the
/// engine's hot path: keep them short and never block.
pub trait Observer: Send + Sync + 'static {
    /// `node` starts working for `process` (a session begins).
    fn node_started(&self, _node: &str, _process: &Process) {}
    /// `node` waits for something shared (a GPU) before it can go on.
    fn node_waiting(&self, _node: &str, _process: &Process, _reason: &str) {}
    /// `node` got what it waited for and goes on.
    fn node_resumed(&self, _node: &str, _process: &Process) {}
    /// A handler of `node` failed with `error` (the error then goes to `error` or into the reply).
    fn node_failed(&self, _node: &str, _process: &Process, _error: &Error) {}
    /// `node` is done with `process`: every input ended and every reply was sent, or it gave up
    /// with `error`.
    fn node_finished(&self, _node: &str, _process: &Process, _error: Option<&Error>) {}
    /// The counter of the edge `from`:`port` → `to`:in[`in_port`]; the sender adds one per packet.
    fn edge(&self, _from: &str, _port: OutPort, _to: &str, _in_port: usize) -> Option<Arc<AtomicU64>> {
        None
    }
    /// `value` reached `port` of `node`, which leads nowhere.
    fn output(&self, _node: &str, _port: OutPort, _value: &Value) {}
    /// A log line of the process (warnings about unpaired inputs among them).
    fn log(&self, _node: Option<&str>, _severity: Severity, _message: &str) {}
    /// A piece of a streamed result (a token).
    fn chunk(&self, _node: &str, _content: &Value, _done: bool) {}
    /// How far `node` has got.
    fn progress(&self, _node: &str, _progress: u64, _total: u64) {}
}
