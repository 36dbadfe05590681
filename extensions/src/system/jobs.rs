//! The `job` kind: the job API of the `system` namespace as a workflow step (DESIGN.md, Interfaces),
//! over the host's job manager (`weir_engine::job`). `action`:
//! - `create`: `{namespace, node, port?, input?}` starts a job through `node`'s in port (`in` unless
//!   `port` names another, `in[N]`) and answers `{id}` at once;
//! - `read`: `{id}` answers that job (or null), `{}` every job within reach;
//! - `cancel`: `{id}` cancels it and answers the job;
//! - `events`: `{id, after?}` streams the job's events after sequence number `after` (one packet
//!   each, as they come), ending after the job's last; events already dropped from the job's log
//!   are announced by one `{type: "replay_incomplete", asked, first_kept}`.
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
pub const ACTIONS: &[&str] = &["create", "read", "cancel", "events"];

/// The `job` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JobFields {
    /// `create`, `read`, `cancel` or `events`.
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
            services: self.services.clone(),
            namespace: cx.namespace.to_string(),
            action,
        }))
    }
}

/// A compiled `job` node.
pub struct JobNode {
    services: Arc<SystemServices>,
    namespace: String,
    action: String,
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::UnsupportedValue, message)
}

/// `input[key]`, null as absent; a list (a query parameter: `?after=3` is `["3"]`) as its last item.
fn field<'a>(input: &'a Value, key: &str) -> Option<&'a Value> {
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

fn text(input: &Value, key: &str) -> Result<Option<String>> {
    match field(input, key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.to_string())),
        Some(other) => Err(bad(format!(
            "field \"{key}\": expected a string, got {}",
            other.type_name()
        ))),
    }
}

fn number(input: &Value, key: &str) -> Result<Option<u64>> {
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

impl JobNode {
    fn may_reach(&self, process: &Process, namespace: &str) -> bool {
        super::syscall::reach(&self.namespace, process).is_none_or(|r| r.iter().any(|n| n == namespace))
    }

    /// The job named by `input.id`, within reach.
    fn job(&self, process: &Process, input: &Value) -> Result<Arc<Job>> {
        let Some(id) = text(input, "id")? else {
            return Err(bad("field \"id\": a job id is required"));
        };
        let uuid =
            uuid::Uuid::parse_str(&id).map_err(|_| bad(format!("field \"id\": {id:?} is not a job id")))?;
        match self.services.jobs.get(uuid) {
            Some(job) if self.may_reach(process, job.namespace()) => Ok(job),
            _ => Err(Error::new(ErrorKind::NotFound, format!("job {id}: not found"))),
        }
    }

    async fn create(&self, process: &Process, input: &Value) -> Result<Value> {
        let namespace = text(input, "namespace")?.unwrap_or_else(|| self.namespace.clone());
        if !self.may_reach(process, &namespace) {
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
        let port = match text(input, "port")?.as_deref() {
            None | Some("in") => 0,
            Some(p) => p
                .strip_prefix("in[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| {
                    bad(format!(
                        "namespace \"{namespace}\": field \"port\": {p:?} is not an in port (in, in[N])"
                    ))
                })?,
        };
        let Some(table) = self.services.table(&namespace) else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("namespace \"{namespace}\": not running on this host"),
            ));
        };
        let (slot, kinds) = {
            let t = table.lock().await;
            let slot = t.slot(&node);
            let kinds: HashMap<String, String> = t.kinds();
            (slot, kinds)
        };
        let Some(slot) = slot else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("namespace \"{namespace}\": field \"node\": no spec named \"{node}\""),
            ));
        };
        let entry = JobEntry {
            node,
            slot,
            port,
            inputs: vec![field(input, "input").cloned().unwrap_or_default()],
            open: false,
        };
        let job = self.services.jobs.start(&namespace, vec![entry], kinds);
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
            self.services
                .jobs
                .list()
                .into_iter()
                .filter(|j| self.may_reach(process, j.namespace()))
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
            let value = match item {
                None => return Ok(()),
                Some(Item::Event(_, e)) => Value::from((*e).clone()),
                Some(Item::ReplayIncomplete { asked, first_kept }) => Value::map([
                    ("type", Value::from("replay_incomplete")),
                    ("job_id", Value::from(job.id().to_string())),
                    ("asked", Value::from(asked as i64)),
                    ("first_kept", Value::from(first_kept as i64)),
                ]),
            };
            cx.emit(OutPort::OUT, value).await?;
        }
    }
}

impl Node for JobNode {
    type State = ();
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
            _ => self.events(cx, &process, &value).await,
        }
    }
}
