//! Packet-level tests of `sleep`.

use std::time::Duration;

use serde_json::json;
use weir_engine::testing::Graph;
use weir_engine::{ErrorKind, Process, Value};

use crate::control::test_support::{call, compile, load, one};

#[tokio::test(start_paused = true)]
async fn passes_the_packet_on_after_the_interval() {
    let mut g = Graph::new();
    let slot = load(&mut g, "s", "sleep", json!({"interval": "2s"}), &[]);
    let started = tokio::time::Instant::now();
    assert_eq!(call(&slot, Value::from("x")).await, one("x"));
    // The clock is paused and advances only through timers, so this reads the node's own sleep.
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[tokio::test]
async fn cancelling_the_process_ends_the_sleep() {
    let mut g = Graph::new();
    let slot = load(&mut g, "s", "sleep", json!({"interval": "1h"}), &[]);
    let p = Process::new();
    let waiting = {
        let (slot, p) = (slot.clone(), p.clone());
        tokio::spawn(async move { weir_engine::call(&slot, &p, 0, Value::from(1)).await })
    };
    tokio::task::yield_now().await;
    p.cancel();
    let out = tokio::time::timeout(Duration::from_secs(10), waiting)
        .await
        .expect("the call ends when its process is cancelled")
        .expect("joins");
    assert_eq!(out.unwrap_err().kind(), ErrorKind::Cancelled);
}

#[test]
fn interval_is_required_and_checked() {
    let issues = compile("sleep", json!({})).unwrap_err();
    assert!(
        issues.iter().any(|i| i.message.contains("interval")),
        "{issues:?}"
    );
    let issues = compile("sleep", json!({"interval": "soon"})).unwrap_err();
    assert_eq!(issues[0].field, "interval");
    assert!(compile("sleep", json!({"interval": 250})).is_ok());
}
