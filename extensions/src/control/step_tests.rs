//! Packet-level tests of `step`: a chain of inner specs.

use serde_json::{json, Value as Json};
use weir_engine::testing::{map, Collect, Graph};
use weir_engine::{OutPort, Value};

use crate::control::testkit::{add, call, issue, values};

fn cel(code: &str) -> Json {
    json!({"kind": "snippet", "language": "cel", "code": code})
}

#[tokio::test]
async fn each_out_feeds_the_next_in() {
    let mut g = Graph::new();
    let step = add(
        &mut g,
        "s",
        "step",
        json!({"specs": [cel("self + 1"), cel("self * 2"), cel("string(self)")]}),
        &[],
    );
    assert_eq!(call(&step, json!(4)).await, values(&[json!("10")]));
}

#[tokio::test]
async fn one_inner_spec_is_a_chain_too() {
    let mut g = Graph::new();
    let step = add(&mut g, "s", "step", json!({"specs": [cel("self * 3")]}), &[]);
    assert_eq!(call(&step, json!(3)).await, values(&[json!(9)]));
}

#[tokio::test]
async fn the_last_out_leads_to_what_the_step_is_linked_to() {
    let mut g = Graph::new();
    let sink = Collect::default();
    g.add("sink", sink.clone(), &[]);
    let step = add(
        &mut g,
        "s",
        "step",
        json!({"specs": [cel("self + 1"), cel("self + 1")]}),
        &[(OutPort::OUT, "sink", 0)],
    );
    assert_eq!(call(&step, json!(0)).await, values(&[json!(2)]));
    assert_eq!(sink.seen.lock().values, vec![Value::from(2)]);
}

#[tokio::test]
async fn a_stream_inside_comes_out_element_by_element() {
    let mut g = Graph::new();
    let step = add(
        &mut g,
        "s",
        "step",
        json!({"specs": [cel("self"), {"kind": "split"}]}),
        &[],
    );
    assert_eq!(
        call(&step, json!(["a", "b"])).await,
        values(&[json!("a"), json!("b")])
    );
}

#[tokio::test]
async fn inner_errors_go_to_the_step_error() {
    let mut g = Graph::new();
    g.add("catch", map(|v| Ok(Value::from(format!("caught: {v}")))), &[]);
    let step = add(
        &mut g,
        "s",
        "step",
        json!({"specs": [cel("10 / self"), cel("self + 1")]}),
        &[(OutPort::Error, "catch", 0)],
    );
    let reply = call(&step, json!(0)).await.unwrap();
    assert!(reply[0].as_str().unwrap().starts_with("caught"), "{reply:?}");
    assert_eq!(call(&step, json!(5)).await, values(&[json!(3)]));
}

#[test]
fn errors_name_the_field() {
    assert_eq!(
        issue("step", json!({"specs": [cel("self"), {"kind": "nothing"}]})).field,
        "specs[1].kind"
    );
    assert_eq!(
        issue("step", json!({"specs": [cel("self +")]})).field,
        "specs[0].code"
    );
    assert_eq!(
        issue("step", json!({"specs": [cel("self")], "inbounds": {}})).field,
        ""
    );
}
