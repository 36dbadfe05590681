//! The `http` client against real servers on 127.0.0.1: URL joining, payload to request, whole
//! responses, chunked and SSE bodies emitted as they arrive, timeouts, and the system-address guard.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{Request, Response};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use serde_json::json;
use tokio::sync::mpsc;
use weir_codecs::codec::CompileContext;
use weir_engine::testing::{eventually, Collect, Graph};
use weir_engine::{call, BoxedNode, ErrorKind, OutPort, Process, Value};

use super::upstream::{full, Body, Upstream};
use super::{compile, install, scheme};

/// Echoes what it received as JSON (with a length, so the client reads it whole).
async fn echo(req: Request<Incoming>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    let header = |n: &str| parts.headers.get(n).map(|v| v.to_str().unwrap().to_string());
    let doc = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "host": header("host"),
        "x-k": header("x-k"),
        "content-type": header("content-type"),
        "body": String::from_utf8_lossy(&body),
    });
    let mut res = Response::new(full(doc.to_string()));
    res.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    res
}

async fn run(node: BoxedNode, payload: serde_json::Value) -> weir_engine::Reply {
    let mut g = Graph::new();
    let slot = install(&mut g, "fetch", node, &[]);
    call(&slot, &Process::new(), 0, Value::from(&payload)).await
}

#[tokio::test]
async fn net_http_sends_the_payload_to_the_joined_url() {
    let up = Upstream::start(echo).await;
    let node = compile("http", json!({"url": up.url("/api?z=9"), "timeout": "10s"}));
    let reply = run(
        node,
        json!({"path": "/users/1", "query": {"a": ["1"]}, "header": {"X-K": ["v"], "Host": ["evil"]},
               "body": {"n": 1}}),
    )
    .await
    .unwrap();
    assert_eq!(reply.len(), 1);
    let res = reply[0].to_json();
    assert_eq!(res["status"], 200);
    assert_eq!(res["header"]["Content-Type"], json!(["application/json"]));
    assert_eq!(
        res["body"],
        json!({"method": "POST", "path": "/api/users/1", "query": "a=1&z=9", "host": up.addr.to_string(),
               "x-k": "v", "content-type": "application/json", "body": "{\"n\":1}"})
    );

    // A value that is not a request is the body; an explicit method wins.
    let node = compile("http", json!({"url": up.url("/")}));
    let res = run(node, json!("hello")).await.unwrap()[0].to_json();
    assert_eq!(res["body"]["method"], "POST");
    assert_eq!(res["body"]["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res["body"]["body"], "hello");
    let node = compile("http", json!({"url": up.url("")}));
    let res = run(node, json!({"method": "delete", "path": "x y"}))
        .await
        .unwrap()[0]
        .to_json();
    assert_eq!(
        (&res["body"]["method"], &res["body"]["path"]),
        (&json!("DELETE"), &json!("/x%20y"))
    );
    // Without a url, the payload names the server.
    let node = compile("http", json!({}));
    let res = run(node, json!({"host": up.addr.to_string(), "path": "/p"}))
        .await
        .unwrap()[0]
        .to_json();
    assert_eq!(
        (&res["body"]["method"], &res["body"]["path"]),
        (&json!("GET"), &json!("/p"))
    );
}

#[tokio::test]
async fn net_http_error_statuses_are_responses_and_failures_are_errors() {
    let up = Upstream::start(|_| async {
        let mut res = Response::new(full("nope"));
        *res.status_mut() = http::StatusCode::NOT_FOUND;
        res.headers_mut()
            .insert("content-type", "text/plain".parse().unwrap());
        res
    })
    .await;
    let res = run(compile("http", json!({"url": up.url("/")})), json!(null))
        .await
        .unwrap()[0]
        .to_json();
    assert_eq!((&res["status"], &res["body"]), (&json!(404), &json!("nope")));

    let err = run(compile("http", json!({})), json!({"path": "/"}))
        .await
        .unwrap_err();
    assert!(err.message().contains("http test/http: no host"), "{err}");
    let err = run(
        compile("http", json!({"url": "http://127.0.0.1:1/"})),
        json!(null),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(
        err.message()
            .starts_with("http test/http: GET http://127.0.0.1:1/: "),
        "{err}"
    );
}

#[tokio::test]
async fn net_http_timeout_ends_the_request() {
    let up = Upstream::start(|_| async {
        tokio::time::sleep(Duration::from_secs(60)).await;
        Response::new(full("late"))
    })
    .await;
    let node = compile("http", json!({"url": up.url("/"), "timeout": "100ms"}));
    let err = tokio::time::timeout(Duration::from_secs(10), run(node, json!(null)))
        .await
        .expect("no hang")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("timed out after 100ms"), "{err}");
}

/// A server whose body is fed by the test through a channel, with `content_type`.
async fn fed(
    content_type: &'static str,
) -> (Upstream, mpsc::UnboundedSender<mpsc::UnboundedReceiver<Bytes>>) {
    let (tx, rx) = mpsc::unbounded_channel::<mpsc::UnboundedReceiver<Bytes>>();
    let rx = std::sync::Arc::new(tokio::sync::Mutex::new(rx));
    let up = Upstream::start(move |_| {
        let rx = rx.clone();
        async move {
            let chunks = rx.lock().await.recv().await.unwrap();
            let stream = tokio_stream(chunks).map(|b| Ok(Frame::data(b)));
            let mut res = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            res.headers_mut()
                .insert("content-type", content_type.parse().unwrap());
            res
        }
    })
    .await;
    (up, tx)
}

fn tokio_stream(mut rx: mpsc::UnboundedReceiver<Bytes>) -> impl futures::Stream<Item = Bytes> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Sends `payload` through `http` → collector in the background; returns what the collector saw and
/// the pending reply.
fn streamed(
    g: &mut Graph,
    url: String,
) -> (
    std::sync::Arc<parking_lot::Mutex<weir_engine::testing::Seen>>,
    tokio::task::JoinHandle<weir_engine::Reply>,
) {
    let seen = Collect::default();
    let log = seen.seen.clone();
    g.add("seen", seen, &[]);
    let slot = install(
        g,
        "fetch",
        compile("http", json!({"url": url})),
        &[(OutPort::OUT, "seen", 0)],
    );
    let task = tokio::spawn(async move { call(&slot, &Process::new(), 0, Value::Null).await });
    (log, task)
}

async fn saw(log: &std::sync::Arc<parking_lot::Mutex<weir_engine::testing::Seen>>, n: usize) {
    assert!(
        eventually(Duration::from_secs(10), || log.lock().values.len() >= n).await,
        "saw {:?}",
        log.lock().values
    );
}

#[tokio::test]
async fn net_http_emits_chunks_as_they_arrive() {
    let (up, feed) = fed("text/plain; charset=utf-8").await;
    let (tx, rx) = mpsc::unbounded_channel();
    feed.send(rx).unwrap();
    let mut g = Graph::new();
    let (log, task) = streamed(&mut g, up.url("/"));
    tx.send(Bytes::from("a")).unwrap();
    saw(&log, 1).await;
    // A character split across chunks arrives whole.
    tx.send(Bytes::from_static(b"b\xC3")).unwrap();
    saw(&log, 2).await;
    tx.send(Bytes::from_static(b"\xA9c")).unwrap();
    saw(&log, 3).await;
    assert!(!task.is_finished());
    drop(tx);
    let reply = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply, vec![Value::from("a"), Value::from("b"), Value::from("éc")]);
    assert!(log.lock().ended);
}

#[tokio::test]
async fn net_http_emits_one_packet_per_server_sent_event() {
    let (up, feed) = fed("text/event-stream").await;
    let (tx, rx) = mpsc::unbounded_channel();
    feed.send(rx).unwrap();
    let mut g = Graph::new();
    let (log, task) = streamed(&mut g, up.url("/"));
    tx.send(Bytes::from("data: one\n\n")).unwrap();
    saw(&log, 1).await;
    tx.send(Bytes::from("data: {\"n\": 2}\n\ndata: th")).unwrap();
    saw(&log, 2).await;
    assert!(!task.is_finished());
    tx.send(Bytes::from("ree\n\n")).unwrap();
    drop(tx);
    let reply = tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        reply,
        vec![
            Value::from("one"),
            Value::from(&json!({"n": 2})),
            Value::from("three")
        ]
    );

    // An `error` event fails the request.
    let (tx, rx) = mpsc::unbounded_channel();
    feed.send(rx).unwrap();
    tx.send(Bytes::from("data: a\n\nevent: error\ndata: boom\n\n"))
        .unwrap();
    drop(tx);
    let err = run(compile("http", json!({"url": up.url("/")})), json!(null))
        .await
        .unwrap_err();
    assert!(err.message().ends_with("error event: boom"), "{err}");
}

/// The pretend system listener: bound for the whole test binary, so its port is never reused.
fn system_listener() -> &'static std::net::TcpListener {
    static HELD: OnceLock<std::net::TcpListener> = OnceLock::new();
    HELD.get_or_init(|| {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        weir_codecs::guard::protect_addr(l.local_addr().unwrap());
        l
    })
}

pub(super) fn compile_in(namespace: &str, kind: &str, fields: serde_json::Value) -> BoxedNode {
    let cx = CompileContext::new(namespace, kind);
    scheme().get(kind).unwrap().compile(&fields, &cx).unwrap()
}

/// Serves the pretend system listener (in this test's runtime) and returns its address.
pub(super) fn system_addr() -> (SocketAddr, Upstream) {
    let std = system_listener().try_clone().unwrap();
    std.set_nonblocking(true).unwrap();
    let listener = tokio::net::TcpListener::from_std(std).unwrap();
    let up = Upstream::serve(listener, echo);
    (up.addr, up)
}

#[tokio::test]
async fn net_http_refuses_the_system_listener_outside_system() {
    let (addr, _up) = system_addr();
    for url in [
        format!("http://{addr}/"),
        format!("http://localhost:{}/", addr.port()),
        format!("http://[::1]:{}/", addr.port()),
    ] {
        let err = run(compile_in("default", "http", json!({"url": url})), json!(null))
            .await
            .unwrap_err();
        assert!(
            err.message().contains("namespace default: ") && err.message().contains("system listener"),
            "{url}: {err}"
        );
    }
    let res = run(
        compile_in("system", "http", json!({"url": format!("http://{addr}/ok")})),
        json!(null),
    )
    .await
    .unwrap()[0]
        .to_json();
    assert_eq!(res["body"]["path"], "/ok");
}
