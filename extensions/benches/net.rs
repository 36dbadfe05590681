//! One round trip per `net` kind, each over real sockets on 127.0.0.1, beside a plain hyper baseline:
//! - `http/direct_hyper`: hyper's pooled client straight to a local hyper server (the baseline);
//! - `http/node`: the same GET through an `http` node (`call` into the node, reply back);
//! - `proxy/node`: a request payload through a `proxy` node to the same server;
//! - `listener/plain`, `listener/tls`: a keep-alive client → weir's listener → one node → response,
//!   over HTTP/1.1 cleartext and over TLS (rustls, *ring*);
//! - `gateway/message`: a WebSocket message → listener's gateway → one node → reply frame;
//! - `websocket/message`: `in` of a `websocket` node → a tokio-tungstenite echo server → `out`.
//! - `router/route`: a request payload routed by method and path to a terminal node.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion};
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::IO_PORT;
use weir_engine::testing::{map, FnNode, Graph};
use weir_engine::{call, BoxedNode, NodeRuntime, NodeSlot, OutPort, Process, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn compile(kind: &str, fields: serde_json::Value) -> BoxedNode {
    let mut scheme = Scheme::new();
    weir_extensions::net::register(&mut scheme);
    let cx = CompileContext::new("bench", kind);
    scheme
        .get(kind)
        .expect("kind")
        .compile(&fields, &cx)
        .expect("compiles")
}

fn install(g: &mut Graph, name: &str, node: BoxedNode, links: &[(OutPort, &str, usize)]) -> Arc<NodeSlot> {
    let mut rt = NodeRuntime::from_boxed(name, node.clone());
    for (port, target, in_port) in links {
        rt = rt.link(*port, &g.slot(target), *in_port);
    }
    let slot = g.slot(name);
    slot.install(rt);
    node.load(&slot).expect("loads");
    slot
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A hyper server answering every request with a small JSON body.
async fn hyper_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = service_fn(|_req| async {
                    let mut res = hyper::Response::new(Full::new(Bytes::from_static(br#"{"ok":true}"#)));
                    res.headers_mut()
                        .insert("content-type", "application/json".parse().expect("header"));
                    Ok::<_, Infallible>(res)
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// A WebSocket server echoing every message.
async fn ws_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() || msg.is_binary() {
                        let _ = ws.send(msg).await;
                    }
                }
            });
        }
    });
    addr
}

/// Measures `iters` runs of `one` on a worker of `rt`.
fn timed<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, one: F) -> Duration
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..iters {
                one(i).await;
            }
            start.elapsed()
        })
        .await
        .expect("runner")
    })
}

fn bench(c: &mut Criterion) {
    weir_extensions::net::tls::install_crypto_provider();
    let rt = runtime();
    let mut g = Graph::new();
    let server = rt.block_on(hyper_server());
    let echo_addr = rt.block_on(ws_echo());
    let (fetch, proxy, plain_addr, tls_addr, tls_cert, gateway_port, ws_slot, received) =
        rt.block_on(async {
            let fetch = install(
                &mut g,
                "fetch",
                compile("http", json!({"url": format!("http://{server}/ping")})),
                &[],
            );
            let proxy = install(
                &mut g,
                "proxy",
                compile("proxy", json!({"urls": [format!("http://{server}/")]})),
                &[],
            );
            g.add("pong", map(|_| Ok(Value::from("pong"))), &[]);
            let plain_port = free_port();
            install(
                &mut g,
                "plain",
                compile(
                    "listener",
                    json!({"protocol": "http", "host": "127.0.0.1", "port": plain_port}),
                ),
                &[(OutPort::OUT, "pong", 0)],
            );
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).expect("cert");
            let (cert, key) = (made.cert.pem(), made.signing_key.serialize_pem());
            let tls_port = free_port();
            install(
                &mut g,
                "tls",
                compile(
                    "listener",
                    json!({"protocol": "http", "host": "127.0.0.1", "port": tls_port,
                       "tls": {"cert": cert, "key": key}}),
                ),
                &[(OutPort::OUT, "pong", 0)],
            );
            install(
                &mut g,
                "gateway",
                compile("gateway", json!({"protocol": "websocket"})),
                &[],
            );
            let ws_port = free_port();
            install(
                &mut g,
                "ws_listener",
                compile(
                    "listener",
                    json!({"protocol": "http", "host": "127.0.0.1", "port": ws_port}),
                ),
                &[(OutPort::OUT, "gateway", IO_PORT)],
            );
            let (tx, rx) = mpsc::unbounded_channel::<Value>();
            g.add(
                "received",
                FnNode(move |v: Value| {
                    let tx = tx.clone();
                    async move {
                        let _ = tx.send(v);
                        Ok(Value::Null)
                    }
                }),
                &[],
            );
            let ws_slot = install(
                &mut g,
                "websocket",
                compile("websocket", json!({"url": format!("ws://{echo_addr}/")})),
                &[(OutPort::OUT, "received", 0)],
            );
            (
                fetch,
                proxy,
                SocketAddr::from(([127, 0, 0, 1], plain_port)),
                tls_port,
                cert,
                ws_port,
                ws_slot,
                rx,
            )
        });

    let mut group = c.benchmark_group("http");
    let direct =
        hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let url: hyper::Uri = format!("http://{server}/ping").parse().expect("uri");
    group.bench_function("direct_hyper", |b| {
        b.iter_custom(|iters| {
            let (direct, url) = (direct.clone(), url.clone());
            timed(&rt, iters, move |_| {
                let (direct, url) = (direct.clone(), url.clone());
                async move {
                    let res = direct.get(url).await.expect("response");
                    let body = res.into_body().collect().await.expect("body").to_bytes();
                    assert_eq!(body.len(), 11);
                }
            })
        })
    });
    group.bench_function("node", |b| {
        b.iter_custom(|iters| {
            let fetch = fetch.clone();
            timed(&rt, iters, move |_| {
                let fetch = fetch.clone();
                async move {
                    let p = Process::new();
                    let reply = call(&fetch, &p, 0, Value::Null).await.expect("reply");
                    assert_eq!(reply.len(), 1);
                    p.exit(None);
                }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("proxy");
    let request = Value::from(&json!({"method": "GET", "scheme": "http", "host": "weir", "path": "/x"}));
    group.bench_function("node", |b| {
        b.iter_custom(|iters| {
            let (proxy, request) = (proxy.clone(), request.clone());
            timed(&rt, iters, move |_| {
                let (proxy, request) = (proxy.clone(), request.clone());
                async move {
                    let p = Process::new();
                    let reply = call(&proxy, &p, 0, request).await.expect("reply");
                    assert_eq!(reply.len(), 1);
                    p.exit(None);
                }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("listener");
    let plain = reqwest::Client::builder().no_proxy().build().expect("client");
    let plain_url = format!("http://{plain_addr}/");
    group.bench_function("plain", |b| {
        b.iter_custom(|iters| {
            let (client, url) = (plain.clone(), plain_url.clone());
            timed(&rt, iters, move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let text = client
                        .get(url)
                        .send()
                        .await
                        .expect("response")
                        .text()
                        .await
                        .expect("body");
                    assert_eq!(text, "pong");
                }
            })
        })
    });
    let tls = reqwest::Client::builder()
        .no_proxy()
        .http1_only()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(tls_cert.as_bytes()).expect("cert"))
        .resolve("localhost", SocketAddr::from(([127, 0, 0, 1], tls_addr)))
        .build()
        .expect("client");
    let tls_url = format!("https://localhost:{tls_addr}/");
    group.bench_function("tls", |b| {
        b.iter_custom(|iters| {
            let (client, url) = (tls.clone(), tls_url.clone());
            timed(&rt, iters, move |_| {
                let (client, url) = (client.clone(), url.clone());
                async move {
                    let text = client
                        .get(url)
                        .send()
                        .await
                        .expect("response")
                        .text()
                        .await
                        .expect("body");
                    assert_eq!(text, "pong");
                }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("gateway");
    let client = rt.block_on(async {
        let addr = SocketAddr::from(([127, 0, 0, 1], gateway_port));
        let tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.set_nodelay(true).expect("nodelay");
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/"), tcp)
            .await
            .expect("handshake");
        Arc::new(tokio::sync::Mutex::new(ws))
    });
    group.bench_function("message", |b| {
        b.iter_custom(|iters| {
            let client = client.clone();
            timed(&rt, iters, move |_| {
                let client = client.clone();
                async move {
                    let mut ws = client.lock().await;
                    ws.send(Message::text("ping")).await.expect("send");
                    // Nothing is linked to the gateway's `out`: the message is its own reply (an echo).
                    let back = ws.next().await.expect("open").expect("message");
                    assert_eq!(back.to_text().expect("text"), "ping");
                }
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("websocket");
    let process = Process::new();
    rt.block_on(call(&ws_slot, &process, IO_PORT, Value::Null))
        .expect("connects");
    let received = Arc::new(tokio::sync::Mutex::new(received));
    group.bench_function("message", |b| {
        b.iter_custom(|iters| {
            let (slot, process, received) = (ws_slot.clone(), process.clone(), received.clone());
            timed(&rt, iters, move |_| {
                let (slot, process, received) = (slot.clone(), process.clone(), received.clone());
                async move {
                    call(&slot, &process, 0, Value::from("ping")).await.expect("sent");
                    let v = received.lock().await.recv().await.expect("received");
                    assert_eq!(v.get("data").and_then(Value::as_str), Some("ping"));
                }
            })
        })
    });
    group.finish();
    process.exit(None);

    // The router alone: a request payload routed by method and path to a terminal map.
    let router = rt.block_on(async {
        g.add("routed", map(Ok), &[]);
        install(
            &mut g,
            "router",
            compile(
                "router",
                json!({"routes": [
                    {"method": "GET", "path": "/users/:id", "port": "out[0]"},
                    {"method": "GET", "path": "/ping", "port": "out[1]"},
                ]}),
            ),
            &[(OutPort::Out(0), "routed", 0), (OutPort::Out(1), "routed", 0)],
        )
    });
    let mut group = c.benchmark_group("router");
    group.bench_function("route", |b| {
        b.iter_custom(|iters| {
            let router = router.clone();
            timed(&rt, iters, move |_| {
                let router = router.clone();
                async move {
                    let p = Process::new();
                    let request = Value::from(json!({"method": "GET", "path": "/users/7"}));
                    let r = call(&router, &p, 0, request).await.expect("routed");
                    assert_eq!(r.len(), 1);
                    p.exit(None);
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
