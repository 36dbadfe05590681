//! Packet-level tests of `throw`.

use serde_json::json;
use weir_engine::testing::{Collect, Graph};
use weir_engine::{ErrorKind, OutPort, Value};

use crate::control::test_support::{call, load, scheme};

async fn thrown(fields: serde_json::Value, payload: Value) -> weir_engine::Error {
    let mut g = Graph::new();
    let slot = load(&mut g, "t", "throw", fields, &[]);
    call(&slot, payload)
        .await
        .expect_err("throw answers with an error")
}

#[tokio::test]
async fn builds_the_error_from_the_payload() {
    let e = thrown(json!({}), Value::from("out of stock")).await;
    assert_eq!(e.kind(), ErrorKind::Node);
    assert_eq!(e.message(), "out of stock");

    let e = thrown(
        json!({}),
        Value::list([Value::from("order 7"), Value::Null, Value::from("no stock")]),
    )
    .await;
    assert_eq!(e.message(), "order 7: no stock");

    let e = thrown(json!({}), Value::from(json!({"code": 3}))).await;
    assert_eq!(e.message(), "{\"code\":3}");

    let e = thrown(json!({}), Value::Null).await;
    assert!(e.message().contains("threw"), "{e}");

    let original = weir_engine::Error::new(ErrorKind::Timeout, "upstream timed out");
    let e = thrown(json!({}), Value::Error(original.clone())).await;
    assert_eq!(e, original);
}

#[tokio::test]
async fn a_fixed_message_wins_over_the_payload() {
    let e = thrown(json!({"message": "forbidden"}), Value::from("ignored")).await;
    assert_eq!(e.message(), "forbidden");
}

#[tokio::test]
async fn the_error_goes_to_the_error_port_when_connected() {
    let mut g = Graph::new();
    let caught = Collect::default();
    g.add("catch", caught.clone(), &[]);
    let slot = load(&mut g, "t", "throw", json!({}), &[(OutPort::Error, "catch", 0)]);
    let reply = call(&slot, Value::from("boom"))
        .await
        .expect("the catcher answers");
    assert_eq!(reply.len(), 1);
    let seen = caught.seen.lock().values.clone();
    match seen.as_slice() {
        [Value::Error(e)] => assert_eq!(e.message(), "boom"),
        other => panic!("expected one error packet, got {other:?}"),
    }
}

#[test]
fn declares_ports_and_schema() {
    let scheme = scheme();
    let codec = scheme.get("throw").expect("registered");
    assert_eq!(codec.ports().outputs, vec!["error".to_string()]);
    assert!(codec.schema().pointer("/properties/message").is_some());
}
