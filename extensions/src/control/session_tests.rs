//! Packet-level tests of `session`.

use std::sync::Arc;

use parking_lot::Mutex;
use serde_json::json;
use weir_engine::testing::Graph;
use weir_engine::{Cx, Input, Node, OutPort, Process, ProcessId, Result, Value};

use super::IO_PORT;
use crate::control::test_support::{call, load};

/// Answers `[session.uid, payload]` and records the parent of the process it ran in.
#[derive(Clone, Default)]
struct Seen {
    parents: Arc<Mutex<Vec<Option<ProcessId>>>>,
}

impl Node for Seen {
    type State = ();

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        self.parents.lock().push(cx.process().parent().map(|p| p.id()));
        let pair = input.packet.value;
        let list = pair.as_list().unwrap_or_default();
        let uid = list
            .first()
            .and_then(|s| s.get("uid"))
            .cloned()
            .unwrap_or_default();
        let payload = list.get(1).cloned().unwrap_or_default();
        cx.emit(OutPort::OUT, Value::list([uid, payload])).await
    }
}

/// Stores `session` as the session of a new process, which stays alive.
async fn open(slot: &Arc<weir_engine::NodeSlot>, session: serde_json::Value) -> Arc<Process> {
    let p = Process::new();
    let reply = weir_engine::call(slot, &p, IO_PORT, Value::from(session)).await;
    assert_eq!(reply, Ok(vec![]), "io answers with nothing");
    p
}

#[tokio::test]
async fn in_joins_the_payload_to_every_live_session() {
    let mut g = Graph::new();
    let slot = load(&mut g, "s", "session", json!({}), &[]);
    assert_eq!(call(&slot, Value::from("hi")).await, Ok(vec![]), "no session yet");
    let a = open(&slot, json!({"uid": 1})).await;
    let b = open(&slot, json!({"uid": 2})).await;
    assert_eq!(
        call(&slot, Value::from("hi")).await,
        Ok(vec![
            Value::from(json!([{"uid": 1}, "hi"])),
            Value::from(json!([{"uid": 2}, "hi"]))
        ])
    );
    // A later io packet replaces the process's session.
    weir_engine::call(&slot, &a, IO_PORT, Value::from(json!({"uid": 3})))
        .await
        .unwrap();
    // A session ends with its process.
    b.exit(None);
    assert_eq!(
        call(&slot, Value::from("again")).await,
        Ok(vec![Value::from(json!([{"uid": 3}, "again"]))])
    );
    a.exit(None);
    assert_eq!(call(&slot, Value::from("late")).await, Ok(vec![]));
}

#[tokio::test]
async fn each_session_is_served_in_a_child_of_its_process() {
    let mut g = Graph::new();
    let seen = Seen::default();
    g.add("next", seen.clone(), &[]);
    let slot = load(&mut g, "s", "session", json!({}), &[(OutPort::OUT, "next", 0)]);
    let a = open(&slot, json!({"uid": "a"})).await;
    let b = open(&slot, json!({"uid": "b"})).await;
    // Two sessions answer one element each: joined as a fan-out is, into one list.
    assert_eq!(
        call(&slot, Value::from(7)).await,
        Ok(vec![Value::from(json!([["a", 7], ["b", 7]]))])
    );
    let mut parents = seen.parents.lock().clone();
    parents.sort();
    let mut want = vec![Some(a.id()), Some(b.id())];
    want.sort();
    assert_eq!(parents, want);
    assert!(!a.is_done() && !b.is_done(), "the sessions' processes go on");
    a.exit(None);
    b.exit(None);
}

#[test]
fn declares_in_and_io() {
    let scheme = crate::control::test_support::scheme();
    let codec = scheme.get("session").expect("registered");
    assert_eq!(codec.ports().inputs, vec!["in".to_string(), "io".to_string()]);
}
