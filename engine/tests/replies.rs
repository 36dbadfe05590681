//! Reply rules: request order, fan-out joins, unconnected ports, errors.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use weir_engine::testing::{fail, map, FnNode, Graph, Produce};
use weir_engine::{call, Call, ErrorKind, Input, Node, OutPort, Process, Result, Value};

/// Sends input i to out[i].
struct Spread;

impl Node for Spread {
    type State = ();
    async fn on_packet(&self, _: &mut (), cx: &mut weir_engine::Cx, input: Input) -> Result<()> {
        let i = input.packet.value.as_i64().unwrap_or(0) as usize;
        cx.emit(OutPort::Out(i), input.packet.value).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_come_in_request_order_when_downstream_answers_in_reverse() {
    let mut g = Graph::new();
    let finished = Arc::new(Mutex::new(Vec::new()));
    for (i, delay) in [(0, 120u64), (1, 60), (2, 0)] {
        let finished = finished.clone();
        g.add(
            &format!("d{i}"),
            FnNode(move |v: Value| {
                let finished = finished.clone();
                async move {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                    finished.lock().push(i);
                    Ok(Value::from(format!("r{}", v.as_i64().unwrap_or(-1))))
                }
            }),
            &[],
        );
    }
    let spread = g.add(
        "spread",
        Spread,
        &[
            (OutPort::Out(0), "d0", 0),
            (OutPort::Out(1), "d1", 0),
            (OutPort::Out(2), "d2", 0),
        ],
    );
    let p = Process::new();
    let mut c = Call::open(&spread, &p, 0).unwrap();
    for i in 0..3 {
        c.send(Value::from(i)).await.unwrap();
    }
    c.close();
    let mut replies = Vec::new();
    while let Some(r) = c.reply().await {
        replies.push(r.unwrap());
    }
    assert_eq!(*finished.lock(), vec![2, 1, 0], "downstream answered in reverse");
    assert_eq!(
        replies,
        vec![
            vec![Value::from("r0")],
            vec![Value::from("r1")],
            vec![Value::from("r2")]
        ]
    );
}

#[tokio::test]
async fn fan_out_to_three_in_ports_joins_three_replies_in_link_order() {
    let mut g = Graph::new();
    for (name, tag) in [("b", "B"), ("c", "C"), ("d", "D")] {
        g.add(name, map(move |v| Ok(Value::from(format!("{tag}{v}")))), &[]);
    }
    let a = g.add(
        "a",
        map(Ok),
        &[
            (OutPort::OUT, "b", 0),
            (OutPort::OUT, "c", 0),
            (OutPort::OUT, "d", 0),
        ],
    );
    let reply = call(&a, &Process::new(), 0, Value::from(1)).await.unwrap();
    assert_eq!(reply, vec![Value::list(["B1", "C1", "D1"].map(Value::from))]);
}

#[tokio::test]
async fn fan_out_joins_two_streamed_replies_element_by_element() {
    let mut g = Graph::new();
    g.add("three", Produce::new(3), &[]);
    g.add("two", Produce::new(2), &[(OutPort::OUT, "tens", 0)]);
    g.add(
        "tens",
        map(|v| Ok(Value::from(v.as_i64().unwrap_or(0) * 10))),
        &[],
    );
    let a = g.add(
        "a",
        map(Ok),
        &[(OutPort::OUT, "three", 0), (OutPort::OUT, "two", 0)],
    );
    let reply = call(&a, &Process::new(), 0, Value::Null).await.unwrap();
    let pair = |x: i64, y: i64| Value::list([Value::from(x), Value::from(y)]);
    assert_eq!(reply, vec![pair(0, 0), pair(1, 10), Value::from(2)]);
}

#[tokio::test]
async fn unconnected_out_makes_the_result_the_reply_and_none_is_empty() {
    let mut g = Graph::new();
    let echo = g.add("echo", map(Ok), &[]);
    assert_eq!(
        call(&echo, &Process::new(), 0, Value::from("x")).await.unwrap(),
        vec![Value::from("x")]
    );
    let none = g.add("none", Produce::new(0), &[]);
    assert_eq!(
        call(&none, &Process::new(), 0, Value::Null).await.unwrap(),
        Vec::<Value>::new()
    );
}

#[tokio::test]
async fn an_error_is_the_reply_unless_error_is_connected() {
    let mut g = Graph::new();
    let bad = g.add("bad", fail("no good"), &[]);
    let err = call(&bad, &Process::new(), 0, Value::Null).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    assert_eq!(err.message(), "no good");

    g.add("catch", map(|v| Ok(Value::from(format!("caught: {v}")))), &[]);
    let handled = g.add("handled", fail("no good"), &[(OutPort::Error, "catch", 0)]);
    let reply = call(&handled, &Process::new(), 0, Value::Null).await.unwrap();
    assert_eq!(reply, vec![Value::from("caught: no good")]);
}

#[tokio::test]
async fn an_error_downstream_is_the_reply_upstream() {
    let mut g = Graph::new();
    g.add("bad", fail("deep failure"), &[]);
    g.add("mid", map(Ok), &[(OutPort::OUT, "bad", 0)]);
    let top = g.add("top", map(Ok), &[(OutPort::OUT, "mid", 0)]);
    let err = call(&top, &Process::new(), 0, Value::Null).await.unwrap_err();
    assert_eq!(err.message(), "deep failure");
}

#[tokio::test]
async fn a_node_that_is_not_loaded_is_an_error_at_once() {
    let mut g = Graph::new();
    let ghost = g.slot("ghost");
    let err = Call::open(&ghost, &Process::new(), 0).err().unwrap();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert!(err.message().contains("ghost"), "{err}");
    let a = g.add("a", map(Ok), &[(OutPort::OUT, "ghost", 0)]);
    let err = call(&a, &Process::new(), 0, Value::Null).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
}
