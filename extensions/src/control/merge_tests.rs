//! Packet-level tests of `merge`: `zip_all` pairs by origin, `on_any` fires on every arrival.

use std::sync::Arc;

use serde_json::json;
use weir_engine::testing::Graph;
use weir_engine::{Call, NodeSlot, Process, Value};

use crate::control::testkit::{add, issue, values};

/// Opens one call per in port of `slot`, all in one process.
fn calls(slot: &Arc<NodeSlot>, p: &Arc<Process>, ports: usize) -> Vec<Call> {
    (0..ports)
        .map(|port| Call::open(slot, p, port).expect("opens"))
        .collect()
}

#[tokio::test]
async fn zip_all_fires_once_both_ports_have_the_same_origin() {
    let mut g = Graph::new();
    let merge = add(&mut g, "merge", "merge", json!({}), &[]);
    let p = Process::new();
    let mut c = calls(&merge, &p, 2);
    c[0].send(Value::from("a")).await.unwrap();
    c[1].send(Value::from("b")).await.unwrap();
    c[0].close();
    c[1].close();
    // The packet that completed the pair is answered with the merge; the other with nothing.
    assert_eq!(c[0].reply().await.unwrap(), values(&[]));
    assert_eq!(c[1].reply().await.unwrap(), values(&[json!(["a", "b"])]));
    p.exit(None);
}

#[tokio::test]
async fn zip_all_reuses_a_port_that_ended_after_one_packet() {
    let mut g = Graph::new();
    let merge = add(&mut g, "merge", "merge", json!({"sync": "zip_all"}), &[]);
    let p = Process::new();
    let mut c = calls(&merge, &p, 2);
    c[1].send(Value::from("config")).await.unwrap();
    c[1].close();
    assert_eq!(c[1].reply().await.unwrap(), values(&[]));
    for (i, x) in ["x", "y"].into_iter().enumerate() {
        c[0].send(Value::from(x)).await.unwrap();
        let reply = c[0].reply().await.unwrap();
        assert_eq!(reply, values(&[json!([x, "config"])]), "firing {i}");
    }
    c[0].close();
    p.exit(None);
}

#[tokio::test]
async fn on_any_fires_on_every_arrival_with_the_latest_of_each_port() {
    let mut g = Graph::new();
    let merge = add(&mut g, "merge", "merge", json!({"sync": "on_any"}), &[]);
    let p = Process::new();
    let mut c = calls(&merge, &p, 2);
    let steps = [
        (0, "a1", json!(["a1", null])),
        (1, "b1", json!(["a1", "b1"])),
        (0, "a2", json!(["a2", "b1"])),
        (1, "b2", json!(["a2", "b2"])),
    ];
    for (port, v, want) in steps {
        c[port].send(Value::from(v)).await.unwrap();
        assert_eq!(c[port].reply().await.unwrap(), values(&[want]), "after {v}");
    }
    p.exit(None);
}

#[tokio::test]
async fn three_inputs() {
    let mut g = Graph::new();
    let merge = add(&mut g, "merge", "merge", json!({"inputs": 3}), &[]);
    let p = Process::new();
    let mut c = calls(&merge, &p, 3);
    for (i, call) in c.iter_mut().enumerate() {
        call.send(Value::from(i as i64)).await.unwrap();
    }
    assert_eq!(c[2].reply().await.unwrap(), values(&[json!([0, 1, 2])]));
    p.exit(None);
}

#[test]
fn bad_fields_are_named() {
    assert_eq!(issue("merge", json!({"sync": "sometimes"})).field, "sync");
    assert_eq!(issue("merge", json!({"inputs": 0})).field, "inputs");
}
