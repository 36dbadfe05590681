//! Channels through the node kinds: a caller publishes through a `publish` node (a round trip per
//! message, as a listener's request would) to 1, 2 and 8 `subscribe` nodes of its namespace, each
//! emitting every message in a new process into a counting `map`. The time is until every subscriber
//! has emitted every message, per message published. Messages go in chunks of half a subscriber's
//! queue, waiting for the subscribers after each chunk, so none is cut off for lagging.
//!
//! Run: `cargo bench -p weir-extensions --bench channels`.

/// The allocator the `weir` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use weir_codecs::codec::{CompileContext, Scheme};
use weir_engine::channel::Channels;
use weir_engine::testing::{map, Graph};
use weir_engine::{call, BoxedNode, NodeRuntime, NodeSlot, OutPort, Process, Value};
use weir_extensions::system::{register, SystemServices};
use weir_loader::{MemoryStore, Store};

const QUEUE: usize = 1024;
const CHUNK: u64 = (QUEUE / 2) as u64;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

struct Setup {
    publisher: Arc<NodeSlot>,
    delivered: Arc<AtomicU64>,
    subscribers: u64,
    _nodes: Vec<BoxedNode>,
}

fn load(
    scheme: &Scheme,
    g: &mut Graph,
    kind: &str,
    name: &str,
    out: Option<&Arc<NodeSlot>>,
) -> (Arc<NodeSlot>, BoxedNode) {
    let node = scheme
        .get(kind)
        .expect("registered")
        .compile(&json!({"topic": "bench"}), &CompileContext::new("bench", name))
        .expect("compiles");
    let mut rt = NodeRuntime::from_boxed(name, node.clone());
    if let Some(t) = out {
        rt = rt.link(OutPort::OUT, t, 0);
    }
    let slot = g.slot(name);
    slot.install(rt);
    node.load(&slot).expect("loads");
    (slot, node)
}

fn setup(g: &mut Graph, subscribers: u64) -> Setup {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let services = SystemServices::new(store, Channels::new(QUEUE));
    let mut scheme = Scheme::new();
    register(&mut scheme, services);
    let delivered = Arc::new(AtomicU64::new(0));
    let count = delivered.clone();
    let sink = g.add(
        &format!("count{subscribers}"),
        map(move |v| {
            count.fetch_add(1, Ordering::Relaxed);
            Ok(v)
        }),
        &[],
    );
    let mut nodes = Vec::new();
    for i in 0..subscribers {
        let (_, n) = load(
            &scheme,
            g,
            "subscribe",
            &format!("sub{subscribers}-{i}"),
            Some(&sink),
        );
        nodes.push(n);
    }
    let (publisher, n) = load(&scheme, g, "publish", &format!("pub{subscribers}"), None);
    nodes.push(n);
    Setup {
        publisher,
        delivered,
        subscribers,
        _nodes: nodes,
    }
}

fn publish_to_subscribers(c: &mut Criterion) {
    let rt = runtime();
    let mut g = Graph::new();
    let setups: Vec<Setup> = rt.block_on(async { [1, 2, 8].map(|n| setup(&mut g, n)).into() });
    let mut group = c.benchmark_group("channels_publish_to_all_subscribers");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for s in &setups {
        group.bench_function(format!("{}_subscribers", s.subscribers), |b| {
            b.iter_custom(|iters| {
                let (publisher, delivered, subs) = (s.publisher.clone(), s.delivered.clone(), s.subscribers);
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let start = Instant::now();
                        let mut sent = 0;
                        while sent < iters {
                            let chunk = CHUNK.min(iters - sent);
                            let want = delivered.load(Ordering::Relaxed) + chunk * subs;
                            for i in 0..chunk {
                                let p = Process::new();
                                call(&publisher, &p, 0, Value::Int((sent + i) as i64))
                                    .await
                                    .expect("reply");
                                p.exit(None);
                            }
                            while delivered.load(Ordering::Relaxed) < want {
                                tokio::task::yield_now().await;
                            }
                            sent += chunk;
                        }
                        start.elapsed()
                    })
                    .await
                    .expect("caller")
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, publish_to_subscribers);
criterion_main!(benches);
