//! Packet-level test helpers: a small graph builder over slots, and nodes that behave in the ways tests
//! need (map with a closure, delay, fail, panic, produce a stream, collect). Used by this crate's tests,
//! by node kinds' tests in other crates, and by the benches.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use crate::error::{Error, Result};
use crate::node::{Input, Node, OutPort};
use crate::session::Cx;
use crate::slot::{NodeOptions, NodeRuntime, NodeSlot};
use crate::value::Value;

/// The runtime the benches and the profiling example run on: multi-threaded, with `WORKERS` worker
/// threads (default 2, this machine's cores), so one worker can be compared with two.
pub fn bench_runtime() -> tokio::runtime::Runtime {
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("a tokio runtime for the benches")
}

/// Named slots with their links, built by hand.
#[derive(Default)]
pub struct Graph {
    slots: HashMap<String, Arc<NodeSlot>>,
}

impl Graph {
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot of `name`, created empty on first use.
    pub fn slot(&mut self, name: &str) -> Arc<NodeSlot> {
        self.slots
            .entry(name.to_string())
            .or_insert_with(|| NodeSlot::new(name))
            .clone()
    }

    /// Loads `node` at `name` with links `(out port, target, target in port)`.
    pub fn add<N: Node>(&mut self, name: &str, node: N, links: &[(OutPort, &str, usize)]) -> Arc<NodeSlot> {
        self.add_with(name, node, links, NodeOptions::default())
    }

    pub fn add_with<N: Node>(
        &mut self,
        name: &str,
        node: N,
        links: &[(OutPort, &str, usize)],
        options: NodeOptions,
    ) -> Arc<NodeSlot> {
        let mut rt = NodeRuntime::new(name, node).options(options);
        for (port, target, in_port) in links {
            let t = self.slot(target);
            rt = rt.link(*port, &t, *in_port);
        }
        let slot = self.slot(name);
        slot.install(rt);
        slot
    }

    /// Unloads every node, breaking the slots' reference cycles.
    pub fn clear(&mut self) {
        for s in self.slots.values() {
            s.uninstall();
        }
        self.slots.clear();
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        self.clear();
    }
}

/// A node from an async closure over the input value.
pub struct FnNode<F>(pub F);

impl<F, Fut> Node for FnNode<F>
where
    F: Fn(Value) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<Value>> + Send,
{
    type State = ();

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let v = (self.0)(input.packet.value).await?;
        cx.emit(OutPort::OUT, v).await
    }
}

/// A node from a plain closure over the input value.
pub fn map<F>(f: F) -> impl Node
where
    F: Fn(Value) -> Result<Value> + Send + Sync + 'static,
{
    FnNode(move |v| std::future::ready(f(v)))
}

/// Emits `0..n` for every input (a streaming producer), waiting `gap` between packets, and panics after
/// `panic_after` packets when set.
pub struct Produce {
    pub n: u64,
    pub gap: Option<Duration>,
    pub panic_after: Option<u64>,
}

impl Produce {
    pub fn new(n: u64) -> Self {
        Produce {
            n,
            gap: None,
            panic_after: None,
        }
    }
}

impl Node for Produce {
    type State = ();
    const STREAMS: bool = true;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, _input: Input) -> Result<()> {
        for i in 0..self.n {
            if self.panic_after == Some(i) {
                panic!("producer gave up after {i} packets");
            }
            if let Some(gap) = self.gap {
                tokio::time::sleep(gap).await;
            }
            cx.emit(OutPort::OUT, Value::from(i)).await?;
        }
        Ok(())
    }
}

/// What a [`Collect`] node saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub values: Vec<Value>,
    pub ended: bool,
}

/// Records every value it receives and whether its input ended; answers each with the value.
#[derive(Clone, Default)]
pub struct Collect {
    pub seen: Arc<Mutex<Seen>>,
}

impl Node for Collect {
    type State = ();

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        self.seen.lock().values.push(input.packet.value.clone());
        cx.emit(OutPort::OUT, input.packet.value).await
    }

    async fn on_finish(&self, _: &mut (), _cx: &mut Cx) -> Result<()> {
        self.seen.lock().ended = true;
        Ok(())
    }
}

/// Fails every input with a node error.
pub fn fail(message: &'static str) -> impl Node {
    map(move |_| Err(Error::node(message)))
}

/// Waits until `cond` holds, checking every 5 ms, for at most `within`.
pub async fn eventually(within: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    while tokio::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    cond()
}

/// A chain of `n` pass-through nodes `n0 → n1 → … → n{n-1}`; returns the head.
pub fn pass_chain(g: &mut Graph, n: usize) -> Arc<NodeSlot> {
    for i in (0..n).rev() {
        let next = format!("n{}", i + 1);
        let links: Vec<(OutPort, &str, usize)> = if i + 1 < n {
            vec![(OutPort::OUT, next.as_str(), 0)]
        } else {
            vec![]
        };
        g.add(&format!("n{i}"), crate::template::Pass, &links);
    }
    g.slot("n0")
}

/// Streams `0..n` into `head` in one process with credit `cap`, reading replies as they come;
/// returns the number of replies.
pub async fn stream_through(head: &Arc<NodeSlot>, n: u64, cap: usize) -> Result<u64> {
    let p = crate::process::Process::new();
    let mut c = crate::call::Call::open_with(head, &p, 0, cap)?;
    let mut replies = 0u64;
    for i in 0..n {
        c.send(Value::Int(i as i64)).await?;
        while let Some(f) = c.try_frame() {
            replies += u64::from(f.is_last());
        }
    }
    c.close();
    while let Some(f) = c.frame().await {
        replies += u64::from(f.is_last());
    }
    p.exit(None);
    Ok(replies)
}

/// The stream bench's baseline: `n` values through `stages` tasks that relay them through bounded
/// tokio `mpsc` channels of `buffer` slots, counted at the end.
pub async fn mpsc_pipeline(n: u64, stages: usize, buffer: usize) {
    use tokio::sync::mpsc;
    let (tx0, mut rx) = mpsc::channel::<Value>(buffer);
    let mut tasks = Vec::new();
    for _ in 0..stages {
        let (tx, next) = mpsc::channel::<Value>(buffer);
        let mut input = std::mem::replace(&mut rx, next);
        tasks.push(tokio::spawn(async move {
            while let Some(v) = input.recv().await {
                if tx.send(v).await.is_err() {
                    break;
                }
            }
        }));
    }
    let sink = tokio::spawn(async move {
        let mut count = 0u64;
        while rx.recv().await.is_some() {
            count += 1;
        }
        count
    });
    for i in 0..n {
        tx0.send(Value::Int(i as i64))
            .await
            .expect("the pipeline's first stage is running");
    }
    drop(tx0);
    assert_eq!(sink.await.expect("the sink task"), n);
    for t in tasks {
        let _ = t.await;
    }
}

/// A request of the request/reply bench's baseline: a value and where its reply goes.
pub type Req = (Value, tokio::sync::oneshot::Sender<Value>);

/// The request/reply bench's baseline: a chain of `stages` tasks linked by `mpsc` channels of `buffer`
/// slots; each forwards a request with a fresh oneshot and relays the reply back. Returns the head.
pub fn oneshot_chain(stages: usize, buffer: usize) -> tokio::sync::mpsc::Sender<Req> {
    use futures::stream::{FuturesUnordered, StreamExt};
    use tokio::sync::{mpsc, oneshot};
    let (last_tx, mut last_rx) = mpsc::channel::<Req>(buffer);
    tokio::spawn(async move {
        while let Some((v, reply)) = last_rx.recv().await {
            let _ = reply.send(v);
        }
    });
    let mut next = last_tx;
    for _ in 1..stages {
        let (tx, mut rx) = mpsc::channel::<Req>(buffer);
        let downstream = next.clone();
        tokio::spawn(async move {
            let mut pending = FuturesUnordered::new();
            loop {
                tokio::select! {
                    req = rx.recv() => match req {
                        Some((v, reply)) => {
                            let (t, r) = oneshot::channel();
                            if downstream.send((v, t)).await.is_err() { break; }
                            pending.push(async move { (r.await, reply) });
                        }
                        None => break,
                    },
                    Some((got, reply)) = pending.next(), if !pending.is_empty() => {
                        if let Ok(v) = got { let _ = reply.send(v); }
                    }
                }
            }
            while let Some((got, reply)) = pending.next().await {
                if let Ok(v) = got {
                    let _ = reply.send(v);
                }
            }
        });
        next = tx;
    }
    next
}
