//! `examples/channels.yaml` end to end: the real binary publishes each POSTed order to a channel and
//! answers with it, and a subscriber in the same namespace appends every order, in order, to a file.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use weir_tests::http::request;
use weir_tests::Weir;

const UP: Duration = Duration::from_secs(60);

#[test]
fn the_channels_example_publishes_orders_to_a_subscriber() {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let env = format!("AUDIT={}", audit.display());
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "--from-specs",
        "examples/channels.yaml",
        "--env",
        "PORT=0",
        "--env",
        &env,
    ]);
    let addr = weir.listening("default/listener", UP);

    let orders = [
        json!({"item": "tea", "qty": 2}),
        json!({"item": "rice", "qty": 1}),
        json!({"item": "salt", "qty": 3}),
    ];
    for order in &orders {
        let r = request(
            addr,
            "POST",
            "/orders",
            &[("Content-Type", "application/json")],
            &order.to_string(),
        )
        .unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(
            serde_json::from_str::<Value>(&r.body).unwrap(),
            *order,
            "publish answers with what it sent"
        );
    }
    let want = "tea x2\nrice x1\nsalt x3\n";
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = String::new();
    while Instant::now() < deadline {
        got = std::fs::read_to_string(&audit).unwrap_or_default();
        if got.len() >= want.len() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(got, want);
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}
