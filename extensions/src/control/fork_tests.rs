//! Packet-level tests of `fork`: the caller is answered at once; the work runs in a child process.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::json;
use tokio::sync::Notify;
use weir_engine::testing::{eventually, map, Graph};
use weir_engine::{Cx, Error, Input, Node, OutPort, Process, Result, Value};

use crate::control::testkit::{add, values};

/// What the work saw: each value with the process it came in.
type Seen = Arc<Mutex<Vec<(Value, Arc<Process>)>>>;

/// Records the value and the process of what it receives, after `gate` lets it go.
#[derive(Clone, Default)]
struct Record {
    seen: Seen,
    gate: Arc<Notify>,
    fail: bool,
}

impl Node for Record {
    type State = ();

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        self.gate.notified().await;
        self.seen
            .lock()
            .push((input.packet.value.clone(), cx.process().clone()));
        if self.fail {
            return Err(Error::node("the forked work failed"));
        }
        cx.emit(OutPort::OUT, input.packet.value).await
    }
}

#[tokio::test]
async fn the_caller_is_answered_before_the_work_is_done() {
    let mut g = Graph::new();
    let work = Record::default();
    g.add("work", work.clone(), &[]);
    let fork = add(&mut g, "fork", "fork", json!({}), &[(OutPort::OUT, "work", 0)]);
    let caller = Process::new();
    // The work waits on the gate, so an answer now proves the caller did not wait for it.
    let reply = tokio::time::timeout(
        Duration::from_secs(10),
        weir_engine::call(&fork, &caller, 0, Value::from("job")),
    )
    .await
    .unwrap();
    assert_eq!(reply, values(&[]));
    work.gate.notify_one();
    assert!(eventually(Duration::from_secs(10), || !work.seen.lock().is_empty()).await);
    let (value, process) = work.seen.lock()[0].clone();
    assert_eq!(value, Value::from("job"));
    assert_ne!(process.id(), caller.id());
    assert_eq!(process.parent().map(|p| p.id()), Some(caller.id()));
    // The child exits once its work is answered.
    assert!(eventually(Duration::from_secs(10), || process.is_done()).await);
    assert_eq!(process.exit_cause(), Some(None));
    caller.exit(None);
}

#[tokio::test]
async fn a_failure_goes_to_error_in_the_child() {
    let mut g = Graph::new();
    let work = Record {
        fail: true,
        ..Record::default()
    };
    let caught = Arc::new(Mutex::new(Vec::new()));
    let seen = caught.clone();
    g.add("work", work.clone(), &[]);
    g.add(
        "catch",
        map(move |v| {
            seen.lock().push(v.to_string());
            Ok(Value::Null)
        }),
        &[],
    );
    let fork = add(
        &mut g,
        "fork",
        "fork",
        json!({}),
        &[(OutPort::OUT, "work", 0), (OutPort::Error, "catch", 0)],
    );
    let caller = Process::new();
    work.gate.notify_one();
    let reply = weir_engine::call(&fork, &caller, 0, Value::from(1)).await;
    assert_eq!(reply, values(&[]));
    assert!(eventually(Duration::from_secs(10), || !caught.lock().is_empty()).await);
    assert!(
        caught.lock()[0].contains("the forked work failed"),
        "{:?}",
        caught.lock()
    );
    let child = work.seen.lock()[0].1.clone();
    assert!(eventually(Duration::from_secs(10), || child.is_done()).await);
    assert_eq!(child.exit_cause(), Some(None), "the error was handled");
    caller.exit(None);
}

#[tokio::test]
async fn an_unhandled_failure_ends_the_child_with_it() {
    let mut g = Graph::new();
    let work = Record {
        fail: true,
        ..Record::default()
    };
    g.add("work", work.clone(), &[]);
    let fork = add(&mut g, "fork", "fork", json!({}), &[(OutPort::OUT, "work", 0)]);
    let caller = Process::new();
    work.gate.notify_one();
    assert_eq!(
        weir_engine::call(&fork, &caller, 0, Value::from(1)).await,
        values(&[])
    );
    assert!(eventually(Duration::from_secs(10), || !work.seen.lock().is_empty()).await);
    let child = work.seen.lock()[0].1.clone();
    assert!(eventually(Duration::from_secs(10), || child.is_done()).await);
    let cause = child.exit_cause().flatten().map(|e| e.message().to_string());
    assert_eq!(cause.as_deref(), Some("the forked work failed"));
    assert!(!caller.is_done());
    caller.exit(None);
}
