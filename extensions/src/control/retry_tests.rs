//! Packet-level tests of `retry`: a threshold of N means up to N+1 attempts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::json;
use weir_engine::testing::{map, Graph};
use weir_engine::{Error, OutPort, Value};

use crate::control::testkit::{add, call, issue, values};

/// Fails its first `failures` packets, then answers `ok`; counts every attempt.
fn flaky(failures: usize, attempts: Arc<AtomicUsize>) -> impl weir_engine::Node {
    map(move |_| {
        let n = attempts.fetch_add(1, Ordering::SeqCst);
        if n < failures {
            Err(Error::node(format!("attempt {} failed", n + 1)))
        } else {
            Ok(Value::from("ok"))
        }
    })
}

async fn run(threshold: u32, failures: usize, catch: bool) -> (weir_engine::Result<Vec<Value>>, usize) {
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut g = Graph::new();
    g.add("work", flaky(failures, attempts.clone()), &[]);
    g.add("catch", map(|v| Ok(Value::from(format!("gave up: {v}")))), &[]);
    let mut links = vec![(OutPort::OUT, "work", 0)];
    if catch {
        links.push((OutPort::Error, "catch", 0));
    }
    let node = add(&mut g, "retry", "retry", json!({"threshold": threshold}), &links);
    let reply = call(&node, json!("job")).await;
    (reply, attempts.load(Ordering::SeqCst))
}

#[tokio::test]
async fn threshold_n_allows_n_plus_one_attempts() {
    let (reply, attempts) = run(2, 2, false).await;
    assert_eq!(reply, values(&[json!("ok")]));
    assert_eq!(attempts, 3);
}

#[tokio::test]
async fn the_last_error_is_the_reply_when_every_attempt_fails() {
    let (reply, attempts) = run(1, 5, false).await;
    assert_eq!(reply.unwrap_err().message(), "attempt 2 failed");
    assert_eq!(attempts, 2);
}

#[tokio::test]
async fn the_last_error_goes_to_error_when_connected() {
    let (reply, attempts) = run(0, 5, true).await;
    let reply = reply.unwrap();
    assert!(
        reply[0].as_str().unwrap().contains("attempt 1 failed"),
        "{reply:?}"
    );
    assert_eq!(attempts, 1);
}

#[tokio::test]
async fn a_success_is_not_retried() {
    let (reply, attempts) = run(3, 0, false).await;
    assert_eq!(reply, values(&[json!("ok")]));
    assert_eq!(attempts, 1);
}

#[test]
fn a_negative_threshold_is_refused() {
    assert_eq!(issue("retry", json!({"threshold": -1})).field, "threshold");
}
