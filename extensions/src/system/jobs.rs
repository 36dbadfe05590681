//! The `job` kind: the job API of the `system` namespace as a workflow step (DESIGN.md, Interfaces),
//! over the host's job manager (`weir_engine::job`). `action`:
//! - `create`: `{namespace, node, port?, input?}` starts a job through `node`'s in port (`in` unless
//!   `port` names another, `in[N]`) and answers `{id}` at once;
//! - `read`: `{id}` answers that job (or null), `{}` every job within reach;
//! - `cancel`: `{id}` cancels it and answers the job;
//! - `events`: `{id, after?}` streams the job's events after sequence number `after` (one packet
//!   each, as they come), ending after the job's last; events already dropped from the job's log
//!   are announced by one `{type: "replay_incomplete", asked, first_kept}`;
//! - `run`: NodeTool's `POST /api/workflows/{id}/run` (`jobs_run.rs`);
//! - `websocket`: takes a listener's upgrade request and speaks NodeTool's WebSocket command
//!   protocol on the connection (`jobs_ws.rs`).
//!
//! Reach: as `syscall`: a `job` node in namespace X reaches X's jobs, one in `system` those of the
//! request's token scope (or every namespace).

use std::collections::HashMap;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::job::{Item, Job, JobEntry};
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, OutPort, Process, Result, Value};

use super::SystemServices;

/// The actions of `job`.
pub const ACTIONS: &[&str] = &["create", "read", "cancel", "events", "run", "websocket"];

/// The `job` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobFields {
    /// `create`, `read`, `cancel`, `events`, `run` (NodeTool's run, `jobs_run.rs`) or `websocket`
    /// (NodeTool's WebSocket protocol, `jobs_ws.rs`).
    pub action: String,
}

/// The codec of `job`, holding the host's services.
#[derive(Debug, Clone)]
pub struct JobKind {
    pub services: Arc<SystemServices>,
}

impl Kind for JobKind {
    const KIND: &'static str = "job";
    type Fields = JobFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Starts, reads, cancels a job of the host, or streams its events (`action`)."
    }

    fn compile(&self, fields: JobFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let action = fields.action.trim().to_ascii_lowercase();
        if !ACTIONS.contains(&action.as_str()) {
            return Err(FieldIssue::new(
                "action",
                format!(
                    "unknown action {:?}; one of: {}",
                    fields.action,
                    ACTIONS.join(", ")
                ),
            ));
        }
        Ok(BoxedNode::new(JobNode {
            api: JobsApi {
                services: self.services.clone(),
                namespace: cx.namespace.to_string(),
            },
            action,
            stop: tokio_util::sync::CancellationToken::new(),
        }))
    }
}

/// A compiled `job` node.
pub struct JobNode {
    api: JobsApi,
    action: String,
    /// Closes the WebSocket connections (`websocket`) when the node is unloaded.
    stop: tokio_util::sync::CancellationToken,
}

pub(crate) fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::UnsupportedValue, message)
}

/// `input[key]`, null as absent; a list (a query parameter: `?after=3` is `["3"]`) as its last item.
pub(crate) fn field<'a>(input: &'a Value, key: &str) -> Option<&'a Value> {
    let v = match input {
        Value::Map(m) => m.get(key)?,
        _ => return None,
    };
    let v = match v {
        Value::List(l) if key != "input" => l.last()?,
        other => other,
    };
    (!matches!(v, Value::Null)).then_some(v)
}

pub(crate) fn text(input: &Value, key: &str) -> Result<Option<String>> {
    match field(input, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.to_string())),
        Some(other) => Err(bad(format!(
            "field \"{key}\": expected a string, got {}",
            other.type_name()
        ))),
    }
}

pub(crate) fn number(input: &Value, key: &str) -> Result<Option<u64>> {
    match field(input, key) {
        None => Ok(None),
        Some(Value::Int(i)) if *i >= 0 => Ok(Some(*i as u64)),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("field \"{key}\": expected a number, got {s:?}"))),
        Some(other) => Err(bad(format!(
            "field \"{key}\": expected a number, got {}",
            other.type_name()
        ))),
    }
}

/// What the job actions share: the host's jobs, and the reach of the node's namespace.
#[derive(Clone)]
pub(crate) struct JobsApi {
    pub services: Arc<SystemServices>,
    /// The namespace of the node serving the request.
    pub namespace: String,
}

/// One entry of a job to start: a node, its in port, what to write first, whether it stays open.
pub(crate) struct EntryRequest {
    pub node: String,
    pub port: usize,
    pub inputs: Vec<Value>,
    pub open: bool,
}

/// `in` or `in[N]` as a port index.
pub(crate) fn in_port(namespace: &str, p: Option<&str>) -> Result<usize> {
    match p {
        None | Some("in") => Ok(0),
        Some(p) => p
            .strip_prefix("in[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| {
                bad(format!(
                    "namespace \"{namespace}\": field \"port\": {p:?} is not an in port (in, in[N])"
                ))
            }),
    }
}

impl JobsApi {
    pub fn may_reach(&self, process: &Process, namespace: &str) -> bool {
        super::syscall::reach(&self.namespace, process).is_none_or(|r| r.iter().any(|n| n == namespace))
    }

    /// The job `id`, within reach.
    pub fn find(&self, process: &Process, id: &str) -> Result<Arc<Job>> {
        let uuid =
            uuid::Uuid::parse_str(id).map_err(|_| bad(format!("field \"id\": {id:?} is not a job id")))?;
        match self.services.jobs.get(uuid) {
            Some(job) if self.may_reach(process, job.namespace()) => Ok(job),
            _ => Err(Error::new(ErrorKind::NotFound, format!("job {id}: not found"))),
        }
    }

    /// Starts a job in `namespace` through `entries` (at least one), checking reach and names.
    pub async fn start(
        &self,
        process: &Process,
        namespace: &str,
        entries: Vec<EntryRequest>,
    ) -> Result<Arc<Job>> {
        if !self.may_reach(process, namespace) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("namespace \"{namespace}\": out of this request's reach"),
            ));
        }
        if entries.is_empty() {
            return Err(bad(format!(
                "namespace \"{namespace}\": no entry node given: name at least one node to run"
            )));
        }
        let Some(table) = self.services.table(namespace) else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("namespace \"{namespace}\": not running on this host"),
            ));
        };
        let t = table.lock().await;
        let kinds: HashMap<String, String> = t.kinds();
        let mut job_entries = Vec::with_capacity(entries.len());
        for e in entries {
            let Some(slot) = t.slot(&e.node) else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "namespace \"{namespace}\": field \"node\": no spec named \"{}\"",
                        e.node
                    ),
                ));
            };
            job_entries.push(JobEntry {
                node: e.node,
                slot,
                port: e.port,
                inputs: e.inputs,
                open: e.open,
            });
        }
        drop(t);
        Ok(self.services.jobs.start(namespace, job_entries, kinds))
    }
}

impl JobNode {
    /// The job named by `input.id`, within reach.
    fn job(&self, process: &Process, input: &Value) -> Result<Arc<Job>> {
        let Some(id) = text(input, "id")? else {
            return Err(bad("field \"id\": a job id is required"));
        };
        self.api.find(process, &id)
    }

    async fn create(&self, process: &Process, input: &Value) -> Result<Value> {
        let namespace = text(input, "namespace")?.unwrap_or_else(|| self.api.namespace.clone());
        if !self.api.may_reach(process, &namespace) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("namespace \"{namespace}\": out of this request's reach"),
            ));
        }
        let Some(node) = text(input, "node")? else {
            return Err(bad(format!(
                "namespace \"{namespace}\": field \"node\": the name of the node to run is required"
            )));
        };
        let port = in_port(&namespace, text(input, "port")?.as_deref())?;
        let entry = EntryRequest {
            node,
            port,
            inputs: vec![field(input, "input").cloned().unwrap_or_default()],
            open: false,
        };
        let job = self.api.start(process, &namespace, vec![entry]).await?;
        Ok(Value::map([("id", Value::from(job.id().to_string()))]))
    }

    fn read(&self, process: &Process, input: &Value) -> Result<Value> {
        if field(input, "id").is_some() {
            return match self.job(process, input) {
                Ok(job) => Ok(Value::from(job.info())),
                Err(e) if e.kind() == ErrorKind::NotFound => Ok(Value::Null),
                Err(e) => Err(e),
            };
        }
        Ok(Value::list(
            self.api
                .services
                .jobs
                .list()
                .into_iter()
                .filter(|j| self.api.may_reach(process, j.namespace()))
                .map(|j| Value::from(j.info())),
        ))
    }

    async fn events(&self, cx: &mut Cx, process: &Process, input: &Value) -> Result<()> {
        let job = self.job(process, input)?;
        let after = number(input, "after")?.unwrap_or(0);
        let mut cursor = job.events(after);
        loop {
            let item = tokio::select! {
                biased;
                _ = process.done() => return Err(process.ended_error()),
                item = cursor.next() => item,
            };
            let Some(item) = item else { return Ok(()) };
            let value = event_value(&job, item);
            cx.emit(OutPort::OUT, value).await?;
        }
    }
}

/// An item of a job's log as a packet: the event, or `{type: "replay_incomplete", job_id, asked,
/// first_kept}`.
pub(crate) fn event_value(job: &Job, item: Item) -> Value {
    match item {
        Item::Event(_, e) => Value::from(&*e),
        Item::ReplayIncomplete { asked, first_kept } => {
            Value::from(&replay_incomplete(job, asked, first_kept))
        }
    }
}

/// What a reader is told when the events it asked for were dropped.
pub(crate) fn replay_incomplete(job: &Job, asked: u64, first_kept: u64) -> serde_json::Value {
    serde_json::json!({"type": "replay_incomplete", "job_id": job.id().to_string(),
                       "asked": asked, "first_kept": first_kept})
}

impl Node for JobNode {
    type State = ();
    const ON_EOS: bool = false;
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let process = cx.process().clone();
        let value = input.packet.value;
        match self.action.as_str() {
            "create" => {
                let out = self.create(&process, &value).await?;
                cx.emit(OutPort::OUT, out).await
            }
            "read" => {
                let out = self.read(&process, &value)?;
                cx.emit(OutPort::OUT, out).await
            }
            "cancel" => {
                let job = self.job(&process, &value)?;
                job.cancel();
                cx.emit(OutPort::OUT, Value::from(job.info())).await
            }
            "run" => super::jobs_run::run(&self.api, cx, &process, &value).await,
            "websocket" => super::jobs_ws::upgrade(&self.api, &self.stop, cx, value).await,
            _ => self.events(cx, &process, &value).await,
        }
    }

    fn on_unload(&self) {
        self.stop.cancel();
    }
}
