//! Packet-level tests of `publish` and `subscribe` on a real channels hub: order, every subscriber
//! gets every message, a slow subscriber is cut off without holding up the publisher and reports the
//! lag, namespaces see only their own topics, and unloading (through the symbol table) unsubscribes.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Semaphore;
use weir_codecs::codec::CompileContext;
use weir_codecs::resource::{parse_specs, Format};
use weir_engine::testing::{eventually, Collect};
use weir_engine::{Cx, Input, Node, NodeSlot, OutPort, Process, Result, Value};
use weir_symbols::{HostEnv, Status, Table};

use super::test_host::{host, Host};

const WAIT: Duration = Duration::from_secs(10);

impl Host {
    fn subscribers(&self, namespace: &str, topic: &str) -> usize {
        self.services
            .channels
            .existing(namespace, topic)
            .map_or(0, |t| t.subscribers())
    }
}

async fn publish(slot: &Arc<NodeSlot>, value: Value) -> Vec<Value> {
    let p = Process::new();
    let out = tokio::time::timeout(WAIT, weir_engine::call(slot, &p, 0, value))
        .await
        .expect("publish never waits for subscribers")
        .unwrap();
    p.exit(None);
    out
}

fn values(c: &Collect) -> Vec<i64> {
    c.seen.lock().values.iter().filter_map(Value::as_i64).collect()
}

#[tokio::test]
async fn every_subscriber_gets_every_message_in_publish_order_and_publish_replies_with_it() {
    let mut h = host(64);
    let (s1, c1) = h.sink();
    let (s2, c2) = h.sink();
    h.load("a", "subscribe", json!({"topic": "t"}), Some(&s1), None);
    h.load("a", "subscribe", json!({"topic": "t"}), Some(&s2), None);
    let publisher = h.load("a", "publish", json!({"topic": "t"}), None, None);
    assert_eq!(h.subscribers("a", "t"), 2);
    for i in 0..50 {
        assert_eq!(publish(&publisher, Value::from(i)).await, vec![Value::from(i)]);
    }
    let want: Vec<i64> = (0..50).collect();
    assert!(
        eventually(WAIT, || values(&c1).len() == 50 && values(&c2).len() == 50).await,
        "{:?} / {:?}",
        values(&c1),
        values(&c2)
    );
    assert_eq!(values(&c1), want);
    assert_eq!(values(&c2), want);
}

#[tokio::test]
async fn a_namespace_sees_only_its_own_topics_and_system_may_name_any() {
    let mut h = host(64);
    let (sb, cb) = h.sink();
    let (ssys, csys) = h.sink();
    let (sa, ca) = h.sink();
    h.load("b", "subscribe", json!({"topic": "t"}), Some(&sb), None);
    h.load(
        "system",
        "subscribe",
        json!({"topic": "t", "namespace": "a"}),
        Some(&ssys),
        None,
    );
    h.load("a", "subscribe", json!({"topic": "t"}), Some(&sa), None);
    let publisher = h.load("a", "publish", json!({"topic": "t"}), None, None);
    publish(&publisher, Value::from(7)).await;
    assert!(eventually(WAIT, || values(&ca) == [7] && values(&csys) == [7]).await);
    assert!(values(&cb).is_empty(), "namespace b saw a's message");

    // Outside system, naming another namespace is an error on `namespace`; store topics are the host's.
    let compile = |ns: &str, kind: &str, fields: serde_json::Value| {
        h.scheme
            .get(kind)
            .unwrap()
            .compile(&fields, &CompileContext::new(ns, "x"))
            .err()
            .unwrap()
    };
    let err = compile("b", "publish", json!({"topic": "t", "namespace": "a"}));
    assert_eq!(err[0].field, "namespace");
    assert!(err[0].message.contains("namespace b"), "{}", err[0].message);
    let err = compile("b", "subscribe", json!({"topic": "t", "namespace": "a"}));
    assert_eq!(err[0].field, "namespace");
    let err = compile("a", "publish", json!({"topic": "specs"}));
    assert_eq!(err[0].field, "topic");
    assert!(err[0].message.contains("store topic"), "{}", err[0].message);
    let err = compile("a", "publish", json!({"topic": " "}));
    assert_eq!(err[0].field, "topic");
}

/// Records each value, then waits for a permit before passing it on: a subscriber as slow as a test
/// wants.
#[derive(Clone)]
struct Gate {
    open: Arc<Semaphore>,
    seen: Arc<Mutex<Vec<Value>>>,
}

impl Node for Gate {
    type State = ();

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        self.seen.lock().push(input.packet.value.clone());
        self.open.acquire().await.unwrap().forget();
        cx.emit_packet(OutPort::OUT, input.packet).await
    }
}

#[tokio::test]
async fn a_slow_subscriber_is_cut_off_without_blocking_the_publisher_and_reports_the_lag() {
    const QUEUE: usize = 4;
    let mut h = host(QUEUE);
    let gate = Gate {
        open: Arc::new(Semaphore::new(0)),
        seen: Arc::new(Mutex::new(Vec::new())),
    };
    let slow = h.graph.add("slow", gate.clone(), &[]);
    let (errors, lag) = h.sink();
    let (fast_sink, fast) = h.sink();
    h.load(
        "a",
        "subscribe",
        json!({"topic": "t"}),
        Some(&slow),
        Some(&errors),
    );
    h.load("a", "subscribe", json!({"topic": "t"}), Some(&fast_sink), None);
    let publisher = h.load("a", "publish", json!({"topic": "t"}), None, None);

    // The slow subscriber holds message 0 forever; the publisher goes on well past its queue. Each
    // message is published once the fast subscriber has the one before, so only the slow one lags.
    let n = 3 * QUEUE as i64;
    for i in 0..n {
        publish(&publisher, Value::from(i)).await;
        assert!(eventually(WAIT, || values(&fast).len() == i as usize + 1).await);
    }
    assert_eq!(values(&fast), (0..n).collect::<Vec<_>>());
    assert_eq!(*gate.seen.lock(), vec![Value::from(0)]);

    // Once it catches up, it gets what was queued before the cut, then reports the lag on `error`.
    gate.open.add_permits(1000);
    assert!(eventually(WAIT, || !lag.seen.lock().values.is_empty()).await);
    let seen: Vec<i64> = gate.seen.lock().iter().filter_map(Value::as_i64).collect();
    assert_eq!(
        seen,
        (0..=QUEUE as i64).collect::<Vec<_>>(),
        "the queued messages, in order"
    );
    let report = lag.seen.lock().values[0].to_json();
    let message = report["error"].as_str().unwrap_or_default().to_string();
    assert!(
        message.contains("namespace \"a\": subscribe \"subscribe")
            && message.contains("topic \"t\"")
            && message.contains("fell behind"),
        "{report}"
    );

    // It resubscribed: later messages reach it again.
    publish(&publisher, Value::from(100)).await;
    assert!(eventually(WAIT, || gate.seen.lock().last() == Some(&Value::from(100))).await);
}

#[tokio::test]
async fn unloading_a_subscriber_through_the_table_unsubscribes() {
    let h = host(16);
    let mut table = Table::new("a", h.scheme.clone(), HostEnv::new());
    let mut specs = parse_specs(
        r#"
- kind: subscribe
  namespace: a
  name: listen
  topic: news
- kind: publish
  namespace: a
  name: say
  topic: news
"#,
        Format::Yaml,
    )
    .unwrap();
    for s in &mut specs {
        s.id = Some(uuid::Uuid::now_v7());
    }
    let ids: Vec<_> = specs.iter().map(|s| s.id.unwrap()).collect();
    table.apply(specs, &[], &[]);
    assert_eq!(table.status("listen"), Some(Status::Active));
    assert_eq!(table.status("say"), Some(Status::Active));
    assert_eq!(h.subscribers("a", "news"), 1);

    table.apply(Vec::new(), &ids[..1], &[]);
    assert_eq!(table.status("listen"), None);
    assert!(eventually(WAIT, || h.subscribers("a", "news") == 0).await);
    // The publisher goes on with nobody listening.
    let say = table.slot("say").unwrap();
    assert_eq!(publish(&say, Value::from(1)).await, vec![Value::from(1)]);
    table.close();
}
