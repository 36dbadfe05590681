//! NodeTool's WebSocket protocol for jobs, the `websocket` action of `job` (served at `/ws` by the
//! `system` namespace, behind its token check). The node takes a listener's upgrade request,
//! answers `101` and serves the connection in the request's process (so the token's scope holds for
//! every command). The client sends commands `{command, data}` and gets one reply per command, then
//! the events of the jobs it follows, each as NodeTool sends them:
//! - `run_job` `{workflow_id: NAMESPACE, params: {NODE: VALUE}, stream_inputs?: [NODE]}` starts a job
//!   writing each VALUE into NODE's `in` (nodes in `stream_inputs` stay open for `stream_input`); the
//!   reply `{message, job_id, workflow_id}` comes first, then every event of the job;
//! - `reconnect_job` `{job_id, last_seq?}`: the events after `last_seq` (all without it), exactly
//!   once, then live ones; events the job's log dropped already are announced by one
//!   `{type: "replay_incomplete", asked, first_kept}`;
//! - `cancel_job` `{job_id}` cancels it (its final `job_update` still follows);
//! - `get_status` `{job_id?}`: one job's status, or `{active_jobs}` (the jobs this connection follows);
//! - `stream_input` `{job_id, input: NODE, value}` and `end_input_stream` `{job_id, input: NODE}` feed
//!   and close an open entry of a running job;
//! - `set_mode` `{mode: "text" | "binary"}` fixes the format of what is sent.
//!
//! Frames are JSON text or MessagePack binary; until `set_mode`, the server answers in the format of
//! the client's last frame. A failed command is answered `{error, …}`. Closing the connection stops
//! only the following: jobs run on (and can be reconnected to).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value as Json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use weir_engine::job::{Item, Job};
use weir_engine::{Cx, Error, ErrorKind, Process, Result, Value};

use super::jobs::{bad, replay_incomplete, EntryRequest, JobsApi};

/// The commands understood.
pub const COMMANDS: &[&str] = &[
    "run_job",
    "reconnect_job",
    "cancel_job",
    "get_status",
    "stream_input",
    "end_input_stream",
    "set_mode",
    "clear_models",
];

/// How long the client has to complete the switch of protocols.
const SWITCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Messages waiting to be written on a connection (commands' replies and followed events); a slow
/// client makes the followers wait, never the jobs (their logs are the queues).
const QUEUE: usize = 256;

/// Takes the request's connection, answers `101`, and serves the protocol on it until it closes,
/// the request's process ends or the node is unloaded (`stop`).
pub(crate) async fn upgrade(
    api: &JobsApi,
    stop: &CancellationToken,
    cx: &mut Cx,
    request: Value,
) -> Result<()> {
    let process = cx.process().clone();
    let label = format!("job {}/{}", api.namespace, cx.node_name());
    let (pending, response) =
        crate::net::upgrade::websocket(&request, &process).map_err(|m| bad(format!("{label}: {m}")))?;
    let api = api.clone();
    let stop = stop.clone();
    tokio::spawn(async move {
        let upgraded = match tokio::time::timeout(SWITCH_TIMEOUT, pending).await {
            Ok(Ok(u)) => u,
            Ok(Err(e)) => {
                process.exit(Some(Error::node(format!(
                    "{label}: the switch to WebSocket failed: {e}"
                ))));
                return;
            }
            Err(_) => {
                process.exit(Some(Error::new(
                    ErrorKind::Timeout,
                    format!("{label}: the switch to WebSocket took over {SWITCH_TIMEOUT:?}"),
                )));
                return;
            }
        };
        let socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        serve(api, process.clone(), socket, stop).await;
        process.exit(None);
    });
    cx.reply(response).await
}

/// How messages are written.
#[derive(Default)]
struct Mode {
    binary: AtomicBool,
    /// Set by `set_mode`: the format no longer follows the client's frames.
    pinned: AtomicBool,
}

/// A message as a frame in the current format.
fn encode(message: &Json, binary: bool) -> Option<Message> {
    if binary {
        match rmp_serde::to_vec_named(message) {
            Ok(bytes) => Some(Message::binary(bytes)),
            Err(e) => {
                tracing::warn!("a WebSocket message could not be encoded as MessagePack: {e}");
                None
            }
        }
    } else {
        Some(Message::text(message.to_string()))
    }
}

/// A received frame as a command; `Err` says what was wrong.
fn decode(msg: &Message) -> std::result::Result<Json, String> {
    match msg {
        Message::Text(t) => {
            serde_json::from_str(t.as_str()).map_err(|e| format!("the frame is not JSON: {e}"))
        }
        Message::Binary(b) => {
            rmp_serde::from_slice(b).map_err(|e| format!("the frame is not MessagePack: {e}"))
        }
        _ => Err("not a data frame".to_string()),
    }
}

async fn serve<S>(api: JobsApi, process: Arc<Process>, socket: WebSocketStream<S>, stop: CancellationToken)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = socket.split();
    let (tx, mut rx) = mpsc::channel::<Arc<Json>>(QUEUE);
    let mode = Arc::new(Mode::default());
    let writer = {
        let mode = mode.clone();
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                let Some(frame) = encode(&message, mode.binary.load(Ordering::Relaxed)) else {
                    continue;
                };
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        })
    };
    let mut session = Session {
        api,
        process: process.clone(),
        tx,
        mode,
        following: HashMap::new(),
    };
    loop {
        let msg = tokio::select! {
            _ = stop.cancelled() => break,
            _ = process.done() => break,
            msg = stream.next() => msg,
        };
        let msg = match msg {
            Some(Ok(Message::Close(_))) | None => break,
            Some(Err(e)) => {
                tracing::debug!("job WebSocket read failed: {e}");
                break;
            }
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => m,
            Some(Ok(_)) => continue,
        };
        if !session.mode.pinned.load(Ordering::Relaxed) {
            session
                .mode
                .binary
                .store(matches!(msg, Message::Binary(_)), Ordering::Relaxed);
        }
        let reply = match decode(&msg) {
            Ok(command) => session.handle(command).await,
            Err(e) => json!({"error": e}),
        };
        if !session.send(reply).await {
            break;
        }
        session.start_pending();
    }
    // Stops the followers (dropping them aborts their tasks); the jobs run on.
    drop(session);
    // Lets queued messages and the close frame go out.
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// A job this connection follows: the task sending its events (none yet while its command's reply
/// is on its way: `pending` is where it starts).
struct Follower {
    job: Arc<Job>,
    pending: Option<u64>,
    task: Option<JoinHandle<()>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

/// One connection's state.
struct Session {
    api: JobsApi,
    process: Arc<Process>,
    tx: mpsc::Sender<Arc<Json>>,
    mode: Arc<Mode>,
    following: HashMap<uuid::Uuid, Follower>,
}

/// Sends a job's events after `after` until its last, or until the connection is gone.
async fn follow(job: Arc<Job>, after: u64, tx: mpsc::Sender<Arc<Json>>) {
    let mut cursor = job.events(after);
    while let Some(item) = cursor.next().await {
        let message = match item {
            Item::Event(_, e) => e,
            Item::ReplayIncomplete { asked, first_kept } => {
                Arc::new(replay_incomplete(&job, asked, first_kept))
            }
        };
        if tx.send(message).await.is_err() {
            return;
        }
    }
}

fn str_field<'a>(data: &'a Json, key: &str) -> Option<&'a str> {
    data.get(key)
        .and_then(Json::as_str)
        .filter(|s| !s.trim().is_empty())
}

impl Session {
    async fn send(&self, message: Json) -> bool {
        self.tx.send(Arc::new(message)).await.is_ok()
    }

    /// Starts the followers `handle` registered, once their command's reply is queued (so the
    /// reply comes before the events).
    fn start_pending(&mut self) {
        for f in self.following.values_mut() {
            if let Some(after) = f.pending.take() {
                f.task = Some(tokio::spawn(follow(f.job.clone(), after, self.tx.clone())));
            }
        }
    }

    /// Follows `job` from `after`, replacing a follower of the same job (no event twice).
    fn follow(&mut self, job: Arc<Job>, after: u64) {
        self.following.insert(
            job.id(),
            Follower {
                job,
                pending: Some(after),
                task: None,
            },
        );
    }

    /// Answers one command.
    async fn handle(&mut self, command: Json) -> Json {
        let Some(name) = command.get("command").and_then(Json::as_str) else {
            return json!({"error": "expected a command {\"command\": NAME, \"data\": {…}}"});
        };
        let empty = json!({});
        let data = command.get("data").filter(|d| !d.is_null()).unwrap_or(&empty);
        if !data.is_object() {
            return json!({"error": format!("command {name:?}: field \"data\": expected an object")});
        }
        match self.dispatch(name, data).await {
            Ok(reply) => reply,
            Err(e) => {
                let mut reply = json!({"error": e.message(), "command": name});
                for key in ["job_id", "workflow_id"] {
                    if let Some(v) = data.get(key) {
                        reply[key] = v.clone();
                    }
                }
                reply
            }
        }
    }

    fn job(&self, data: &Json) -> Result<Arc<Job>> {
        let Some(id) = str_field(data, "job_id") else {
            return Err(bad("field \"job_id\": required"));
        };
        self.api.find(&self.process, id)
    }

    async fn dispatch(&mut self, name: &str, data: &Json) -> Result<Json> {
        match name {
            "run_job" => self.run_job(data).await,
            "reconnect_job" => {
                let job = self.job(data)?;
                let after = match data.get("last_seq") {
                    None | Some(Json::Null) => 0,
                    Some(v) => v.as_u64().ok_or_else(|| {
                        bad(format!("field \"last_seq\": expected a sequence number, got {v}"))
                    })?,
                };
                self.follow(job.clone(), after);
                Ok(json!({"message": format!("Reconnecting to job {}", job.id()),
                          "job_id": job.id().to_string(), "workflow_id": job.namespace(),
                          "last_seq": after}))
            }
            "cancel_job" => {
                let job = self.job(data)?;
                let ids = json!({"job_id": job.id().to_string(), "workflow_id": job.namespace()});
                if job.status().is_final() {
                    let mut r =
                        json!({"error": format!("job {}: already {}", job.id(), job.status().as_str())});
                    r["job_id"] = ids["job_id"].clone();
                    r["workflow_id"] = ids["workflow_id"].clone();
                    return Ok(r);
                }
                job.cancel();
                Ok(json!({"message": "Job cancellation requested",
                          "job_id": ids["job_id"], "workflow_id": ids["workflow_id"]}))
            }
            "get_status" => match str_field(data, "job_id") {
                Some(id) => Ok(match self.api.find(&self.process, id) {
                    Ok(job) => status(&job),
                    Err(_) => json!({"status": "not_found", "job_id": id}),
                }),
                None => Ok(json!({"active_jobs": self
                    .following
                    .values()
                    .filter(|f| !f.job.status().is_final())
                    .map(|f| status(&f.job))
                    .collect::<Vec<_>>()})),
            },
            "stream_input" | "end_input_stream" => {
                let job = self.job(data)?;
                let Some(input) = str_field(data, "input") else {
                    return Err(bad("field \"input\": the name of an open entry node is required"));
                };
                let ids = json!({"job_id": job.id().to_string(), "workflow_id": job.namespace()});
                let message = if name == "stream_input" {
                    let value = data.get("value").map(Value::from).unwrap_or_default();
                    job.send_input(input, value)
                        .await
                        .map_err(|e| Error::new(ErrorKind::Conflict, e.to_string()))?;
                    "Input item streamed"
                } else {
                    job.end_input(input)
                        .map_err(|e| Error::new(ErrorKind::Conflict, e.to_string()))?;
                    "Input stream ended"
                };
                Ok(json!({"message": message, "job_id": ids["job_id"], "workflow_id": ids["workflow_id"]}))
            }
            "set_mode" => {
                let binary = match str_field(data, "mode") {
                    Some("binary") => true,
                    Some("text") => false,
                    other => {
                        return Err(bad(format!(
                            "field \"mode\": expected \"text\" or \"binary\", got {other:?}"
                        )))
                    }
                };
                self.mode.binary.store(binary, Ordering::Relaxed);
                self.mode.pinned.store(true, Ordering::Relaxed);
                Ok(json!({"message": format!("Mode set to {}", if binary { "binary" } else { "text" })}))
            }
            "clear_models" => Ok(json!({"message": "weir holds no models to clear"})),
            other => Err(bad(format!(
                "unknown command {other:?}; one of: {}",
                COMMANDS.join(", ")
            ))),
        }
    }

    async fn run_job(&mut self, data: &Json) -> Result<Json> {
        let Some(namespace) = str_field(data, "workflow_id").map(str::to_string) else {
            return Err(bad("field \"workflow_id\": the namespace to run in is required"));
        };
        let params = data.get("params").filter(|p| !p.is_null()).map(Value::from);
        let mut entries = super::jobs_run::entries(&namespace, params.as_ref())?;
        if let Some(open) = data.get("stream_inputs").filter(|p| !p.is_null()) {
            let Some(names) = open.as_array() else {
                return Err(bad(format!(
                    "namespace \"{namespace}\": field \"stream_inputs\": expected a list of node names"
                )));
            };
            for n in names {
                let Some(n) = n.as_str() else {
                    return Err(bad(format!(
                        "namespace \"{namespace}\": field \"stream_inputs\": expected node names, got {n}"
                    )));
                };
                match entries.iter_mut().find(|e| e.node == n) {
                    Some(e) => e.open = true,
                    None => entries.push(EntryRequest {
                        node: n.to_string(),
                        port: 0,
                        inputs: Vec::new(),
                        open: true,
                    }),
                }
            }
        }
        let job = self.api.start(&self.process, &namespace, entries).await?;
        self.follow(job.clone(), 0);
        Ok(json!({"message": "Job started", "job_id": job.id().to_string(), "workflow_id": namespace}))
    }
}

/// `{status, job_id, workflow_id}`.
fn status(job: &Job) -> Json {
    json!({"status": job.status().as_str(), "job_id": job.id().to_string(), "workflow_id": job.namespace()})
}
