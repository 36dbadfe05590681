//! The control-flow example end to end: the real binary serves `examples/control-flow.yaml`
//! (step, block, if, pipe, for, switch behind a listener and a router) over real HTTP.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use serde_json::{json, Value};
use weir_tests::http::request;
use weir_tests::Weir;

const UP: Duration = Duration::from_secs(60);

fn post(addr: std::net::SocketAddr, path: &str, body: Value) -> (u16, Value) {
    let r = request(
        addr,
        "POST",
        path,
        &[("Content-Type", "application/json")],
        &body.to_string(),
    )
    .unwrap();
    let body = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone()));
    (r.status, body)
}

#[test]
fn the_control_flow_example_branches_loops_and_switches() {
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "--from-specs",
        "examples/control-flow.yaml",
        "--env",
        "PORT=0",
    ]);
    let addr = weir.listening("default/listener", UP);

    assert_eq!(
        post(addr, "/grade", json!({"name": "ada", "score": 72})),
        (200, json!({"name": "ada", "result": "pass"}))
    );
    assert_eq!(
        post(addr, "/grade", json!({"name": "bob", "score": 12})),
        (200, json!({"name": "bob", "result": "fail"}))
    );
    assert_eq!(post(addr, "/double", json!([1, 2, 3])), (200, json!([2, 4, 6])));
    assert_eq!(post(addr, "/sign", json!({"n": -4})), (200, json!("negative")));
    assert_eq!(post(addr, "/sign", json!({"n": 9})), (200, json!("positive")));
    assert_eq!(post(addr, "/sign", json!({"n": 0})), (200, json!(0)));
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}
