//! A cancelled process leaves no task behind. Alone in its own test binary, because it counts the
//! sessions of the whole program.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use weir_engine::testing::{eventually, map, Collect, Graph, Produce};
use weir_engine::{live_sessions, Call, ErrorKind, OutPort, Process, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_stream_and_leaves_no_task() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let tasks_before = metrics.num_alive_tasks();
    let sessions_before = live_sessions();
    let mut g = Graph::new();
    let sink = Collect::default();
    g.add("sink", sink.clone(), &[]);
    g.add("mid", map(Ok), &[(OutPort::OUT, "sink", 0)]);
    let src = g.add(
        "src",
        Produce {
            n: u64::MAX,
            gap: Some(Duration::from_millis(1)),
            panic_after: None,
        },
        &[(OutPort::OUT, "mid", 0)],
    );
    let p = Process::new();
    let mut c = Call::open(&src, &p, 0).unwrap();
    c.send(Value::Null).await.unwrap();
    assert!(eventually(Duration::from_secs(5), || sink.seen.lock().values.len() >= 5).await);
    assert_eq!(live_sessions() - sessions_before, 3, "one session per node");
    p.cancel();
    // The caller's reply ends with the cancel instead of hanging.
    let mut last = None;
    while let Some(f) = tokio::time::timeout(Duration::from_secs(5), c.frame())
        .await
        .expect("no hang")
    {
        last = Some(f);
    }
    match last {
        Some(weir_engine::Frame::Err(e)) => assert_eq!(e.kind(), ErrorKind::Cancelled),
        other => panic!("expected a cancelled error, got {other:?}"),
    }
    assert!(
        eventually(Duration::from_secs(5), || live_sessions() == sessions_before
            && metrics.num_alive_tasks() == tasks_before)
        .await,
        "sessions {} (before {sessions_before}), tasks {} (before {tasks_before})",
        live_sessions(),
        metrics.num_alive_tasks()
    );
}
