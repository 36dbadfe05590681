//! Packet-level tests of `pipe`.

use serde_json::json;
use weir_engine::testing::{fail, map, Graph, Produce};
use weir_engine::{OutPort, Value};

use crate::control::testkit::{add, call, values};

fn times(n: i64) -> impl weir_engine::Node {
    map(move |v| Ok(Value::from(v.as_i64().unwrap_or(0) * n)))
}

#[tokio::test]
async fn the_reply_of_out_0_goes_to_out_1() {
    let mut g = Graph::new();
    g.add(
        "first",
        map(|v| Ok(Value::from(v.as_i64().unwrap_or(0) + 1))),
        &[],
    );
    g.add("second", times(10), &[]);
    let pipe = add(
        &mut g,
        "pipe",
        "pipe",
        json!({}),
        &[(OutPort::OUT, "first", 0), (OutPort::Out(1), "second", 0)],
    );
    assert_eq!(call(&pipe, json!(4)).await, values(&[json!(50)]));
}

#[tokio::test]
async fn each_element_of_a_streamed_reply_goes_on() {
    let mut g = Graph::new();
    g.add("first", Produce::new(3), &[]);
    g.add("second", times(10), &[]);
    let pipe = add(
        &mut g,
        "pipe",
        "pipe",
        json!({}),
        &[(OutPort::Out(0), "first", 0), (OutPort::Out(1), "second", 0)],
    );
    assert_eq!(
        call(&pipe, json!(null)).await,
        values(&[json!(0), json!(10), json!(20)])
    );
}

#[tokio::test]
async fn unconnected_ends_pass_values_through() {
    let mut g = Graph::new();
    g.add("second", times(10), &[]);
    g.add("first", times(3), &[]);
    let only_second = add(&mut g, "p1", "pipe", json!({}), &[(OutPort::Out(1), "second", 0)]);
    assert_eq!(call(&only_second, json!(2)).await, values(&[json!(20)]));
    let only_first = add(&mut g, "p2", "pipe", json!({}), &[(OutPort::Out(0), "first", 0)]);
    assert_eq!(call(&only_first, json!(2)).await, values(&[json!(6)]));
}

#[tokio::test]
async fn an_error_from_out_0_goes_to_error_or_is_the_reply() {
    let mut g = Graph::new();
    g.add("broken", fail("broken"), &[]);
    g.add("second", times(10), &[]);
    g.add("catch", map(|v| Ok(Value::from(format!("caught: {v}")))), &[]);
    let caught = add(
        &mut g,
        "p1",
        "pipe",
        json!({}),
        &[
            (OutPort::Out(0), "broken", 0),
            (OutPort::Out(1), "second", 0),
            (OutPort::Error, "catch", 0),
        ],
    );
    let reply = call(&caught, json!(1)).await.unwrap();
    assert_eq!(reply.len(), 1);
    assert!(reply[0].as_str().unwrap().contains("broken"), "{reply:?}");
    let uncaught = add(
        &mut g,
        "p2",
        "pipe",
        json!({}),
        &[(OutPort::Out(0), "broken", 0), (OutPort::Out(1), "second", 0)],
    );
    let err = call(&uncaught, json!(1)).await.unwrap_err();
    assert!(err.message().contains("broken"), "{err}");
}
