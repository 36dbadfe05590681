//! Packet-level tests of `if`.

use serde_json::json;
use weir_engine::testing::{map, Graph};
use weir_engine::{ErrorKind, OutPort, Value};

use crate::control::testkit::{add, call, issue, values};

fn tag(t: &'static str) -> impl weir_engine::Node {
    map(move |v| Ok(Value::map([("branch", Value::from(t)), ("value", v)])))
}

#[tokio::test]
async fn true_goes_to_out_0_and_false_to_out_1() {
    let mut g = Graph::new();
    g.add("yes", tag("yes"), &[]);
    g.add("no", tag("no"), &[]);
    let node = add(
        &mut g,
        "if",
        "if",
        json!({"when": "self.count > 10"}),
        &[(OutPort::OUT, "yes", 0), (OutPort::Out(1), "no", 0)],
    );
    assert_eq!(
        call(&node, json!({"count": 11})).await,
        values(&[json!({"branch": "yes", "value": {"count": 11}})])
    );
    assert_eq!(
        call(&node, json!({"count": 3})).await,
        values(&[json!({"branch": "no", "value": {"count": 3}})])
    );
}

#[tokio::test]
async fn an_unconnected_branch_answers_with_the_packet() {
    let mut g = Graph::new();
    g.add("yes", tag("yes"), &[]);
    let node = add(
        &mut g,
        "if",
        "if",
        json!({"when": "self > 0"}),
        &[(OutPort::Out(0), "yes", 0)],
    );
    assert_eq!(call(&node, json!(-1)).await, values(&[json!(-1)]));
}

#[tokio::test]
async fn a_condition_that_is_not_a_boolean_is_an_error() {
    let mut g = Graph::new();
    let node = add(&mut g, "if", "if", json!({"when": "self + 1"}), &[]);
    let err = call(&node, json!(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);
    assert!(err.message().contains("not a boolean"), "{err}");
}

#[test]
fn a_bad_condition_names_when() {
    assert_eq!(issue("if", json!({"when": "self >"})).field, "when");
    assert_eq!(issue("if", json!({})).field, "");
}
