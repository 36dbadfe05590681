//! Throughput of a chain of 10 pass-through nodes, each beside a plain tokio baseline measured in the
//! same run (`bench/engine.sh` prints the ratios):
//! - `stream`: one process streaming 1M packets through the chain vs a 10-stage `mpsc` pipeline, each
//!   fed by a task on a worker;
//! - `request_reply`: 100k independent processes, 64 in flight, vs a 10-stage chain of tasks that
//!   relay each reply back through `oneshot` channels;
//! - `round_trip`: one packet through one node and back.
//!
//! `WORKERS=N` sets the worker threads (`testing::bench_runtime`, default 2).

/// The allocator the `weir` binary uses, for weir and the baselines alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tokio::sync::oneshot;
use weir_engine::template::Pass;
use weir_engine::testing::{mpsc_pipeline, oneshot_chain, pass_chain, stream_through, Graph};
use weir_engine::{call, NodeSlot, Process, Value};

const STAGES: usize = 10;
const STREAM_PACKETS: u64 = 1_000_000;
const PROCESSES: u64 = 100_000;
const IN_FLIGHT: u64 = 64;
const BUFFER: usize = 64;

async fn weir_stream(head: Arc<NodeSlot>, n: u64) {
    let replies = stream_through(&head, n, BUFFER).await.expect("stream");
    assert_eq!(replies, n);
}

/// Runs `f` in a task on a worker and waits for it: the producer of either stream runs where a
/// listener's request task or a node would, not on the thread that blocks on the runtime (from
/// there, each wake-up of the pipeline's first stage and each wait for credit crosses to a thread
/// outside the pool).
fn on_worker<F>(rt: &tokio::runtime::Runtime, f: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    rt.block_on(async { tokio::spawn(f).await.expect("the producer task") })
}

async fn drive(
    n: u64,
    in_flight: u64,
    one: impl Fn(u64) -> futures::future::BoxFuture<'static, ()> + Send + Sync + 'static,
) {
    let one = Arc::new(one);
    let mut workers = Vec::new();
    for w in 0..in_flight {
        let one = one.clone();
        workers.push(tokio::spawn(async move {
            let mut i = w;
            while i < n {
                one(i).await;
                i += in_flight;
            }
        }));
    }
    for w in workers {
        w.await.expect("worker");
    }
}

fn bench(c: &mut Criterion) {
    let rt = weir_engine::testing::bench_runtime();
    let mut g = Graph::new();
    let head = rt.block_on(async { pass_chain(&mut g, STAGES) });

    let mut group = c.benchmark_group("stream");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(STREAM_PACKETS));
    group.bench_function("weir", |b| {
        b.iter(|| on_worker(&rt, weir_stream(head.clone(), STREAM_PACKETS)))
    });
    group.bench_function("mpsc", |b| {
        b.iter(|| on_worker(&rt, mpsc_pipeline(STREAM_PACKETS, STAGES, BUFFER)))
    });
    group.finish();

    let mut group = c.benchmark_group("request_reply");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(PROCESSES));
    let h = head.clone();
    group.bench_function("weir", |b| {
        b.iter(|| {
            let h = h.clone();
            rt.block_on(drive(PROCESSES, IN_FLIGHT, move |i| {
                let h = h.clone();
                Box::pin(async move {
                    let p = Process::new();
                    let r = call(&h, &p, 0, Value::Int(i as i64)).await.expect("reply");
                    debug_assert_eq!(r.len(), 1);
                    p.exit(None);
                })
            }))
        })
    });
    let head_tx = rt.block_on(async { oneshot_chain(STAGES, BUFFER) });
    group.bench_function("oneshot", |b| {
        b.iter(|| {
            let tx = head_tx.clone();
            rt.block_on(drive(PROCESSES, IN_FLIGHT, move |i| {
                let tx = tx.clone();
                Box::pin(async move {
                    let (t, r) = oneshot::channel();
                    tx.send((Value::Int(i as i64), t)).await.expect("send");
                    r.await.expect("reply");
                })
            }))
        })
    });
    group.finish();

    let mut g1 = Graph::new();
    let one = rt.block_on(async { g1.add("one", Pass, &[]) });
    let mut group = c.benchmark_group("round_trip");
    group.bench_function("weir_one_node", |b| {
        b.iter_custom(|iters| {
            let one = one.clone();
            // The caller runs on a worker, as a listener's request task does.
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        let p = Process::new();
                        call(&one, &p, 0, Value::Int(i as i64)).await.expect("reply");
                        p.exit(None);
                    }
                    start.elapsed()
                })
                .await
                .expect("caller")
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
