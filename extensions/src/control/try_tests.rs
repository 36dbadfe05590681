//! Packet-level tests of `try`.

use serde_json::json;
use weir_engine::testing::{fail, map, Graph, Produce};
use weir_engine::{OutPort, Value};

use crate::control::testkit::{add, call, values};

#[tokio::test]
async fn a_good_reply_passes_through() {
    let mut g = Graph::new();
    g.add("work", Produce::new(2), &[]);
    g.add("catch", map(|_| Ok(Value::from("caught"))), &[]);
    let node = add(
        &mut g,
        "try",
        "try",
        json!({}),
        &[(OutPort::OUT, "work", 0), (OutPort::Error, "catch", 0)],
    );
    assert_eq!(call(&node, json!(null)).await, values(&[json!(0), json!(1)]));
}

#[tokio::test]
async fn an_error_downstream_is_caught_and_sent_to_error() {
    let mut g = Graph::new();
    g.add("work", fail("downstream broke"), &[]);
    g.add(
        "catch",
        map(|v| match v {
            Value::Error(e) => Ok(Value::map([("caught", Value::from(e.message()))])),
            other => Ok(Value::map([("not an error", other)])),
        }),
        &[],
    );
    let node = add(
        &mut g,
        "try",
        "try",
        json!({}),
        &[(OutPort::OUT, "work", 0), (OutPort::Error, "catch", 0)],
    );
    assert_eq!(
        call(&node, json!(1)).await,
        values(&[json!({"caught": "downstream broke"})])
    );
}

#[tokio::test]
async fn without_error_connected_the_error_is_the_reply() {
    let mut g = Graph::new();
    g.add("work", fail("downstream broke"), &[]);
    let node = add(&mut g, "try", "try", json!({}), &[(OutPort::OUT, "work", 0)]);
    let err = call(&node, json!(1)).await.unwrap_err();
    assert_eq!(err.message(), "downstream broke");
}

#[tokio::test]
async fn without_out_connected_the_packet_is_the_reply() {
    let mut g = Graph::new();
    let node = add(&mut g, "try", "try", json!({}), &[]);
    assert_eq!(call(&node, json!({"a": 1})).await, values(&[json!({"a": 1})]));
}
