//! Backpressure: credit per (link, process), the cap on live processes, and what happens to waiting
//! writers when their consumer fails, is removed or is swapped.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use weir_engine::testing::{eventually, map, Graph};
use weir_engine::{call, Call, Cx, ErrorKind, Input, Node, NodeOptions, OutPort, Process, Result, Value};

/// Answers one packet per permit released; panics instead when `panic` is set.
#[derive(Clone)]
struct Gate {
    permits: Arc<Semaphore>,
    panic: Arc<AtomicBool>,
}

impl Gate {
    fn new() -> Self {
        Gate {
            permits: Arc::new(Semaphore::new(0)),
            panic: Arc::new(AtomicBool::new(false)),
        }
    }
}

impl Node for Gate {
    type State = ();
    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        if let Ok(p) = self.permits.acquire().await {
            p.forget();
        }
        if self.panic.load(Ordering::SeqCst) {
            panic!("gate broke");
        }
        cx.emit(OutPort::OUT, input.packet.value).await
    }
}

/// Emits 0..n and counts the emits that returned.
#[derive(Clone)]
struct Counted {
    n: u64,
    sent: Arc<AtomicUsize>,
}

impl Counted {
    /// A producer of `n` and the count of its emits.
    fn new(n: u64) -> (Self, Arc<AtomicUsize>) {
        let sent = Arc::new(AtomicUsize::new(0));
        (
            Counted {
                n,
                sent: sent.clone(),
            },
            sent,
        )
    }
}

impl Node for Counted {
    type State = ();
    const STREAMS: bool = true;
    async fn on_packet(&self, _: &mut (), cx: &mut Cx, _: Input) -> Result<()> {
        for i in 0..self.n {
            cx.emit(OutPort::OUT, Value::from(i)).await?;
            self.sent.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

fn opts(buffer: usize, concurrency: usize) -> NodeOptions {
    NodeOptions { buffer, concurrency }
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Waits (generously) until `sent` reaches `n`, then a little longer, so that a writer that would go
/// past the bound has had the time to do it.
async fn reach(sent: &AtomicUsize, n: usize) {
    assert!(
        eventually(Duration::from_secs(10), || sent.load(Ordering::SeqCst) >= n).await,
        "{n} packets sent in time"
    );
    settle().await;
}

#[tokio::test]
async fn a_writer_waits_exactly_at_the_bound() {
    let mut g = Graph::new();
    let gate = Gate::new();
    g.add_with("gate", gate.clone(), &[], opts(4, 16));
    let (counted, sent) = Counted::new(100);
    let src = g.add("src", counted, &[(OutPort::OUT, "gate", 0)]);
    let p = Process::new();
    let mut c = Call::open(&src, &p, 0).unwrap();
    c.send(Value::Null).await.unwrap();
    reach(&sent, 4).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        4,
        "credit 4: four packets out, the fifth waits"
    );
    gate.permits.add_permits(1);
    reach(&sent, 5).await;
    assert_eq!(
        sent.load(Ordering::SeqCst),
        5,
        "one answer returns exactly one credit"
    );
    gate.permits.add_permits(3);
    reach(&sent, 8).await;
    assert_eq!(sent.load(Ordering::SeqCst), 8);
    gate.permits.add_permits(1000);
    c.close();
    let reply = c.reply().await.unwrap().unwrap();
    assert_eq!(reply.len(), 100);
    assert_eq!(sent.load(Ordering::SeqCst), 100);
}

#[tokio::test]
async fn a_blocked_producer_is_released_with_an_error_when_its_consumer_fails() {
    let mut g = Graph::new();
    let gate = Gate::new();
    g.add_with("gate", gate.clone(), &[], opts(2, 16));
    let (counted, sent) = Counted::new(1000);
    let src = g.add("src", counted, &[(OutPort::OUT, "gate", 0)]);
    let p = Process::new();
    let caller = tokio::spawn({
        let src = src.clone();
        async move { call(&src, &p, 0, Value::Null).await }
    });
    assert!(eventually(Duration::from_secs(5), || sent.load(Ordering::SeqCst) == 2).await);
    gate.panic.store(true, Ordering::SeqCst);
    gate.permits.add_permits(1);
    let reply = tokio::time::timeout(Duration::from_secs(5), caller)
        .await
        .expect("no hang")
        .unwrap();
    let err = reply.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Panic, "{err}");
    assert!(err.message().contains("gate broke"), "{err}");
    assert_eq!(
        sent.load(Ordering::SeqCst),
        2,
        "nothing more was sent into the dead consumer"
    );
}

#[tokio::test]
async fn a_node_caps_its_live_processes_and_the_rest_wait_in_the_slot() {
    let mut g = Graph::new();
    let gate = Gate::new();
    let slot = g.add_with("gate", gate.clone(), &[], opts(4, 2));
    let mut calls = Vec::new();
    for i in 0..3 {
        let slot = slot.clone();
        calls.push(tokio::spawn(async move {
            call(&slot, &Process::new(), 0, Value::from(i)).await
        }));
    }
    assert!(
        eventually(Duration::from_secs(5), || slot.waiting() == 1).await,
        "the third process waits"
    );
    gate.permits.add_permits(3);
    for (i, c) in calls.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(5), c)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(got, vec![Value::from(i as i64)]);
    }
    assert_eq!(slot.waiting(), 0);
}

#[tokio::test]
async fn removing_a_node_answers_what_waits_for_it_with_an_error() {
    let mut g = Graph::new();
    let gate = Gate::new();
    let slot = g.add_with("gate", gate.clone(), &[], opts(4, 1));
    let first = tokio::spawn({
        let slot = slot.clone();
        async move { call(&slot, &Process::new(), 0, Value::from(1)).await }
    });
    let second = tokio::spawn({
        let slot = slot.clone();
        async move { call(&slot, &Process::new(), 0, Value::from(2)).await }
    });
    assert!(eventually(Duration::from_secs(5), || slot.waiting() == 1).await);
    slot.uninstall();
    let err = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Closed);
    assert!(err.message().contains("\"gate\" was unloaded"), "{err}");
    // The process already running finishes on the node it started on.
    gate.permits.add_permits(1);
    let ok = tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(ok, vec![Value::from(1)]);
}

#[tokio::test]
async fn a_swapped_node_takes_over_the_waiting_lanes_without_losing_them() {
    let mut g = Graph::new();
    let gate = Gate::new();
    let slot = g.add_with("n", gate.clone(), &[], opts(4, 1));
    let first = tokio::spawn({
        let slot = slot.clone();
        async move { call(&slot, &Process::new(), 0, Value::from(1)).await }
    });
    let second = tokio::spawn({
        let slot = slot.clone();
        async move { call(&slot, &Process::new(), 0, Value::from(2)).await }
    });
    assert!(eventually(Duration::from_secs(5), || slot.waiting() == 1).await);
    g.add_with("n", map(|v| Ok(Value::from(format!("new {v}")))), &[], opts(4, 1));
    let swapped = tokio::time::timeout(Duration::from_secs(5), second)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        swapped,
        vec![Value::from("new 2")],
        "the waiting process went to the new node"
    );
    gate.permits.add_permits(1);
    let old = tokio::time::timeout(Duration::from_secs(5), first)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        old,
        vec![Value::from(1)],
        "the running process finished on the old node"
    );
}

/// `src` (a [`Counted`] of `n`) → `echo`, started with one input by a call whose replies are not read
/// yet; gives the call and the count of what `src` emitted.
async fn count_into_echo(g: &mut Graph, n: usize) -> (Call, Arc<AtomicUsize>) {
    g.add("echo", map(Ok), &[]);
    let (count, emitted) = Counted::new(n as u64);
    let src = g.add("src", count, &[(OutPort::OUT, "echo", 0)]);
    let p = Process::new();
    let mut c = Call::open(&src, &p, 0).unwrap();
    c.send(Value::Null).await.unwrap();
    c.close();
    (c, emitted)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_stream_read_slowly_holds_its_producer_back_and_loses_nothing() {
    const N: usize = 20_000;
    let mut g = Graph::new();
    let (mut c, emitted) = count_into_echo(&mut g, N).await;
    // Nobody reads the reply for a while: the producer stops once the frames waiting for the caller
    // fill the lane's room (4 × 64 credit = 256) and what is in flight behind them (64 on the link
    // into `echo`), instead of streaming all 20,000 into memory.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let early = emitted.load(Ordering::SeqCst);
    assert!(early >= 256, "the producer ran: {early}");
    assert!(
        early <= 256 + 64 + 64,
        "the producer is held back: {early} emitted"
    );
    // Reading lets it go on; every element arrives, in order, then the end.
    let mut got = 0usize;
    loop {
        match c.frame().await {
            Some(weir_engine::Frame::Item(v)) => {
                assert_eq!(v, Value::from(got as i64));
                got += 1;
            }
            // The last element and the end may come as one frame.
            Some(weir_engine::Frame::One(v)) => {
                assert_eq!(v, Value::from(got as i64));
                got += 1;
                break;
            }
            Some(weir_engine::Frame::End) => break,
            other => panic!("after {got} elements: {other:?}"),
        }
    }
    assert_eq!(got, N);
    assert_eq!(emitted.load(Ordering::SeqCst), N);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_producer_held_back_by_its_reader_goes_on_when_the_reader_goes_away() {
    const N: usize = 5_000;
    let mut g = Graph::new();
    let (c, emitted) = count_into_echo(&mut g, N).await;
    reach(&emitted, 256).await;
    assert!(
        emitted.load(Ordering::SeqCst) < N,
        "held back while the reader is there"
    );
    // The caller drops its end without reading (a client that hung up): nothing waits for room now,
    // the rest of the stream is produced and dropped, and the producer's session does not hang.
    drop(c);
    assert!(
        eventually(Duration::from_secs(10), || emitted.load(Ordering::SeqCst) == N).await,
        "the producer finished: {} of {N}",
        emitted.load(Ordering::SeqCst)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_that_reads_its_replies_only_after_sending_is_not_held_for_ever() {
    // Each input is answered with 100 elements; the caller sends 20 inputs through a credit of 4
    // before it reads any reply. The node's answers fill the lane's room long before that, but a
    // writer at its bound is not made to wait for room it would only make after sending.
    let mut g = Graph::new();
    let (counted, sent) = Counted::new(100);
    let src = g.add_with("hundred", counted, &[], opts(4, 16));
    let p = Process::new();
    let mut c = Call::open(&src, &p, 0).unwrap();
    let run = async {
        for i in 0..20 {
            c.send(Value::from(i)).await.unwrap();
        }
        c.close();
        let mut replies = Vec::new();
        while let Some(r) = c.reply().await {
            replies.push(r.unwrap());
        }
        replies
    };
    let replies = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("the caller and the node do not wait on each other");
    assert_eq!(replies.len(), 20);
    let want: Vec<Value> = (0..100u64).map(Value::from).collect();
    assert!(replies.iter().all(|r| *r == want));
    assert_eq!(sent.load(Ordering::SeqCst), 2000);
}
