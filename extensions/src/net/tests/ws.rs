//! `gateway` and `websocket` over real sockets: a real WebSocket client talking to weir's listener
//! through a gateway, the websocket client against a tokio-tungstenite server, both together as
//! uniflow's WebSocket proxy, and the system-address guard.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use parking_lot::Mutex;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use weir_codecs::resource::IO_PORT;
use weir_engine::testing::{eventually, map, Collect, Graph};
use weir_engine::{call, OutPort, Process, Value};

use super::client::{compile_in, system_addr};
use super::{client, compile, install, serve};

/// A WebSocket server: answers each text message with `f(text)`; closes on `bye`. Aborted on drop.
struct WsServer {
    addr: std::net::SocketAddr,
    task: tokio::task::JoinHandle<()>,
    closed: Arc<Mutex<usize>>,
}

impl Drop for WsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn ws_server(f: fn(&str) -> String) -> WsServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = Arc::new(Mutex::new(0));
    let seen_close = closed.clone();
    let task = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let seen_close = seen_close.clone();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(msg)) = ws.next().await {
                    match msg {
                        Message::Text(t) if t.as_str() == "bye" => {
                            let _ = ws.close(None).await;
                            break;
                        }
                        Message::Text(t) => {
                            let _ = ws.send(Message::text(f(t.as_str()))).await;
                        }
                        Message::Binary(b) => {
                            let _ = ws.send(Message::binary(b)).await;
                        }
                        Message::Close(_) => break,
                        _ => {}
                    }
                }
                *seen_close.lock() += 1;
            });
        }
    });
    WsServer { addr, task, closed }
}

/// A WebSocket client connected to `ws://addr/path`.
async fn ws_client(addr: std::net::SocketAddr, path: &str) -> WebSocketStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (ws, res) = tokio_tungstenite::client_async(format!("ws://{addr}{path}"), tcp)
        .await
        .unwrap();
    assert_eq!(res.status(), 101);
    ws
}

async fn next_text(ws: &mut WebSocketStream<TcpStream>) -> String {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a message in time")
        .expect("open")
        .expect("a message");
    match msg {
        Message::Text(t) => t.as_str().to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[tokio::test]
async fn net_gateway_turns_frames_into_packets_and_replies_into_frames() {
    let mut g = Graph::new();
    g.add(
        "upper",
        map(|v| {
            let data = v.get("data").and_then(Value::as_str).unwrap_or("").to_uppercase();
            Ok(match data.as_str() {
                // Two elements: two frames.
                "TWICE" => Value::list([Value::from("1"), Value::from("2")]),
                "NOTHING" => Value::Null,
                _ => Value::from(data),
            })
        }),
        &[],
    );
    let gateway = compile(
        "gateway",
        json!({"protocol": "websocket", "timeout": "5s", "buffer": 4096}),
    );
    install(&mut g, "gateway", gateway, &[(OutPort::OUT, "upper", 0)]);
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "gateway", IO_PORT)]);

    let mut ws = ws_client(srv.addr, "/chat").await;
    ws.send(Message::text("hello")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "HELLO");
    ws.send(Message::text("nothing")).await.unwrap();
    ws.send(Message::text("twice")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, r#"["1","2"]"#);
    ws.send(Message::text("world")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "WORLD");
    // A second connection is a process of its own.
    let mut other = ws_client(srv.addr, "/chat").await;
    other.send(Message::text("b")).await.unwrap();
    assert_eq!(next_text(&mut other).await, "B");
    ws.close(None).await.unwrap();
    // The listener still serves plain requests.
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 500);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("gateway test/gateway: not a WebSocket upgrade request"),
        "{text}"
    );
}

#[tokio::test]
async fn net_websocket_client_sends_and_receives_in_its_process() {
    let server = ws_server(|t| format!("echo {t}")).await;
    let mut g = Graph::new();
    let seen = Collect::default();
    let log = seen.seen.clone();
    g.add("seen", seen, &[]);
    let node = compile(
        "websocket",
        json!({"url": format!("ws://{}/x", server.addr), "timeout": "5s"}),
    );
    let slot = install(&mut g, "ws", node, &[(OutPort::OUT, "seen", 0)]);

    let p = Process::new();
    assert_eq!(call(&slot, &p, IO_PORT, Value::Null).await.unwrap(), vec![]);
    let child = p.fork();
    call(&slot, &child, 0, Value::from("hi")).await.unwrap();
    call(&slot, &p, 0, Value::from(&json!({"a": 1}))).await.unwrap();
    call(&slot, &p, 0, Value::from(&json!({"type": 2, "data": "ab"})))
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || log.lock().values.len() == 3).await);
    let got: Vec<_> = log.lock().values.iter().map(Value::to_json).collect();
    assert_eq!(got[0], json!({"type": 1, "data": "echo hi"}));
    assert_eq!(got[1], json!({"type": 1, "data": "echo {\"a\":1}"}));
    assert_eq!(
        log.lock().values[2].get("data"),
        Some(&Value::Bytes(Bytes::from("ab")))
    );

    // No connection in another process.
    let err = call(&slot, &Process::new(), 0, Value::from("x"))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("no WebSocket connection in this process"),
        "{err}"
    );
    // The server closing the connection ends the process.
    call(&slot, &p, 0, Value::from("bye")).await.unwrap();
    assert!(eventually(Duration::from_secs(10), || p.is_done()).await);
    assert!(eventually(Duration::from_secs(10), || *server.closed.lock() == 1).await);

    // The process ending closes the connection.
    let q = Process::new();
    call(&slot, &q, IO_PORT, Value::Null).await.unwrap();
    assert_eq!(*server.closed.lock(), 1);
    q.exit(None);
    assert!(eventually(Duration::from_secs(10), || *server.closed.lock() == 2).await);
}

#[tokio::test]
async fn net_gateway_and_websocket_make_a_websocket_proxy() {
    let upstream = ws_server(|t| t.to_uppercase()).await;
    let mut g = Graph::new();
    let gateway = compile("gateway", json!({"protocol": "websocket"}));
    let websocket = compile("websocket", json!({"url": format!("ws://{}/", upstream.addr)}));
    install(&mut g, "gateway", gateway, &[(OutPort::OUT, "proxy", 0)]);
    install(&mut g, "proxy", websocket, &[(OutPort::OUT, "gateway", 0)]);
    let srv = serve(
        &mut g,
        json!({}),
        &[
            (OutPort::OUT, "gateway", IO_PORT),
            (OutPort::OUT, "proxy", IO_PORT),
        ],
    );
    let mut ws = ws_client(srv.addr, "/ws").await;
    ws.send(Message::text("abc")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "ABC");
    ws.send(Message::text("def")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "DEF");
    // The client leaving ends the process, which closes the upstream connection.
    ws.close(None).await.unwrap();
    assert!(eventually(Duration::from_secs(10), || *upstream.closed.lock() == 1).await);
}

#[tokio::test]
async fn net_websocket_refuses_the_system_listener_outside_system() {
    let (addr, _up) = system_addr();
    let mut g = Graph::new();
    let node = compile_in(
        "default",
        "websocket",
        json!({"url": format!("ws://localhost:{}/", addr.port())}),
    );
    let slot = install(&mut g, "ws", node, &[]);
    let err = call(&slot, &Process::new(), IO_PORT, Value::Null)
        .await
        .unwrap_err();
    assert!(err.message().contains("system listener"), "{err}");
}
