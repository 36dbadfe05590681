//! The observer of a job's process: turns the engine's hooks into NodeTool's event messages in the
//! job's log. A node is `running` from the first session that works for the job to the end of the
//! last one (one `running` and one `completed` per node, however many items pass), edges are counted
//! by atomics and reported coalesced ([`JobObserver::flush_edges`]), outputs and chunks go out as they
//! happen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use parking_lot::Mutex;
use serde_json::json;

use super::log::EventLog;
use crate::error::Error;
use crate::node::OutPort;
use crate::observe::{Observer, Severity};
use crate::process::Process;
use crate::value::Value;

struct Edge {
    counter: Arc<AtomicU64>,
    reported: u64,
}

/// Hooks → events of one job.
pub struct JobObserver {
    job_id: String,
    log: Arc<EventLog>,
    /// Spec kind by node name, for `node_type`.
    kinds: HashMap<String, String>,
    running: Mutex<HashMap<String, usize>>,
    /// Sessions started and not yet finished, over every node; `settled` wakes when it reaches 0.
    live: AtomicUsize,
    settled: tokio::sync::Notify,
    edges: Mutex<IndexMap<String, Edge>>,
}

impl JobObserver {
    pub fn new(job_id: String, log: Arc<EventLog>, kinds: HashMap<String, String>) -> Self {
        JobObserver {
            job_id,
            log,
            kinds,
            running: Mutex::new(HashMap::new()),
            live: AtomicUsize::new(0),
            settled: tokio::sync::Notify::new(),
            edges: Mutex::new(IndexMap::new()),
        }
    }

    /// Waits until every session that worked for the job has reported its end, at most `limit`. A
    /// node sends its last reply a moment before its session ends: the job waits for that end, so
    /// the node's `completed` is in the log before the job's final update closes it.
    pub async fn settled(&self, limit: Duration) {
        let all_ended = async {
            loop {
                let notified = self.settled.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if self.live.load(Ordering::Acquire) == 0 {
                    return;
                }
                notified.await;
            }
        };
        // A session still running after the replies (a node that keeps working) ends with the
        // process: the job does not wait for it longer than `limit`.
        let _ = tokio::time::timeout(limit, all_ended).await;
    }

    fn node_update(&self, node: &str, status: &str, error: Option<&Error>) {
        let kind = self.kinds.get(node).map(String::as_str).unwrap_or_default();
        self.log.push(|seq| {
            let mut e = json!({
                "type": "node_update", "seq": seq, "job_id": self.job_id,
                "node_id": node, "node_name": node, "node_type": kind, "status": status,
            });
            if let Some(err) = error {
                e["error"] = json!(err.to_string());
            }
            e
        });
    }

    /// One `edge_update` per edge whose count moved since the last flush; with `status` `drained`
    /// (the job is over) every edge that carried anything is reported.
    pub fn flush_edges(&self, status: &str) {
        let mut edges = self.edges.lock();
        let last = status == "drained";
        for (id, edge) in edges.iter_mut() {
            let n = edge.counter.load(Ordering::Relaxed);
            if n == edge.reported && !(last && n > 0) {
                continue;
            }
            edge.reported = n;
            self.log.push(|seq| {
                json!({"type": "edge_update", "seq": seq, "job_id": self.job_id,
                       "edge_id": id, "status": status, "counter": n})
            });
        }
    }
}

impl Observer for JobObserver {
    fn node_started(&self, node: &str, _process: &Process) {
        let first = {
            let mut running = self.running.lock();
            let n = running.entry(node.to_string()).or_insert(0);
            *n += 1;
            *n == 1
        };
        self.live.fetch_add(1, Ordering::AcqRel);
        if first {
            self.node_update(node, "running", None);
        }
    }

    fn node_waiting(&self, node: &str, _process: &Process, _reason: &str) {
        self.node_update(node, "waiting", None);
    }

    fn node_resumed(&self, node: &str, _process: &Process) {
        self.node_update(node, "running", None);
    }

    fn node_failed(&self, node: &str, _process: &Process, error: &Error) {
        self.node_update(node, "error", Some(error));
    }

    fn node_finished(&self, node: &str, _process: &Process, error: Option<&Error>) {
        let last = {
            let mut running = self.running.lock();
            match running.get_mut(node) {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n == 0
                }
                None => true,
            }
        };
        if let Some(e) = error {
            self.node_update(node, "error", Some(e));
        } else if last {
            self.node_update(node, "completed", None);
        }
        // After the update is in the log: a job waiting in `settled` may close the log next.
        if self.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settled.notify_waiters();
        }
    }

    fn edge(&self, from: &str, port: OutPort, to: &str, in_port: usize) -> Option<Arc<AtomicU64>> {
        let to_port = if in_port == 0 {
            "in".to_string()
        } else {
            format!("in[{in_port}]")
        };
        let id = format!("{from}:{port}->{to}:{to_port}");
        let mut edges = self.edges.lock();
        let edge = edges.entry(id).or_insert_with(|| Edge {
            counter: Arc::new(AtomicU64::new(0)),
            reported: 0,
        });
        Some(edge.counter.clone())
    }

    fn output(&self, node: &str, port: OutPort, value: &Value) {
        self.log.push(|seq| {
            json!({"type": "output_update", "seq": seq, "job_id": self.job_id,
                   "node_id": node, "node_name": node, "output_name": port.to_string(),
                   "value": value.to_json(), "output_type": value.type_name(), "metadata": {}})
        });
    }

    fn log(&self, node: Option<&str>, severity: Severity, message: &str) {
        let node = node.unwrap_or_default();
        self.log.push(|seq| {
            json!({"type": "log_update", "seq": seq, "job_id": self.job_id,
                   "node_id": node, "node_name": node, "content": message,
                   "severity": severity.as_str()})
        });
    }

    fn chunk(&self, node: &str, content: &Value, done: bool) {
        let content = match content {
            Value::String(s) => json!(&**s),
            other => other.to_json(),
        };
        self.log.push(|seq| {
            json!({"type": "chunk", "seq": seq, "job_id": self.job_id, "node_id": node,
                   "content_type": "text", "content": content, "done": done})
        });
    }

    fn progress(&self, node: &str, progress: u64, total: u64) {
        self.log.push(|seq| {
            json!({"type": "node_progress", "seq": seq, "job_id": self.job_id, "node_id": node,
                   "progress": progress, "total": total, "chunk": ""})
        });
    }
}
