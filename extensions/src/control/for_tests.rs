//! Packet-level tests of `for`.

use serde_json::json;
use weir_engine::testing::{map, Collect, Graph, Produce};
use weir_engine::{Error, OutPort, Value};

use crate::control::testkit::{add, call, values};

fn double() -> impl weir_engine::Node {
    map(|v| Ok(Value::from(v.as_i64().unwrap_or(0) * 2)))
}

#[tokio::test]
async fn each_element_goes_to_out_0_and_the_joined_replies_to_out_1() {
    let mut g = Graph::new();
    let done = Collect::default();
    g.add("each", double(), &[]);
    g.add("done", done.clone(), &[]);
    let node = add(
        &mut g,
        "for",
        "for",
        json!({}),
        &[(OutPort::OUT, "each", 0), (OutPort::Out(1), "done", 0)],
    );
    assert_eq!(call(&node, json!([1, 2, 3])).await, values(&[json!([2, 4, 6])]));
    assert_eq!(done.seen.lock().values, vec![Value::from(json!([2, 4, 6]))]);
}

#[tokio::test]
async fn replies_join_in_element_order_whatever_their_shape() {
    let mut g = Graph::new();
    g.add("each", Produce::new(2), &[]);
    let node = add(&mut g, "for", "for", json!({}), &[(OutPort::OUT, "each", 0)]);
    assert_eq!(
        call(&node, json!(["a", "b"])).await,
        values(&[json!([[0, 1], [0, 1]])])
    );
    assert_eq!(call(&node, json!([])).await, values(&[json!([])]));
}

#[tokio::test]
async fn a_payload_that_is_not_a_list_is_sent_once() {
    let mut g = Graph::new();
    g.add("each", double(), &[]);
    let node = add(&mut g, "for", "for", json!({}), &[(OutPort::OUT, "each", 0)]);
    assert_eq!(call(&node, json!(21)).await, values(&[json!([42])]));
}

#[tokio::test]
async fn an_error_in_any_reply_is_the_error() {
    let mut g = Graph::new();
    g.add(
        "each",
        map(|v| match v.as_i64() {
            Some(2) => Err(Error::node("two is bad")),
            _ => Ok(v),
        }),
        &[],
    );
    g.add("catch", map(|v| Ok(Value::from(format!("caught {v}")))), &[]);
    let uncaught = add(&mut g, "f1", "for", json!({}), &[(OutPort::OUT, "each", 0)]);
    assert_eq!(
        call(&uncaught, json!([1, 2, 3])).await.unwrap_err().message(),
        "two is bad"
    );
    // The lanes stay in step: the next input of a new process is answered normally.
    assert_eq!(call(&uncaught, json!([1, 3])).await, values(&[json!([1, 3])]));
    let caught = add(
        &mut g,
        "f2",
        "for",
        json!({}),
        &[(OutPort::OUT, "each", 0), (OutPort::Error, "catch", 0)],
    );
    let reply = call(&caught, json!([2])).await.unwrap();
    assert!(reply[0].as_str().unwrap().starts_with("caught"), "{reply:?}");
}
