//! Packet-level tests of `reduce`.

use std::time::Duration;

use serde_json::json;
use weir_engine::testing::{Collect, Graph, Produce};
use weir_engine::{Call, ErrorKind, NodeSlot, OutPort, Process, Result, Value};

use crate::control::test_support::{call, compile, load, one};

/// Sends `inputs` in one process, ends the input, and returns every reply in order.
async fn fold(slot: &std::sync::Arc<NodeSlot>, inputs: &[serde_json::Value]) -> Vec<Result<Vec<Value>>> {
    let p = Process::new();
    let mut c = Call::open(slot, &p, 0).unwrap();
    for i in inputs {
        c.send(Value::from(i.clone())).await.unwrap();
    }
    c.close();
    let mut replies = Vec::new();
    while let Some(r) = tokio::time::timeout(Duration::from_secs(10), c.reply())
        .await
        .expect("no hang")
    {
        replies.push(r);
    }
    p.exit(None);
    replies
}

#[tokio::test]
async fn cel_folds_the_stream_and_answers_the_last_input_with_the_sum() {
    let mut g = Graph::new();
    let slot = load(
        &mut g,
        "r",
        "reduce",
        json!({"action": "self[0] + self[1]", "init": 0}),
        &[],
    );
    let replies = fold(&slot, &[json!(1), json!(2), json!(3), json!(4)]).await;
    assert_eq!(replies, vec![Ok(vec![]), Ok(vec![]), Ok(vec![]), one(10)]);
    // One packet: its own reply carries the result.
    assert_eq!(call(&slot, Value::from(5)).await, one(5));
}

#[tokio::test]
async fn javascript_gets_the_accumulator_the_payload_and_the_index() {
    let mut g = Graph::new();
    let code = "export default function (acc, cur, index) { return [...acc, cur + ':' + index] }";
    let slot = load(
        &mut g,
        "r",
        "reduce",
        json!({"language": "javascript", "action": code, "init": []}),
        &[],
    );
    let replies = fold(&slot, &[json!("a"), json!("b"), json!("c")]).await;
    assert_eq!(replies.last(), Some(&one(json!(["a:0", "b:1", "c:2"]))));
}

#[tokio::test]
async fn each_process_has_its_own_accumulator() {
    let mut g = Graph::new();
    let slot = load(
        &mut g,
        "r",
        "reduce",
        json!({"action": "self[0] + self[1]", "init": 100}),
        &[],
    );
    let (a, b) = (Process::new(), Process::new());
    let mut ca = Call::open(&slot, &a, 0).unwrap();
    let mut cb = Call::open(&slot, &b, 0).unwrap();
    ca.send(Value::from(1)).await.unwrap();
    cb.send(Value::from(10)).await.unwrap();
    ca.send(Value::from(2)).await.unwrap();
    cb.send(Value::from(20)).await.unwrap();
    ca.close();
    cb.close();
    for (c, want) in [(&mut ca, 103), (&mut cb, 130)] {
        assert_eq!(c.reply().await, Some(Ok(vec![])));
        assert_eq!(c.reply().await, Some(one(want)));
    }
    a.exit(None);
    b.exit(None);
}

#[tokio::test]
async fn the_result_goes_out_once_and_downstreams_reply_answers_the_last_input() {
    let mut g = Graph::new();
    let seen = Collect::default();
    g.add("sink", seen.clone(), &[]);
    let slot = load(
        &mut g,
        "r",
        "reduce",
        json!({"action": "self[0] + [self[1]]", "init": []}),
        &[(OutPort::OUT, "sink", 0)],
    );
    let replies = fold(&slot, &[json!("x"), json!("y")]).await;
    assert_eq!(replies, vec![Ok(vec![]), one(json!(["x", "y"]))]);
    assert_eq!(seen.seen.lock().values, vec![Value::from(json!(["x", "y"]))]);
}

#[tokio::test]
async fn a_streamed_input_reduces_to_one_answer() {
    let mut g = Graph::new();
    load(
        &mut g,
        "r",
        "reduce",
        json!({"action": "self[0] + self[1]", "init": 0}),
        &[],
    );
    let producer = g.add("p", Produce::new(5), &[(OutPort::OUT, "r", 0)]);
    // 0 + 1 + 2 + 3 + 4: the producer's one input is answered with the sum.
    assert_eq!(call(&producer, Value::Null).await, one(10));
}

#[tokio::test]
async fn a_failing_action_answers_its_input_with_the_error_and_keeps_the_accumulator() {
    let mut g = Graph::new();
    let slot = load(
        &mut g,
        "r",
        "reduce",
        json!({"action": "self[0] + int(self[1])", "init": 0}),
        &[],
    );
    let replies = fold(&slot, &[json!("1"), json!("two"), json!("3")]).await;
    assert_eq!(replies.len(), 3);
    assert_eq!(replies[0], Ok(vec![]));
    assert_eq!(replies[1].as_ref().unwrap_err().kind(), ErrorKind::Node);
    assert_eq!(replies[2], one(4));
}

#[test]
fn compile_errors_name_the_field() {
    let issues = compile("reduce", json!({"action": "self[0] +"})).unwrap_err();
    assert_eq!(issues[0].field, "action");
    let issues = compile("reduce", json!({"action": "x", "language": "cobol"})).unwrap_err();
    assert_eq!(issues[0].field, "language");
    let issues = compile("reduce", json!({})).unwrap_err();
    assert!(issues.iter().any(|i| i.message.contains("action")), "{issues:?}");
}
