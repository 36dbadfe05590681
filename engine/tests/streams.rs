//! Streams and end-of-stream: order, EOS on success, on panic and when a parent process ends.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use weir_engine::testing::{eventually, Collect, Graph, Produce};
use weir_engine::{call, Call, ErrorKind, OutPort, Process, Value};

#[tokio::test]
async fn a_stream_of_1000_packets_arrives_in_order_then_eos() {
    let mut g = Graph::new();
    let sink = Collect::default();
    g.add("sink", sink.clone(), &[]);
    let src = g.add("src", Produce::new(1000), &[(OutPort::OUT, "sink", 0)]);
    let reply = call(&src, &Process::new(), 0, Value::Null).await.unwrap();
    assert_eq!(
        reply.len(),
        1000,
        "the producer's reply is the stream of the consumer's replies"
    );
    assert!(
        eventually(Duration::from_secs(5), || sink.seen.lock().ended).await,
        "EOS reached the consumer"
    );
    let seen = sink.seen.lock();
    assert_eq!(seen.values, (0..1000u64).map(Value::from).collect::<Vec<_>>());
    assert_eq!(reply, seen.values);
}

#[tokio::test]
async fn a_streamed_reply_reaches_the_caller_element_by_element() {
    let mut g = Graph::new();
    let src = g.add(
        "src",
        Produce {
            n: 5,
            gap: Some(Duration::from_millis(20)),
            panic_after: None,
        },
        &[],
    );
    let p = Process::new();
    let mut c = Call::open(&src, &p, 0).unwrap();
    c.send(Value::Null).await.unwrap();
    c.close();
    // The first element arrives while the producer is still working.
    assert_eq!(c.frame().await, Some(weir_engine::Frame::Item(Value::from(0u64))));
    let rest = c.reply().await.unwrap().unwrap();
    assert_eq!(rest, (1..5u64).map(Value::from).collect::<Vec<_>>());
}

#[tokio::test]
async fn eos_reaches_the_consumer_when_the_producer_panics_mid_stream() {
    let mut g = Graph::new();
    let sink = Collect::default();
    g.add("sink", sink.clone(), &[]);
    let src = g.add(
        "src",
        Produce {
            n: 100,
            gap: None,
            panic_after: Some(10),
        },
        &[(OutPort::OUT, "sink", 0)],
    );
    let err = call(&src, &Process::new(), 0, Value::Null).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panic);
    assert!(
        err.message().contains("producer gave up after 10 packets"),
        "{err}"
    );
    assert!(
        eventually(Duration::from_secs(5), || sink.seen.lock().ended).await,
        "EOS reached the consumer"
    );
    assert_eq!(sink.seen.lock().values.len(), 10);

    // Everything else goes on: the same nodes serve the next process.
    let ok = g.add("ok", Produce::new(3), &[(OutPort::OUT, "sink", 0)]);
    assert_eq!(call(&ok, &Process::new(), 0, Value::Null).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_child_process_ends_with_its_parent() {
    let mut g = Graph::new();
    let src = g.add(
        "src",
        Produce {
            n: u64::MAX,
            gap: Some(Duration::from_millis(1)),
            panic_after: None,
        },
        &[],
    );
    let parent = Process::new();
    let child = parent.fork();
    let mut c = Call::open(&src, &child, 0).unwrap();
    c.send(Value::Null).await.unwrap();
    assert!(matches!(c.frame().await, Some(weir_engine::Frame::Item(_))));
    parent.exit(None);
    let mut last = None;
    while let Some(f) = tokio::time::timeout(Duration::from_secs(5), c.frame())
        .await
        .expect("no hang")
    {
        last = Some(f);
    }
    assert!(matches!(last, Some(weir_engine::Frame::Err(_))), "{last:?}");
    assert!(child.is_done());
}

/// Emits one packet, then waits until released, then emits another.
struct OneThenWait(Arc<tokio::sync::Notify>);

impl weir_engine::Node for OneThenWait {
    type State = ();
    const STREAMS: bool = true;
    async fn on_packet(
        &self,
        _: &mut (),
        cx: &mut weir_engine::Cx,
        _: weir_engine::Input,
    ) -> weir_engine::Result<()> {
        cx.emit(OutPort::OUT, Value::from("first")).await?;
        self.0.notified().await;
        cx.emit(OutPort::OUT, Value::from("second")).await
    }
}

#[tokio::test]
async fn every_element_passes_every_hop_at_once_without_waiting_for_the_next() {
    let mut g = Graph::new();
    let release = Arc::new(tokio::sync::Notify::new());
    g.add("c", weir_engine::template::Pass, &[]);
    g.add("b", weir_engine::template::Pass, &[(OutPort::OUT, "c", 0)]);
    let src = g.add("src", OneThenWait(release.clone()), &[(OutPort::OUT, "b", 0)]);
    let p = Process::new();
    let mut c = Call::open(&src, &p, 0).unwrap();
    c.send(Value::Null).await.unwrap();
    c.close();
    let first = tokio::time::timeout(Duration::from_secs(5), c.frame())
        .await
        .expect("the first element is not held back");
    assert_eq!(first, Some(weir_engine::Frame::Item(Value::from("first"))));
    release.notify_one();
    assert_eq!(
        c.reply().await.unwrap().unwrap(),
        vec![Value::from("second")],
        "then the rest, then the end"
    );
}
