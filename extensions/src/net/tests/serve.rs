//! Request and response rules: routing, payload shape, h2c, limits, errors, timeouts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::json;
use weir_engine::testing::{map, Collect, FnNode, Graph};
use weir_engine::{Cx, Error, ErrorKind, Input, Node, OutPort, Process, Result, Value};

use super::{client, compile, install, serve};

/// listener → router → pong (`GET /ping`) | params (`GET /users/:id`).
fn routed(g: &mut Graph) -> super::Server {
    let router = compile(
        "router",
        json!({"routes": [
            {"method": "GET", "path": "/ping", "port": "out[0]"},
            {"method": "GET", "path": "/users/:id", "port": "out[1]"},
            {"method": "GET", "path": "/files/*", "port": "out[1]"}
        ]}),
    );
    g.add("pong", map(|_| Ok(Value::from("pong"))), &[]);
    g.add(
        "params",
        map(|v| Ok(v.get("params").cloned().unwrap_or_default())),
        &[],
    );
    install(
        g,
        "router",
        router,
        &[(OutPort::Out(0), "pong", 0), (OutPort::Out(1), "params", 0)],
    );
    serve(g, json!({}), &[(OutPort::OUT, "router", 0)])
}

#[tokio::test]
async fn net_ping_through_listener_router_and_a_node() {
    let mut g = Graph::new();
    let srv = routed(&mut g);
    let res = client().get(srv.url("/ping")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(res.text().await.unwrap(), "pong");
}

#[tokio::test]
async fn net_h2c_with_prior_knowledge() {
    let mut g = Graph::new();
    let srv = routed(&mut g);
    let h2 = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let res = h2.get(srv.url("/ping")).send().await.unwrap();
    assert_eq!(res.version(), reqwest::Version::HTTP_2);
    assert_eq!(res.text().await.unwrap(), "pong");
}

#[tokio::test]
async fn net_path_params_and_wildcard() {
    let mut g = Graph::new();
    let srv = routed(&mut g);
    let res = client().get(srv.url("/users/42")).send().await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        json!({"id": "42"})
    );
    let res = client().get(srv.url("/files/a/b%20c.txt")).send().await.unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap(),
        json!({"*": "a/b c.txt"})
    );
}

#[tokio::test]
async fn net_router_answers_404_405_and_options() {
    let mut g = Graph::new();
    let srv = routed(&mut g);
    let c = client();
    let res = c.get(srv.url("/nope")).send().await.unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.text().await.unwrap(), "Not Found");
    let res = c.post(srv.url("/ping")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.headers()["allow"], "OPTIONS, GET");
    let res = c
        .request(reqwest::Method::OPTIONS, srv.url("/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(res.headers()["allow"], "OPTIONS, GET");
}

#[tokio::test]
async fn net_router_refuses_what_is_not_a_request() {
    let mut g = Graph::new();
    let router = compile(
        "router",
        json!({"routes": [{"method": "GET", "path": "/", "port": "out[0]"}]}),
    );
    let slot = install(&mut g, "router", router, &[]);
    let err = weir_engine::call(&slot, &Process::new(), 0, Value::from(1))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);
}

#[tokio::test]
async fn net_request_payload_has_uniflows_shape() {
    let mut g = Graph::new();
    g.add("echo", map(|v| Ok(Value::map([("request", v)]))), &[]);
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "echo", 0)]);
    let res = client()
        .post(srv.url("/echo/a%2Fb?x=1&x=2&y=a+b"))
        .header("X-Test", "yes")
        .header("Cookie", "s=1; t=2")
        .json(&json!({"a": [1, 2]}))
        .send()
        .await
        .unwrap();
    let got = res.json::<serde_json::Value>().await.unwrap()["request"].clone();
    assert_eq!(got["method"], "POST");
    assert_eq!(got["scheme"], "http");
    assert_eq!(got["host"], srv.addr.to_string());
    assert_eq!(got["path"], "/echo/a/b");
    assert_eq!(got["query"], json!({"x": ["1", "2"], "y": ["a b"]}));
    assert_eq!(got["protocol"], "HTTP/1.1");
    assert_eq!(got["header"]["X-Test"], json!(["yes"]));
    assert_eq!(got["header"]["Content-Type"], json!(["application/json"]));
    assert_eq!(got["cookies"], json!({"s": "1", "t": "2"}));
    assert_eq!(got["body"], json!({"a": [1, 2]}));
    let res = client()
        .post(srv.url("/"))
        .header("Content-Type", "text/plain")
        .body("hi")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.json::<serde_json::Value>().await.unwrap()["request"]["body"],
        "hi"
    );
}

#[tokio::test]
async fn net_body_limit_answers_413() {
    let mut g = Graph::new();
    let seen = Collect::default();
    g.add("collect", seen.clone(), &[]);
    let srv = serve(&mut g, json!({"max_body": 1024}), &[(OutPort::OUT, "collect", 0)]);
    let c = client();
    let res = c.post(srv.url("/")).body(vec![b'x'; 2048]).send().await.unwrap();
    assert_eq!(res.status(), 413);
    // Without a Content-Length the limit is found while reading.
    let chunks = futures::stream::iter((0..4).map(|_| Ok::<_, std::io::Error>(vec![b'y'; 512])));
    let res = c
        .post(srv.url("/"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    let res = c.post(srv.url("/")).body(vec![b'z'; 1024]).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(seen.seen.lock().values.len(), 1);
}

#[tokio::test]
async fn net_malformed_json_answers_400_without_a_process() {
    let mut g = Graph::new();
    let seen = Collect::default();
    g.add("collect", seen.clone(), &[]);
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "collect", 0)]);
    let res = client()
        .post(srv.url("/"))
        .header("Content-Type", "application/json")
        .body("{bad")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("malformed JSON"));
    assert!(seen.seen.lock().values.is_empty());
}

#[tokio::test]
async fn net_error_reply_is_500_or_goes_to_the_error_port() {
    let mut g = Graph::new();
    g.add("fail", weir_engine::testing::fail("boom"), &[]);
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "fail", 0)]);
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(res.text().await.unwrap(), "boom");

    let mut g = Graph::new();
    g.add("fail", weir_engine::testing::fail("boom"), &[]);
    g.add(
        "catch",
        map(|e| {
            Ok(Value::from(
                &json!({"status": 502, "body": format!("caught: {e}")}),
            ))
        }),
        &[],
    );
    let srv = serve(
        &mut g,
        json!({}),
        &[(OutPort::OUT, "fail", 0), (OutPort::Error, "catch", 0)],
    );
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 502);
    assert_eq!(res.text().await.unwrap(), "caught: boom");
}

/// Replies with a fixed value and records how its process exited.
struct Reply {
    value: Value,
    exits: Arc<Mutex<Vec<Option<String>>>>,
}

impl Node for Reply {
    type State = ();

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, _input: Input) -> Result<()> {
        let exits = self.exits.clone();
        cx.process()
            .on_exit(move |cause| exits.lock().push(cause.map(|e| e.message().to_string())));
        cx.emit(OutPort::OUT, self.value.clone()).await
    }
}

#[tokio::test]
async fn net_status_400_or_more_ends_the_process_with_an_error() {
    for (value, status, exit) in [
        (
            json!({"status": 418, "header": {"X-A": "b"}, "body": "teapot"}),
            418,
            Some("HTTP 418 I'm a teapot"),
        ),
        (json!({"status": 201, "body": {"ok": true}}), 201, None),
        (json!({"plain": "map"}), 200, None),
    ] {
        let mut g = Graph::new();
        let exits = Arc::new(Mutex::new(Vec::new()));
        g.add(
            "reply",
            Reply {
                value: Value::from(&value),
                exits: exits.clone(),
            },
            &[],
        );
        let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "reply", 0)]);
        let res = client().get(srv.url("/")).send().await.unwrap();
        assert_eq!(res.status(), status);
        assert_eq!(*exits.lock(), vec![exit.map(String::from)], "{value}");
    }
}

#[tokio::test]
async fn net_empty_reply_is_an_empty_200() {
    let mut g = Graph::new();
    let srv = serve(&mut g, json!({}), &[(OutPort::OUT, "nothing", 0)]);
    g.add("nothing", weir_engine::testing::Produce::new(0), &[]);
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "");
}

#[tokio::test]
async fn net_slow_node_hits_the_request_timeout() {
    let mut g = Graph::new();
    let exits = Arc::new(Mutex::new(Vec::new()));
    let seen = exits.clone();
    g.add(
        "slow",
        FnNode(move |_v: Value| async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            Err::<Value, _>(Error::node("should have been cancelled"))
        }),
        &[],
    );
    let recorder = Reply {
        value: Value::Null,
        exits: seen,
    };
    g.add("record", recorder, &[(OutPort::OUT, "slow", 0)]);
    let srv = serve(
        &mut g,
        json!({"timeout": "200ms"}),
        &[(OutPort::OUT, "record", 0)],
    );
    let started = Instant::now();
    let res = client().get(srv.url("/")).send().await.unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.text().await.unwrap().contains("timed out"));
    assert!(started.elapsed() < Duration::from_secs(15));
    let exit = exits.lock().first().cloned().flatten().unwrap_or_default();
    assert!(exit.contains("timed out"), "{exit}");
}
