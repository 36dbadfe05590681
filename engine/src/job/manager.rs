//! The job manager. A job is one observed root process started by writing inputs into the in ports of
//! one or more entry nodes of a namespace; it runs until every entry's reply stream has ended
//! (`completed`), a reply fails (`failed`), or it is cancelled (`cancelled`: the process is cancelled,
//! which stops every session working for it). Each job keeps an [`EventLog`]; finished jobs are kept
//! for a retention window, then forgotten.
//!
//! An entry may stay open after its first inputs: [`Job::send_input`] feeds it more (NodeTool's
//! `stream_input`) until [`Job::end_input`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use indexmap::IndexMap;
use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::log::{Cursor, EventLog};
use super::observer::JobObserver;
use crate::call::Call;
use crate::error::{Error, ErrorKind};
use crate::lane::Frame;
use crate::process::Process;
use crate::slot::NodeSlot;
use crate::value::Value;

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobStatus::Completed | JobStatus::Failed | JobStatus::Cancelled
        )
    }
}

/// A job request's mistakes, named for the client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    #[error("job {job}: no entry node {node:?} takes streamed input (it was not opened for streaming, or its input has ended)")]
    NoOpenInput { job: String, node: String },
    #[error("job {job}: it has ended ({status})")]
    Ended { job: String, status: &'static str },
}

/// One entry of a job: a node's in port, what to write into it first, and whether it stays open.
pub struct JobEntry {
    pub node: String,
    pub slot: Arc<NodeSlot>,
    pub port: usize,
    pub inputs: Vec<Value>,
    /// Keep the input open for [`Job::send_input`] until [`Job::end_input`].
    pub open: bool,
}

/// Settings of the job manager.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Events kept per job.
    pub log_capacity: usize,
    /// How long a finished job stays listed.
    pub retention: Duration,
    /// How often edge counts are reported while a job runs.
    pub edge_interval: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            log_capacity: 10_000,
            retention: Duration::from_secs(600),
            edge_interval: Duration::from_millis(100),
        }
    }
}

struct Outcome {
    status: JobStatus,
    finished: SystemTime,
    finished_at: Instant,
    result: Option<serde_json::Value>,
    error: Option<String>,
}

/// One job.
pub struct Job {
    id: Uuid,
    namespace: String,
    created: SystemTime,
    started: Instant,
    log: Arc<EventLog>,
    process: Arc<Process>,
    status: Mutex<JobStatus>,
    outcome: Mutex<Option<Outcome>>,
    inputs: Mutex<HashMap<String, mpsc::Sender<Value>>>,
    done: tokio::sync::Notify,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("namespace", &self.namespace)
            .field("status", &*self.status.lock())
            .finish()
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Job {
    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn status(&self) -> JobStatus {
        *self.status.lock()
    }

    pub fn process(&self) -> &Arc<Process> {
        &self.process
    }

    /// The job as `GET /v1/jobs/{id}` shows it.
    pub fn info(&self) -> serde_json::Value {
        let status = self.status();
        let outcome = self.outcome.lock();
        json!({
            "id": self.id.to_string(),
            "job_type": "workflow",
            "workflow_id": self.namespace,
            "namespace": self.namespace,
            "status": status.as_str(),
            "started_at": rfc3339(self.created),
            "finished_at": outcome.as_ref().map(|o| rfc3339(o.finished)),
            "result": outcome.as_ref().and_then(|o| o.result.clone()),
            "error": outcome.as_ref().and_then(|o| o.error.clone()),
            "events": self.log.last_seq(),
        })
    }

    /// The job's events after `after` (0 for all); the cursor ends after the job's last event.
    pub fn events(&self, after: u64) -> Cursor {
        self.log.cursor(after)
    }

    pub fn log(&self) -> &Arc<EventLog> {
        &self.log
    }

    /// Cancels the job: every task working for it stops. Cancelling a finished job does nothing.
    pub fn cancel(&self) {
        if self.status().is_final() {
            return;
        }
        self.process.cancel();
    }

    /// Writes `value` into the open input of entry `node`.
    pub async fn send_input(&self, node: &str, value: Value) -> Result<(), JobError> {
        let tx = self.inputs.lock().get(node).cloned();
        let Some(tx) = tx else {
            return Err(self.no_input(node));
        };
        tx.send(value).await.map_err(|_| self.no_input(node))
    }

    /// Ends the open input of entry `node`.
    pub fn end_input(&self, node: &str) -> Result<(), JobError> {
        match self.inputs.lock().remove(node) {
            Some(_) => Ok(()),
            None => Err(self.no_input(node)),
        }
    }

    fn no_input(&self, node: &str) -> JobError {
        let status = self.status();
        if status.is_final() {
            return JobError::Ended {
                job: self.id.to_string(),
                status: status.as_str(),
            };
        }
        JobError::NoOpenInput {
            job: self.id.to_string(),
            node: node.to_string(),
        }
    }

    /// Waits for the job to end, its last event in its log, and returns how it ended.
    pub async fn wait(&self) -> JobStatus {
        loop {
            let notified = self.done.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let s = self.status();
            // The status turns final a moment before the last event is logged: wait for both, so
            // the log read after this is whole.
            if s.is_final() && self.log.is_closed() {
                return s;
            }
            notified.await;
        }
    }

    fn job_update(&self, status: JobStatus, extra: serde_json::Value) -> serde_json::Value {
        let mut e = json!({
            "type": "job_update", "job_id": self.id.to_string(), "workflow_id": self.namespace,
            "status": status.as_str(),
        });
        if let (Some(e), serde_json::Value::Object(x)) = (e.as_object_mut(), extra) {
            e.extend(x);
        }
        e
    }

    /// Records the end once: status, outcome and the final `job_update`, which closes the log.
    fn finish(&self, status: JobStatus, result: Option<serde_json::Value>, error: Option<String>) {
        {
            let mut s = self.status.lock();
            if s.is_final() {
                return;
            }
            *s = status;
        }
        let duration = self.started.elapsed().as_secs_f64();
        *self.outcome.lock() = Some(Outcome {
            status,
            finished: SystemTime::now(),
            finished_at: Instant::now(),
            result: result.clone(),
            error: error.clone(),
        });
        let mut extra = json!({"duration": duration});
        if let Some(r) = result {
            extra["result"] = r;
        }
        if let Some(e) = error {
            extra["error"] = json!(e);
        }
        let event = self.job_update(status, extra);
        self.log.close_with(|seq| {
            let mut e = event;
            e["seq"] = json!(seq);
            e
        });
        self.inputs.lock().clear();
        self.done.notify_waiters();
    }

    fn finished_before(&self, cutoff: Instant) -> bool {
        self.outcome
            .lock()
            .as_ref()
            .is_some_and(|o| o.status.is_final() && o.finished_at < cutoff)
    }
}

/// Every job of a host.
#[derive(Clone, Default)]
pub struct Jobs {
    config: Arc<JobsConfig>,
    jobs: Arc<Mutex<IndexMap<Uuid, Arc<Job>>>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs")
            .field("jobs", &self.jobs.lock().len())
            .finish()
    }
}

impl Jobs {
    pub fn new(config: JobsConfig) -> Self {
        Jobs {
            config: Arc::new(config),
            jobs: Arc::default(),
        }
    }

    /// Starts a job in `namespace` through `entries`; `kinds` maps node names to spec kinds for the
    /// events. Returns at once; the job runs on the runtime.
    pub fn start(&self, namespace: &str, entries: Vec<JobEntry>, kinds: HashMap<String, String>) -> Arc<Job> {
        self.prune();
        let id = Uuid::now_v7();
        let log = Arc::new(EventLog::new(self.config.log_capacity));
        let observer = Arc::new(JobObserver::new(id.to_string(), log.clone(), kinds));
        let process = Process::observed(observer.clone());
        let job = Arc::new(Job {
            id,
            namespace: namespace.to_string(),
            created: SystemTime::now(),
            started: Instant::now(),
            log,
            process,
            status: Mutex::new(JobStatus::Queued),
            outcome: Mutex::new(None),
            inputs: Mutex::new(HashMap::new()),
            done: tokio::sync::Notify::new(),
        });
        job.log
            .push(|seq| with_seq(job.job_update(JobStatus::Queued, json!({})), seq));
        // Open inputs take values from the moment the job exists.
        let entries = entries
            .into_iter()
            .map(|e| {
                let rx = e.open.then(|| {
                    let (tx, rx) = mpsc::channel(64);
                    job.inputs.lock().insert(e.node.clone(), tx);
                    rx
                });
                (e, rx)
            })
            .collect();
        self.jobs.lock().insert(id, job.clone());
        tokio::spawn(drive(job.clone(), entries, observer, self.config.clone()));
        job
    }

    pub fn get(&self, id: Uuid) -> Option<Arc<Job>> {
        self.prune();
        self.jobs.lock().get(&id).cloned()
    }

    /// Every job kept, oldest first.
    pub fn list(&self) -> Vec<Arc<Job>> {
        self.prune();
        self.jobs.lock().values().cloned().collect()
    }

    fn prune(&self) {
        let Some(cutoff) = Instant::now().checked_sub(self.config.retention) else {
            return;
        };
        self.jobs.lock().retain(|_, j| !j.finished_before(cutoff));
    }
}

fn with_seq(mut e: serde_json::Value, seq: u64) -> serde_json::Value {
    e["seq"] = json!(seq);
    e
}

/// How long a job whose replies are all in waits for its sessions to report their end.
const SETTLE: Duration = Duration::from_millis(200);

/// Runs a job: opens its entries, reads their replies, reports edges, records the end.
async fn drive(
    job: Arc<Job>,
    entries: Vec<(JobEntry, Option<mpsc::Receiver<Value>>)>,
    observer: Arc<JobObserver>,
    config: Arc<JobsConfig>,
) {
    *job.status.lock() = JobStatus::Running;
    job.log
        .push(|seq| with_seq(job.job_update(JobStatus::Running, json!({})), seq));
    let mut tasks = Vec::new();
    for (entry, rx) in entries {
        let call = match Call::open(&entry.slot, &job.process, entry.port) {
            Ok(c) => c,
            Err(e) => {
                let e = e.context(format!("entry {:?}", entry.node));
                job.process.exit(Some(e.clone()));
                observer.flush_edges("drained");
                job.finish(JobStatus::Failed, None, Some(e.to_string()));
                return;
            }
        };
        let node = entry.node.clone();
        tasks.push(tokio::spawn(async move {
            (node, run_entry(call, entry.inputs, rx).await)
        }));
    }
    let ticker = {
        let observer = observer.clone();
        let every = config.edge_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                observer.flush_edges("active");
            }
        })
    };
    let all = futures::future::join_all(tasks);
    let outcome = tokio::select! {
        biased;
        _ = job.process.done() => None,
        results = all => Some(results),
    };
    ticker.abort();
    let (status, result, error) = match outcome {
        None => {
            let err = job.process.ended_error();
            let status = if err.kind() == ErrorKind::Cancelled {
                JobStatus::Cancelled
            } else {
                JobStatus::Failed
            };
            (status, None, Some(err.to_string()))
        }
        Some(results) => {
            let mut map = serde_json::Map::new();
            let mut failure: Option<Error> = None;
            for r in results {
                match r {
                    Ok((node, Ok(values))) => {
                        let v = match values.len() {
                            0 => serde_json::Value::Null,
                            1 => values[0].to_json(),
                            _ => serde_json::Value::Array(values.iter().map(Value::to_json).collect()),
                        };
                        map.insert(node, v);
                    }
                    Ok((node, Err(e))) => {
                        failure.get_or_insert(e.context(format!("entry {node:?}")));
                    }
                    Err(join) => {
                        failure.get_or_insert(Error::new(ErrorKind::Internal, join.to_string()));
                    }
                }
            }
            // Every reply is in; the sessions that sent them end a moment later.
            observer.settled(SETTLE).await;
            match failure {
                Some(e) => {
                    job.process.exit(Some(e.clone()));
                    (JobStatus::Failed, None, Some(e.to_string()))
                }
                None => {
                    job.process.exit(None);
                    (JobStatus::Completed, Some(serde_json::Value::Object(map)), None)
                }
            }
        }
    };
    observer.flush_edges("drained");
    job.finish(status, result, error);
}

/// Writes an entry's inputs (then more from `rx` while it is open) and gathers its reply values.
async fn run_entry(
    mut call: Call,
    inputs: Vec<Value>,
    mut rx: Option<mpsc::Receiver<Value>>,
) -> Result<Vec<Value>, Error> {
    for v in inputs {
        call.send(v).await?;
    }
    if rx.is_none() {
        call.close();
    }
    let mut values = Vec::new();
    enum Step {
        Input(Option<Value>),
        Frame(Option<Frame>),
    }
    loop {
        // Frames of a reply that has ended but not been read count: the loop must read them.
        let owed = call.owes_frames();
        let step = match (&mut rx, owed) {
            (None, false) => return Ok(values),
            (None, true) => Step::Frame(call.frame().await),
            (Some(r), false) => Step::Input(r.recv().await),
            (Some(r), true) => tokio::select! {
                v = r.recv() => Step::Input(v),
                f = call.frame() => Step::Frame(f),
            },
        };
        match step {
            Step::Input(Some(v)) => call.send(v).await?,
            Step::Input(None) => {
                rx = None;
                call.close();
            }
            Step::Frame(Some(Frame::Item(v) | Frame::One(v))) => values.push(v),
            Step::Frame(Some(Frame::End)) => {}
            Step::Frame(Some(Frame::Err(e))) => return Err(e),
            Step::Frame(None) => {
                if rx.is_none() {
                    return Ok(values);
                }
            }
        }
    }
}
