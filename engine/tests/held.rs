//! A reply held open by `Cx::hold_reply`: it ends when the node handles its next input, or takes
//! what the end-of-input handlers emit.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use weir_engine::testing::{Collect, Graph};
use weir_engine::{Call, Cx, Frame, Input, Node, OutPort, Process, Result, Value};

/// Sums its inputs; answers the last one with the sum.
struct Sum;

impl Node for Sum {
    type State = i64;

    async fn on_packet(&self, sum: &mut i64, cx: &mut Cx, input: Input) -> Result<()> {
        *sum += input.packet.value.as_i64().unwrap_or(0);
        cx.hold_reply();
        Ok(())
    }

    async fn on_finish(&self, sum: &mut i64, cx: &mut Cx) -> Result<()> {
        cx.emit(OutPort::OUT, Value::from(*sum)).await
    }
}

async fn replies(c: &mut Call) -> Vec<Vec<Value>> {
    let mut all = Vec::new();
    while let Some(r) = tokio::time::timeout(Duration::from_secs(10), c.reply())
        .await
        .expect("no hang")
    {
        all.push(r.unwrap());
    }
    all
}

#[tokio::test]
async fn the_last_input_is_answered_with_what_end_of_input_emits() {
    let mut g = Graph::new();
    let slot = g.add("sum", Sum, &[]);
    let p = Process::new();
    let mut c = Call::open(&slot, &p, 0).unwrap();
    for i in 1..=4 {
        c.send(Value::from(i)).await.unwrap();
    }
    // Earlier inputs are answered (empty) as soon as the next one is handled.
    let first = tokio::time::timeout(Duration::from_secs(10), c.frame())
        .await
        .unwrap();
    assert_eq!(first, Some(Frame::End));
    c.close();
    let rest = replies(&mut c).await;
    assert_eq!(rest, vec![vec![], vec![], vec![Value::from(10)]]);
    p.exit(None);
}

#[tokio::test]
async fn with_out_connected_the_last_reply_is_downstreams_reply_to_the_result() {
    let mut g = Graph::new();
    let seen = Collect::default();
    g.add("sink", seen.clone(), &[]);
    let slot = g.add("sum", Sum, &[(OutPort::OUT, "sink", 0)]);
    let p = Process::new();
    let mut c = Call::open(&slot, &p, 0).unwrap();
    c.send(Value::from(2)).await.unwrap();
    c.send(Value::from(3)).await.unwrap();
    c.close();
    assert_eq!(replies(&mut c).await, vec![vec![], vec![Value::from(5)]]);
    assert_eq!(seen.seen.lock().values, vec![Value::from(5)]);
    p.exit(None);
}
