//! A small OpenAI-compatible chat-completions server for tests and benches: real HTTP (hyper) on
//! 127.0.0.1, port 0, answering `POST /v1/chat/completions` with a scripted SSE stream of tokens, in
//! OpenAI's chunk format (a role chunk, one chunk per token, a finishing chunk, `data: [DONE]`).
//!
//! A [`Script`] says what to send: tokens, delays, a gate (the stream waits there until the test calls
//! [`TokenServer::release`], sending `: waiting` comments meanwhile, as real servers keep a connection
//! alive), raw events, or an error status. The server tells a test how far it got ([`TokenServer::sent`]),
//! whether a client closed a stream before its end ([`TokenServer::closed_early`]), and what each
//! request carried ([`TokenServer::requests`]). Used by the `llm` tests, the end-to-end test of
//! `examples/llm-stream.yaml` (`tests/tests/llm_stream.rs`) and the time-to-first-token bench.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use serde_json::{json, Value as Json};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// One step of a scripted stream.
#[derive(Debug, Clone)]
pub enum Step {
    /// A chunk whose `choices[0].delta.content` is this token.
    Token(String),
    /// A pause.
    Delay(Duration),
    /// Waits until [`TokenServer::release`] is called (once released, the gate stays open).
    Gate,
    /// An event with this `data` as it is (a malformed event, an error event).
    Raw(String),
    /// Ends the body here, without the finishing chunk and `[DONE]`.
    Cut,
}

/// What the server answers to every request.
#[derive(Debug, Clone)]
pub struct Script {
    pub steps: Vec<Step>,
    /// The status; anything but 200 answers with an OpenAI error body carrying `error_message`.
    pub status: u16,
    pub error_message: String,
    /// The time the server takes before the response head.
    pub head_delay: Duration,
}

impl Script {
    /// These tokens, one chunk each, with no delay.
    pub fn tokens<S: Into<String>>(tokens: impl IntoIterator<Item = S>) -> Self {
        Script {
            steps: tokens.into_iter().map(|t| Step::Token(t.into())).collect(),
            status: 200,
            error_message: String::new(),
            head_delay: Duration::ZERO,
        }
    }

    /// These steps.
    pub fn steps(steps: Vec<Step>) -> Self {
        Script {
            steps,
            ..Self::tokens(Vec::<String>::new())
        }
    }

    /// An error status with an OpenAI error body.
    pub fn failing(status: u16, message: &str) -> Self {
        Script {
            status,
            error_message: message.to_string(),
            ..Self::tokens(Vec::<String>::new())
        }
    }

    /// A pause of `gap` before each token.
    pub fn delay(mut self, gap: Duration) -> Self {
        self.steps = self
            .steps
            .into_iter()
            .flat_map(|s| match s {
                Step::Token(_) => vec![Step::Delay(gap), s],
                other => vec![other],
            })
            .collect();
        self
    }

    /// A gate before the last token.
    pub fn gate_last(mut self) -> Self {
        if let Some(i) = self.steps.iter().rposition(|s| matches!(s, Step::Token(_))) {
            self.steps.insert(i, Step::Gate);
        }
        self
    }

    /// The number of tokens in the script.
    pub fn token_count(&self) -> usize {
        self.steps.iter().filter(|s| matches!(s, Step::Token(_))).count()
    }
}

/// What a request carried.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub accept: Option<String>,
    /// The JSON body (`null` when it was not JSON).
    pub body: Json,
}

#[derive(Default)]
struct Counters {
    sent: AtomicUsize,
    closed_early: AtomicUsize,
    completed: AtomicUsize,
}

struct Shared {
    script: Script,
    counters: Counters,
    requests: Mutex<Vec<Recorded>>,
    gate: watch::Sender<bool>,
}

/// A running token server; it stops when dropped.
pub struct TokenServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

impl std::fmt::Debug for TokenServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenServer").field("addr", &self.addr).finish()
    }
}

type Body = UnsyncBoxBody<Bytes, Infallible>;

impl TokenServer {
    /// Binds 127.0.0.1, port 0, and serves `script` on the current tokio runtime.
    pub async fn start(script: Script) -> std::io::Result<TokenServer> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            script,
            counters: Counters::default(),
            requests: Mutex::new(Vec::new()),
            gate: watch::channel(false).0,
        });
        let stop = CancellationToken::new();
        let (s, token) = (shared.clone(), stop.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((stream, _)) = accepted else { continue };
                let _ = stream.set_nodelay(true);
                let (s, token) = (s.clone(), token.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(s.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = token.cancelled() => {}
                        _ = conn => {}
                    }
                });
            }
        });
        Ok(TokenServer { addr, shared, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1`, an `llm` spec's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Tokens handed to connections so far, over all requests.
    pub fn sent(&self) -> usize {
        self.shared.counters.sent.load(Ordering::SeqCst)
    }

    /// Streams whose client went away before their end.
    pub fn closed_early(&self) -> usize {
        self.shared.counters.closed_early.load(Ordering::SeqCst)
    }

    /// Streams sent to their end.
    pub fn completed(&self) -> usize {
        self.shared.counters.completed.load(Ordering::SeqCst)
    }

    /// Opens the gate for every stream, now and later.
    pub fn release(&self) {
        self.shared.gate.send_replace(true);
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().clone()
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

fn full(status: StatusCode, content_type: &str, body: String) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(body)).boxed_unsync());
    *res.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        res.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    res
}

async fn answer(shared: Arc<Shared>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let header = |name: http::header::HeaderName| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let path = req.uri().path().to_string();
    let authorization = header(http::header::AUTHORIZATION);
    let accept = header(http::header::ACCEPT);
    let post = req.method() == http::Method::POST;
    let bytes = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if !post || path != "/v1/chat/completions" {
        return Ok(full(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("no route {path}"),
        ));
    }
    let body: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
    let model = body.get("model").cloned().unwrap_or(Json::Null);
    shared.requests.lock().push(Recorded {
        path,
        authorization,
        accept,
        body,
    });
    let script = &shared.script;
    if !script.head_delay.is_zero() {
        tokio::time::sleep(script.head_delay).await;
    }
    if script.status != 200 {
        let status = StatusCode::from_u16(script.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = json!({"error": {"message": script.error_message, "type": "server_error"}});
        return Ok(full(status, "application/json", body.to_string()));
    }
    let stream = Stream {
        shared: shared.clone(),
        model,
        next: 0,
        started: false,
        done: false,
        gate: shared.gate.subscribe(),
    };
    let body = futures::stream::unfold(stream, |mut s| async move {
        let bytes = s.next().await?;
        Some((Ok::<_, Infallible>(Frame::data(bytes)), s))
    });
    let mut res = Response::new(BodyExt::boxed_unsync(StreamBody::new(body.boxed())));
    if let Ok(v) = "text/event-stream".parse() {
        res.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    Ok(res)
}

/// One scripted stream; counts itself as closed early when dropped before its end.
struct Stream {
    shared: Arc<Shared>,
    model: Json,
    next: usize,
    started: bool,
    done: bool,
    gate: watch::Receiver<bool>,
}

fn event(data: &str) -> Bytes {
    Bytes::from(format!("data: {data}\n\n"))
}

impl Stream {
    fn chunk(&self, delta: Json, finish: Json) -> Bytes {
        let doc = json!({
            "id": "chatcmpl-weir-test",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        });
        event(&doc.to_string())
    }

    /// The next piece of the body; `None` at its end.
    async fn next(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some(self.chunk(json!({"role": "assistant", "content": ""}), Json::Null));
        }
        loop {
            let Some(step) = self.shared.script.steps.get(self.next).cloned() else {
                self.done = true;
                self.shared.counters.completed.fetch_add(1, Ordering::SeqCst);
                let mut end = self.chunk(json!({}), json!("stop")).to_vec();
                end.extend_from_slice(&event("[DONE]"));
                return Some(Bytes::from(end));
            };
            match step {
                Step::Token(t) => {
                    self.next += 1;
                    self.shared.counters.sent.fetch_add(1, Ordering::SeqCst);
                    return Some(self.chunk(json!({"content": t}), Json::Null));
                }
                Step::Delay(d) => {
                    self.next += 1;
                    tokio::time::sleep(d).await;
                }
                Step::Gate => {
                    if *self.gate.borrow() {
                        self.next += 1;
                        continue;
                    }
                    // A comment now and then, as real servers send: writing it is how a client that
                    // went away is noticed.
                    let _ = tokio::time::timeout(Duration::from_millis(20), self.gate.changed()).await;
                    return Some(Bytes::from_static(b": waiting\n\n"));
                }
                Step::Raw(data) => {
                    self.next += 1;
                    return Some(event(&data));
                }
                Step::Cut => {
                    self.done = true;
                    self.shared.counters.completed.fetch_add(1, Ordering::SeqCst);
                    return None;
                }
            }
        }
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.done {
            self.shared.counters.closed_early.fetch_add(1, Ordering::SeqCst);
        }
    }
}
