//! Packet-level tests of `cache`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use weir_engine::testing::{eventually, FnNode, Graph};
use weir_engine::{Error, NodeRuntime, NodeSlot, OutPort, Value};

use super::{key_of, Cache};
use crate::control::test_support::{call, compile, load, one};

/// A downstream node that counts its calls and answers `seen:<payload>`.
fn counting(g: &mut Graph, calls: &Arc<AtomicUsize>) {
    let calls = calls.clone();
    g.add(
        "work",
        FnNode(move |v: Value| {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok(Value::from(format!("seen:{v}#{n}"))) }
        }),
        &[],
    );
}

fn cached(g: &mut Graph, fields: serde_json::Value) -> Arc<NodeSlot> {
    load(g, "c", "cache", fields, &[(OutPort::OUT, "work", 0)])
}

#[tokio::test]
async fn a_hit_answers_without_calling_downstream() {
    let mut g = Graph::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting(&mut g, &calls);
    let slot = cached(&mut g, json!({}));
    assert_eq!(call(&slot, Value::from("a")).await, one("seen:a#0"));
    assert_eq!(call(&slot, Value::from("a")).await, one("seen:a#0"));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(call(&slot, Value::from("b")).await, one("seen:b#1"));
    // Types are part of the key: the number 1 is not the string "1".
    assert_eq!(call(&slot, Value::from(1)).await, one("seen:1#2"));
    assert_eq!(call(&slot, Value::from("1")).await, one("seen:1#3"));
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn the_least_recently_used_entry_is_evicted_at_capacity() {
    let mut g = Graph::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting(&mut g, &calls);
    let slot = cached(&mut g, json!({"capacity": 2}));
    call(&slot, Value::from("a")).await.unwrap();
    call(&slot, Value::from("b")).await.unwrap();
    call(&slot, Value::from("a")).await.unwrap(); // a is now the most recently used
    call(&slot, Value::from("c")).await.unwrap(); // evicts b
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(call(&slot, Value::from("a")).await, one("seen:a#0"));
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(call(&slot, Value::from("b")).await, one("seen:b#3"));
}

#[tokio::test(start_paused = true)]
async fn an_entry_expires_after_its_ttl() {
    let mut g = Graph::new();
    let calls = Arc::new(AtomicUsize::new(0));
    counting(&mut g, &calls);
    let slot = cached(&mut g, json!({"ttl": "1s"}));
    assert_eq!(call(&slot, Value::from("a")).await, one("seen:a#0"));
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(call(&slot, Value::from("a")).await, one("seen:a#0"));
    tokio::time::advance(Duration::from_millis(600)).await;
    assert_eq!(call(&slot, Value::from("a")).await, one("seen:a#1"));
    // uniflow's name for the field works too.
    assert!(compile("cache", json!({"interval": "1h"})).is_ok());
}

#[tokio::test]
async fn errors_are_not_stored() {
    let mut g = Graph::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    g.add(
        "work",
        FnNode(move |v: Value| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    Err(Error::node("flaky"))
                } else {
                    Ok(v)
                }
            }
        }),
        &[],
    );
    let slot = cached(&mut g, json!({}));
    assert_eq!(
        call(&slot, Value::from("a")).await.unwrap_err().message(),
        "flaky"
    );
    assert_eq!(call(&slot, Value::from("a")).await, one("a"));
    assert_eq!(call(&slot, Value::from("a")).await, one("a"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_for_one_payload_go_downstream_once() {
    let mut g = Graph::new();
    let calls = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    {
        let (calls, gate) = (calls.clone(), gate.clone());
        g.add(
            "work",
            FnNode(move |v: Value| {
                calls.fetch_add(1, Ordering::SeqCst);
                let gate = gate.clone();
                async move {
                    let _permit = gate.acquire().await;
                    Ok(Value::from(format!("slow:{v}")))
                }
            }),
            &[],
        );
    }
    let cache = Cache::new(16, None);
    let inflight = cache.inflight.clone();
    let slot = g.slot("c");
    slot.install(NodeRuntime::new("c", cache).link(OutPort::OUT, &g.slot("work"), 0));
    let callers: Vec<_> = (0..5)
        .map(|_| {
            let slot = slot.clone();
            tokio::spawn(async move { call(&slot, Value::from("k")).await })
        })
        .collect();
    // The leader is downstream and four followers wait on its channel.
    let key = key_of(&Value::from("k"));
    let waiting = eventually(Duration::from_secs(10), || {
        inflight
            .lock()
            .get(&key)
            .is_some_and(|tx| tx.receiver_count() == 4)
    })
    .await;
    assert!(waiting, "four callers wait for the first");
    gate.add_permits(10);
    for c in callers {
        assert_eq!(c.await.unwrap(), one("slow:k"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(inflight.lock().is_empty());
}

#[tokio::test]
async fn a_streamed_reply_is_stored_whole_and_replayed() {
    let mut g = Graph::new();
    g.add("work", weir_engine::testing::Produce::new(3), &[]);
    let slot = cached(&mut g, json!({}));
    let all = vec![Value::from(0), Value::from(1), Value::from(2)];
    assert_eq!(call(&slot, Value::from("x")).await, Ok(all.clone()));
    assert_eq!(call(&slot, Value::from("x")).await, Ok(all));
}

#[tokio::test]
async fn with_out_unconnected_the_payload_is_its_own_answer() {
    let mut g = Graph::new();
    let slot = load(&mut g, "c", "cache", json!({}), &[]);
    assert_eq!(call(&slot, Value::from("a")).await, one("a"));
}

#[test]
fn fields_are_checked() {
    let issues = compile("cache", json!({"ttl": "soon"})).unwrap_err();
    assert_eq!(issues[0].field, "ttl");
    let issues = compile("cache", json!({"capacity": -1})).unwrap_err();
    assert_eq!(issues[0].field, "capacity");
    assert!(compile("cache", json!({"capacity": "100", "ttl": 500})).is_ok());
}

#[test]
fn keys_tell_values_apart() {
    let pairs = [
        (json!("1"), json!(1)),
        (json!([1, 2]), json!([[1, 2]])),
        (json!({"a": "b"}), json!({"ab": ""})),
        (json!(1), json!(1.0)),
    ];
    for (a, b) in pairs {
        assert_ne!(
            key_of(&Value::from(a.clone())),
            key_of(&Value::from(b.clone())),
            "{a} vs {b}"
        );
    }
    assert_eq!(
        key_of(&Value::from(json!({"a": [1]}))),
        key_of(&Value::from(json!({"a": [1]})))
    );
}
