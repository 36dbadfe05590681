//! One HTTP request, end to end: read the body (size limit → 413), decode it (malformed JSON → 400),
//! start a root process, write the payload into the listener's own slot and turn the reply into the
//! response. A reply of one element is an ordinary response; no element is an empty 200 (as uniflow);
//! an error goes to the listener's `error` port when connected and is a 500 otherwise; a longer reply
//! is streamed, as SSE when the client accepts `text/event-stream`, else as a chunked body. The
//! request timeout runs until the response head is decided. The process exits when the response is
//! complete, with an error when its status is 400 or more.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame as BodyFrame, Incoming};
use weir_engine::{Call, Error, ErrorKind, Frame, NodeSlot, OutPort, Process, Value};

use super::http::{self as payload, Reply};

/// The error type of response bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// A response body: whole or streamed.
pub(crate) type Body = UnsyncBoxBody<Bytes, BoxError>;

/// The listener's in port for requests; what arrives there goes out on `out`.
pub(crate) const IN_REQUEST: usize = 0;
/// The listener's in port for failed replies; what arrives there goes out on `error`.
pub(crate) const IN_ERROR: usize = 1;

/// The process key holding the client's address (`IP:port`) of a request, for `proxy`'s
/// `X-Forwarded-For`.
pub(crate) const REMOTE_ADDR: &str = "http.remote_addr";

/// What every request of one listener shares.
pub(crate) struct Shared {
    pub slot: Weak<NodeSlot>,
    pub timeout: Option<Duration>,
    pub max_body: u64,
    /// `http`, or `https` behind TLS: the payload's `scheme`.
    pub scheme: &'static str,
    /// Requests served by this listener (`/metrics`).
    pub requests: Arc<std::sync::atomic::AtomicU64>,
}

/// Exits the process when dropped before the response is complete (client gone, server forced down),
/// unless released (a gateway took the connection over).
struct ProcessGuard(Arc<Process>, bool);

impl ProcessGuard {
    fn exit(&self, cause: Option<Error>) {
        self.0.exit(cause);
    }

    /// Leaves the process running: its connection now belongs to a gateway, which ends it.
    fn release(mut self) {
        self.1 = false;
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if self.1 && self.0.exit_cause().is_none() {
            self.0.exit(Some(Error::new(
                ErrorKind::Cancelled,
                "the HTTP request ended before its response",
            )));
        }
    }
}

/// How a reply begins.
enum Start {
    /// No element: an empty reply.
    Empty,
    /// Exactly one element.
    One(Value),
    /// Two or more: the first ones, the call the rest comes from, and whether the reply has ended.
    Stream(Call, VecDeque<Value>, bool),
    Failed(Error),
}

fn full(reply: Reply) -> Response<Body> {
    let mut res = Response::new(Full::new(reply.body).map_err(|e| match e {}).boxed_unsync());
    *res.status_mut() = reply.status;
    *res.headers_mut() = reply.headers;
    res
}

fn text(status: StatusCode, msg: impl Into<String>) -> Response<Body> {
    full(Reply::text(status, msg))
}

/// The service function.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    shared.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let deadline = shared.timeout.map(|t| tokio::time::Instant::now() + t);
    // An HTTP/1.1 upgrade request (WebSocket) may be taken over by a gateway.
    let upgrade = (req.version() == http::Version::HTTP_11 && super::upgrade::requested(req.headers()))
        .then(|| hyper::upgrade::on(&mut req));
    let sse = payload::accepts_sse(req.headers());
    let value = match read(&shared, deadline, req).await {
        Ok(v) => v,
        Err(res) => return Ok(res),
    };
    let Some(slot) = shared.slot.upgrade() else {
        return Ok(text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the listener is shutting down",
        ));
    };
    let process = Process::new();
    process.set(REMOTE_ADDR, Value::from(peer.to_string()));
    let guard = ProcessGuard(process.clone(), true);
    let offered = upgrade.is_some();
    if let Some(u) = upgrade {
        super::upgrade::offer(&process, u);
    }
    let start = async {
        match begin(&slot, &process, IN_REQUEST, value).await {
            // uniflow sends a failed reply to the listener's `error` port; unconnected, it stays the error.
            Start::Failed(e) => match begin(&slot, &process, IN_ERROR, Value::Error(e.clone())).await {
                Start::Failed(e2) if e2.kind() == ErrorKind::Unavailable => Start::Failed(e),
                other => other,
            },
            other => other,
        }
    };
    let start = tokio::select! {
        biased;
        s = within(deadline, start) => s,
        _ = process.done() => Some(Start::Failed(process.ended_error())),
    };
    let Some(start) = start else {
        let timeout = shared.timeout.unwrap_or_default();
        guard.exit(Some(Error::new(
            ErrorKind::Timeout,
            format!("request timed out after {timeout:?}"),
        )));
        return Ok(timed_out(shared.timeout));
    };
    Ok(respond(start, guard, sse, offered))
}

/// Reads and decodes the request into its payload, or answers it at once (413, 400, 503).
async fn read(
    shared: &Shared,
    deadline: Option<tokio::time::Instant>,
    req: Request<Incoming>,
) -> Result<Value, Response<Body>> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > shared.max_body) {
        return Err(too_large(shared.max_body));
    }
    let limit = usize::try_from(shared.max_body).unwrap_or(usize::MAX);
    let collect = async { Limited::new(body, limit).collect().await.map(|b| b.to_bytes()) };
    let bytes = match within(deadline, collect).await {
        None => return Err(timed_out(shared.timeout)),
        Some(Ok(b)) => b,
        Some(Err(e)) if e.is::<http_body_util::LengthLimitError>() => return Err(too_large(shared.max_body)),
        Some(Err(e)) => {
            return Err(text(
                StatusCode::BAD_REQUEST,
                format!("could not read the request body: {e}"),
            ))
        }
    };
    let content_type = parts
        .headers
        .get(CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let body = payload::decode_body(content_type.as_deref(), bytes)
        .map_err(|msg| text(StatusCode::BAD_REQUEST, msg))?;
    Ok(payload::request_value(&parts, body, shared.scheme))
}

/// Turns the start of a reply into the response, ending the process when the response is whole.
/// `offered`: the request's connection was offered for an upgrade (a `101` then hands the process to
/// whoever took it).
fn respond(start: Start, guard: ProcessGuard, sse: bool, offered: bool) -> Response<Body> {
    match start {
        Start::Empty => {
            guard.exit(None);
            Response::new(Full::new(Bytes::new()).map_err(|e| match e {}).boxed_unsync())
        }
        Start::One(Value::Error(e)) | Start::Failed(e) => {
            let res = text(StatusCode::INTERNAL_SERVER_ERROR, e.message());
            guard.exit(Some(e));
            res
        }
        Start::One(v) => match payload::reply_from_value(&v) {
            Ok(reply)
                if offered
                    && reply.status == StatusCode::SWITCHING_PROTOCOLS
                    && !super::upgrade::pending(&guard.0) =>
            {
                // A gateway took the connection: the process lives on with it.
                guard.release();
                full(reply)
            }
            Ok(reply) => {
                if reply.status.as_u16() >= 400 {
                    let reason = reply.status.canonical_reason().unwrap_or("error");
                    guard.exit(Some(Error::node(format!(
                        "HTTP {} {reason}",
                        reply.status.as_u16()
                    ))));
                } else {
                    guard.exit(None);
                }
                full(reply)
            }
            Err(msg) => {
                let msg = format!("invalid response: {msg}");
                guard.exit(Some(Error::new(ErrorKind::UnsupportedValue, msg.clone())));
                text(StatusCode::INTERNAL_SERVER_ERROR, msg)
            }
        },
        Start::Stream(call, first, ended) => stream(call, first, ended, guard, sse),
    }
}

/// Runs `fut` until `deadline`; `None` when it passed.
async fn within<T>(
    deadline: Option<tokio::time::Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut).await.ok(),
        None => Some(fut.await),
    }
}

fn too_large(max: u64) -> Response<Body> {
    text(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the request body is larger than {max} bytes"),
    )
}

fn timed_out(timeout: Option<Duration>) -> Response<Body> {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("request timed out after {:?}", timeout.unwrap_or_default()),
    )
}

/// Where a request enters the graph: with `out` linked to exactly one port, straight into that port
/// (the reply is the same, one session fewer per request); otherwise through the listener's own node.
fn entry(slot: &Arc<NodeSlot>, process: &Arc<Process>, port: usize) -> weir_engine::Result<Call> {
    if port == IN_REQUEST {
        if let Some(rt) = slot.runtime() {
            if let [only] = rt.targets(OutPort::OUT) {
                return Call::open(&only.slot, process, only.port);
            }
        }
    }
    Call::open(slot, process, port)
}

/// Writes `value` into in port `port` of the listener and reads the reply until its shape is known.
async fn begin(slot: &Arc<NodeSlot>, process: &Arc<Process>, port: usize, value: Value) -> Start {
    let mut call = match entry(slot, process, port) {
        Ok(c) => c,
        Err(e) => return Start::Failed(e),
    };
    if let Err(e) = call.send(value).await {
        return Start::Failed(e);
    }
    call.close();
    let first = match call.frame().await {
        None | Some(Frame::End) => return Start::Empty,
        Some(Frame::One(v)) => return Start::One(v),
        Some(Frame::Err(e)) => return Start::Failed(e),
        Some(Frame::Item(v)) => v,
    };
    match call.frame().await {
        None | Some(Frame::End) => Start::One(first),
        Some(Frame::Err(e)) => Start::Failed(e),
        Some(Frame::Item(v)) => Start::Stream(call, VecDeque::from([first, v]), false),
        Some(Frame::One(v)) => Start::Stream(call, VecDeque::from([first, v]), true),
    }
}

/// The state of a streamed body.
struct Streamer {
    call: Call,
    pending: VecDeque<Value>,
    ended: bool,
    guard: ProcessGuard,
    sse: bool,
}

/// One SSE event: a `data:` line for each line of the element (strings as they are, others as JSON).
fn sse_event(kind: Option<&str>, data: &str) -> Bytes {
    let mut out = String::new();
    if let Some(kind) = kind {
        out.push_str(&format!("event: {kind}\n"));
    }
    for line in data.split('\n') {
        out.push_str("data: ");
        out.push_str(line.strip_suffix('\r').unwrap_or(line));
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// One chunk of a chunked body: a string or bytes as they are, anything else as a line of JSON.
fn chunk(v: &Value) -> Bytes {
    match v {
        Value::String(s) => Bytes::from(s.to_string()),
        Value::Bytes(b) => b.clone(),
        v => {
            let mut text = v.to_json().to_string();
            text.push('\n');
            Bytes::from(text)
        }
    }
}

impl Streamer {
    fn encode(&self, v: &Value) -> Bytes {
        if self.sse {
            sse_event(None, &v.to_string())
        } else {
            chunk(v)
        }
    }

    /// The next piece of the body; `None` when it is complete.
    async fn next(&mut self) -> Option<Result<Bytes, BoxError>> {
        let frame = match self.pending.pop_front() {
            Some(v) => Frame::Item(v),
            None if self.ended => Frame::End,
            None => {
                let process = self.guard.0.clone();
                tokio::select! {
                    biased;
                    f = self.call.frame() => f.unwrap_or(Frame::End),
                    _ = process.done() => Frame::Err(process.ended_error()),
                }
            }
        };
        let (item, last) = match frame {
            Frame::Item(Value::Error(e)) | Frame::One(Value::Error(e)) | Frame::Err(e) => {
                let message = e.message().to_string();
                self.guard.exit(Some(e));
                self.ended = true;
                if self.sse {
                    return Some(Ok(sse_event(Some("error"), &message)));
                }
                return Some(Err(message.into()));
            }
            Frame::Item(v) => (v, false),
            Frame::One(v) => (v, true),
            Frame::End => {
                if self.guard.0.exit_cause().is_none() {
                    self.guard.exit(None);
                }
                return None;
            }
        };
        self.ended |= last;
        Some(Ok(self.encode(&item)))
    }
}

/// A streamed response: SSE or chunked, its content type from the first element.
fn stream(
    call: Call,
    pending: VecDeque<Value>,
    ended: bool,
    guard: ProcessGuard,
    sse: bool,
) -> Response<Body> {
    let content_type = if sse {
        "text/event-stream"
    } else {
        match pending.front() {
            Some(Value::String(_)) => payload::TEXT_PLAIN,
            Some(Value::Bytes(_)) => "application/octet-stream",
            _ => "application/x-ndjson",
        }
    };
    let streamer = Streamer {
        call,
        pending,
        ended,
        guard,
        sse,
    };
    let body = futures::stream::unfold(streamer, |mut s| async move {
        // After an error the stream is over: stop without asking again.
        if s.ended && s.pending.is_empty() && s.guard.0.exit_cause().is_some_and(|c| c.is_some()) {
            return None;
        }
        s.next().await.map(|item| (item, s))
    })
    .map(|r| r.map(BodyFrame::data));
    let mut res = Response::new(BodyExt::boxed_unsync(StreamBody::new(body)));
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    if sse {
        res.headers_mut()
            .insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    }
    res
}
