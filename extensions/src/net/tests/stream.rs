//! Streamed replies (SSE and chunked, errors after the head) and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use tokio::sync::Notify;
use weir_engine::testing::{FnNode, Graph};
use weir_engine::{Cx, Error, Input, Node, OutPort, Result, Value};

use super::{client, serve};

/// Emits "a" to "e", waits for the gate, then emits "f" or fails. The engine holds each element
/// back at each hop until the next one (or the end) comes, so the first ones are out while it waits.
struct Gate {
    gate: Arc<Notify>,
    fail: bool,
}

impl Node for Gate {
    type State = ();
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, _input: Input) -> Result<()> {
        for item in ["a", "b", "c", "d", "e"] {
            cx.emit(OutPort::OUT, Value::from(item)).await?;
        }
        self.gate.notified().await;
        if self.fail {
            return Err(Error::node("boom"));
        }
        cx.emit(OutPort::OUT, Value::from("f")).await
    }
}

const EVENTS: &str = "data: a\n\ndata: b\n\ndata: c\n\ndata: d\n\ndata: e\n\n";

/// Reads the body until it contains `until`, returning what was read and the rest of the stream.
async fn read_until(
    mut body: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
    until: &str,
) -> (
    String,
    impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
) {
    let mut text = String::new();
    while !text.contains(until) {
        let chunk = tokio::time::timeout(Duration::from_secs(10), body.next()).await;
        let chunk = chunk.expect("in time").expect("more body").expect("a chunk");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    (text, body)
}

async fn collect(
    mut body: impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin,
) -> reqwest::Result<String> {
    let mut text = String::new();
    while let Some(chunk) = body.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk?));
    }
    Ok(text)
}

fn gated(g: &mut Graph, fail: bool) -> (super::Server, Arc<Notify>) {
    let gate = Arc::new(Notify::new());
    g.add(
        "gate",
        Gate {
            gate: gate.clone(),
            fail,
        },
        &[],
    );
    (serve(g, json!({}), &[(OutPort::OUT, "gate", 0)]), gate)
}

#[tokio::test]
async fn net_streamed_reply_arrives_as_sse_events() {
    let mut g = Graph::new();
    let (srv, gate) = gated(&mut g, false);
    let res = client()
        .get(srv.url("/"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    // The first events arrive while the node is still working.
    let (head, rest) = read_until(res.bytes_stream(), "data: a\n\n").await;
    assert!(head.starts_with("data: a\n\n"), "{head}");
    gate.notify_one();
    assert_eq!(
        head + &collect(rest).await.unwrap(),
        format!("{EVENTS}data: f\n\n")
    );
}

#[tokio::test]
async fn net_streamed_reply_arrives_as_a_chunked_body() {
    let mut g = Graph::new();
    let (srv, gate) = gated(&mut g, false);
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.headers()["transfer-encoding"], "chunked");
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    let (head, rest) = read_until(res.bytes_stream(), "a").await;
    gate.notify_one();
    assert_eq!(head + &collect(rest).await.unwrap(), "abcdef");
}

#[tokio::test]
async fn net_error_after_the_head_ends_sse_with_an_error_event() {
    let mut g = Graph::new();
    let (srv, gate) = gated(&mut g, true);
    let res = client()
        .get(srv.url("/"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    let (head, rest) = read_until(res.bytes_stream(), "data: a\n\n").await;
    gate.notify_one();
    assert_eq!(
        head + &collect(rest).await.unwrap(),
        format!("{EVENTS}event: error\ndata: boom\n\n")
    );
}

#[tokio::test]
async fn net_error_after_the_head_aborts_a_chunked_body() {
    let mut g = Graph::new();
    let (srv, gate) = gated(&mut g, true);
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let (_, rest) = read_until(res.bytes_stream(), "a").await;
    gate.notify_one();
    assert!(collect(rest).await.is_err());
}

#[tokio::test]
async fn net_h2c_streams_sse_too() {
    let mut g = Graph::new();
    let (srv, gate) = gated(&mut g, false);
    gate.notify_one();
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2
        .get(srv.url("/"))
        .header("Accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.text().await.unwrap(), format!("{EVENTS}data: f\n\n"));
}

fn slow(g: &mut Graph, started: Arc<Notify>, delay: Duration) {
    let node = FnNode(move |_v: Value| {
        let started = started.clone();
        async move {
            started.notify_one();
            tokio::time::sleep(delay).await;
            Ok(Value::from("done"))
        }
    });
    g.add("slow", node, &[]);
}

#[tokio::test]
async fn net_unload_drains_an_in_flight_request_before_closing() {
    let mut g = Graph::new();
    let started = Arc::new(Notify::new());
    slow(&mut g, started.clone(), Duration::from_millis(500));
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "slow", 0)]);
    let url = srv.url("/");
    let request = tokio::spawn(async move { client().get(url).send().await?.text().await });
    started.notified().await;
    srv.node.unload();
    assert_eq!(srv.listener.local_addr(), None);
    // The port is free at once (a replacement can bind it) while the request goes on.
    assert!(tokio::net::TcpStream::connect(srv.addr).await.is_err());
    let rebound = std::net::TcpListener::bind(srv.addr);
    assert!(rebound.is_ok(), "{rebound:?}");
    drop(rebound);
    assert_eq!(request.await.unwrap().unwrap(), "done");
}

#[tokio::test]
async fn net_unload_closes_requests_still_running_after_the_grace_period() {
    let mut g = Graph::new();
    let started = Arc::new(Notify::new());
    slow(&mut g, started.clone(), Duration::from_secs(30));
    let srv = serve(&mut g, json!({"grace": "100ms"}), &[(OutPort::OUT, "slow", 0)]);
    let url = srv.url("/");
    let request = tokio::spawn(async move { client().get(url).send().await });
    started.notified().await;
    srv.node.unload();
    let outcome = tokio::time::timeout(Duration::from_secs(10), request)
        .await
        .expect("closed in time");
    assert!(outcome.unwrap().is_err());
}

#[tokio::test]
async fn net_client_gone_cancels_the_process() {
    use tokio::io::AsyncWriteExt;
    let mut g = Graph::new();
    let started = Arc::new(Notify::new());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let tx = parking_lot::Mutex::new(Some(tx));
    let seen = started.clone();
    let node = FnNode(move |_v: Value| {
        let seen = seen.clone();
        async move {
            seen.notify_one();
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(Value::Null)
        }
    });
    g.add("slow", node, &[]);
    struct Hook(parking_lot::Mutex<Option<tokio::sync::oneshot::Sender<Option<String>>>>);
    impl Node for Hook {
        type State = ();
        async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
            if let Some(tx) = self.0.lock().take() {
                cx.process()
                    .on_exit(move |c| drop(tx.send(c.map(|e| e.message().to_string()))));
            }
            cx.emit(OutPort::OUT, input.packet.value).await
        }
    }
    g.add("hook", Hook(tx), &[(OutPort::OUT, "slow", 0)]);
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "hook", 0)]);
    let mut conn = tokio::net::TcpStream::connect(srv.addr).await.unwrap();
    conn.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    started.notified().await;
    drop(conn);
    let cause = tokio::time::timeout(Duration::from_secs(5), rx)
        .await
        .expect("process ended")
        .unwrap();
    assert!(
        cause.is_some_and(|c| c.contains("ended before")),
        "process exited without an error"
    );
}
