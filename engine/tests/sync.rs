//! Input sync of many-to-one nodes: on_any and zip_all as DESIGN.md defines them.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use weir_engine::sync::{ManyToOne, ManyToOneNode, SyncMode};
use weir_engine::testing::{eventually, map, Collect, Graph};
use weir_engine::{Call, OutPort, Process, Result, Value};

/// Fires with the list of its inputs, absent ones as null.
struct Tuple;

impl ManyToOne for Tuple {
    async fn call(&self, _: &Arc<Process>, inputs: Vec<Option<Value>>) -> Result<Value> {
        Ok(Value::list(inputs.into_iter().map(|v| v.unwrap_or(Value::Null))))
    }
}

fn tuple(a: Value, b: Value) -> Value {
    Value::list([a, b])
}

#[tokio::test]
async fn on_any_follows_the_seed_timeline() {
    let mut g = Graph::new();
    let m = g.add("m", ManyToOneNode::new(Tuple, 2, SyncMode::OnAny), &[]);
    let p = Process::new();
    let mut a = Call::open(&m, &p, 0).unwrap();
    let mut b = Call::open(&m, &p, 1).unwrap();
    let s = |x: &str| Value::from(x);
    a.send(s("a1")).await.unwrap();
    assert_eq!(
        a.reply().await.unwrap().unwrap(),
        vec![tuple(s("a1"), Value::Null)],
        "(a1, –)"
    );
    b.send(s("b1")).await.unwrap();
    assert_eq!(b.reply().await.unwrap().unwrap(), vec![tuple(s("a1"), s("b1"))]);
    a.send(s("a2")).await.unwrap();
    assert_eq!(a.reply().await.unwrap().unwrap(), vec![tuple(s("a2"), s("b1"))]);
    b.send(s("b2")).await.unwrap();
    assert_eq!(b.reply().await.unwrap().unwrap(), vec![tuple(s("a2"), s("b2"))]);
}

#[tokio::test]
async fn zip_all_pairs_by_origin_when_a_branch_drops_an_item_and_warns_about_the_rest() {
    let mut g = Graph::new();
    let out = Collect::default();
    g.add("out", out.clone(), &[]);
    g.add(
        "m",
        ManyToOneNode::new(Tuple, 2, SyncMode::ZipAll),
        &[(OutPort::OUT, "out", 0)],
    );
    g.add("left", map(Ok), &[(OutPort::OUT, "m", 0)]);
    // The right branch drops item 1.
    g.add(
        "right",
        weir_engine::testing::FnNode(|v: Value| async move { Ok(v) }),
        &[],
    );
    g.add("filter", Drop1, &[(OutPort::OUT, "m", 1)]);
    let split = g.add(
        "split",
        map(Ok),
        &[(OutPort::OUT, "left", 0), (OutPort::OUT, "filter", 0)],
    );
    let p = Process::new();
    let mut c = Call::open(&split, &p, 0).unwrap();
    for i in 0..3 {
        c.send(Value::from(i)).await.unwrap();
    }
    c.close();
    while let Some(r) = c.reply().await {
        r.unwrap();
    }
    let n = |i: i64| Value::from(i);
    assert!(eventually(Duration::from_secs(5), || out.seen.lock().values.len() == 2).await);
    assert_eq!(out.seen.lock().values, vec![tuple(n(0), n(0)), tuple(n(2), n(2))]);
    assert!(
        eventually(Duration::from_secs(5), || !p.warnings().is_empty()).await,
        "a warning names the leftover"
    );
    let w = p.warnings().join("\n");
    assert!(
        w.contains("1 unpaired packet(s) on in[0]") && w.contains("/1)"),
        "{w}"
    );
}

/// Drops the item whose value is 1 (emits nothing for it).
struct Drop1;

impl weir_engine::Node for Drop1 {
    type State = ();
    async fn on_packet(&self, _: &mut (), cx: &mut weir_engine::Cx, input: weir_engine::Input) -> Result<()> {
        if input.packet.value != Value::from(1) {
            cx.emit_packet(OutPort::OUT, input.packet).await?;
        }
        Ok(())
    }
}

#[tokio::test]
async fn zip_all_reuses_a_sticky_single_value_input() {
    let mut g = Graph::new();
    let out = Collect::default();
    g.add("out", out.clone(), &[]);
    let m = g.add(
        "m",
        ManyToOneNode::new(Tuple, 2, SyncMode::ZipAll),
        &[(OutPort::OUT, "out", 0)],
    );
    let p = Process::new();
    let mut data = Call::open(&m, &p, 1).unwrap();
    let mut config = Call::open(&m, &p, 0).unwrap();
    for i in 0..3 {
        data.send(Value::from(i)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    config.send(Value::from("cfg")).await.unwrap();
    config.close();
    data.send(Value::from(3)).await.unwrap();
    data.close();
    while data.reply().await.is_some() {}
    while config.reply().await.is_some() {}
    assert!(eventually(Duration::from_secs(5), || out.seen.lock().ended).await);
    let cfg = Value::from("cfg");
    assert_eq!(
        out.seen.lock().values,
        (0..4)
            .map(|i| tuple(cfg.clone(), Value::from(i)))
            .collect::<Vec<_>>(),
        "origin 0 pairs directly; 1 and 2 pair when the config input ends after one packet; 3 after"
    );
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
}
