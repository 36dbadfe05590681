//! Round trips through the control kinds `nop`, `throw`, `sleep`, `cache`, `reduce`, `session`, and
//! `snippet` (CEL, JavaScript, TypeScript, a JavaScript generator of three yields): each iteration
//! is one process that sends one packet (ten for the reduce stream) and reads the whole reply.
//!
//! Run: `cargo bench -p weir-extensions --bench control_state`.

use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::json;
use weir_codecs::codec::{CompileContext, Scheme};
use weir_engine::testing::{map, Graph};
use weir_engine::{call, Call, NodeRuntime, NodeSlot, OutPort, Process, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn install(
    g: &mut Graph,
    name: &str,
    kind: &str,
    fields: serde_json::Value,
    out: Option<&str>,
) -> Arc<NodeSlot> {
    let mut scheme = Scheme::new();
    weir_extensions::control::register(&mut scheme);
    let node = scheme
        .get(kind)
        .expect("registered")
        .compile(&fields, &CompileContext::new("bench", name))
        .expect("compiles");
    let mut rt = NodeRuntime::from_boxed(name, node);
    if let Some(target) = out {
        rt = rt.link(OutPort::OUT, &g.slot(target), 0);
    }
    let slot = g.slot(name);
    slot.install(rt);
    slot
}

/// Times `iters` round trips, each in a process of its own, from a task on the runtime.
fn round_trips<F, Fut>(rt: &tokio::runtime::Runtime, iters: u64, f: F) -> std::time::Duration
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    rt.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for i in 0..iters {
                f(i).await;
            }
            start.elapsed()
        })
        .await
        .expect("caller")
    })
}

async fn once(slot: &Arc<NodeSlot>, port: usize, v: Value) -> weir_engine::Reply {
    let p = Process::new();
    let out = call(slot, &p, port, v).await;
    p.exit(None);
    out
}

/// A benchmark's name, the node, its in port, and the input of iteration i.
type Case = (&'static str, Arc<NodeSlot>, usize, fn(u64) -> Value);

fn bench(c: &mut Criterion) {
    let rt = runtime();
    let _guard = rt.enter();
    let mut g = Graph::new();
    g.add("echo", map(Ok), &[]);
    let throw = install(&mut g, "throw", "throw", json!({}), None);
    let sleep = install(&mut g, "sleep", "sleep", json!({"interval": 0}), None);
    let cache = install(&mut g, "cache", "cache", json!({"capacity": 64}), Some("echo"));
    let cache_miss = install(
        &mut g,
        "cache_miss",
        "cache",
        json!({"capacity": 64}),
        Some("echo"),
    );
    let reduce = install(
        &mut g,
        "reduce",
        "reduce",
        json!({"action": "self[0] + self[1]", "init": 0}),
        None,
    );
    let session = install(&mut g, "session", "session", json!({}), None);
    let ts = install(
        &mut g,
        "ts",
        "snippet",
        json!({"language": "typescript", "code": "export default function (x: number): number { return x + 1 }"}),
        None,
    );
    let generator = install(
        &mut g,
        "gen",
        "snippet",
        json!({"language": "javascript", "code": "export default function* (x) { yield x; yield x + 1; yield x + 2 }"}),
        None,
    );
    let nop = install(&mut g, "nop", "nop", json!({}), None);
    let cel = install(
        &mut g,
        "cel",
        "snippet",
        json!({"language": "cel", "code": "self + 1"}),
        None,
    );
    let js = install(
        &mut g,
        "js",
        "snippet",
        json!({"language": "javascript", "code": "export default function (x) { return x + 1 }"}),
        None,
    );
    // One live session for `session`'s round trips.
    let owner = Process::new();
    rt.block_on(call(
        &session,
        &owner,
        weir_codecs::resource::IO_PORT,
        Value::from(json!({"uid": 1})),
    ))
    .expect("stores a session");
    rt.block_on(once(&cache, 0, Value::from("hot")))
        .expect("warms the cache");

    let mut group = c.benchmark_group("control_state");
    let cases: Vec<Case> = vec![
        ("throw", throw, 0, |_| Value::from("boom")),
        ("sleep_0", sleep, 0, |i| Value::from(i)),
        ("cache_hit", cache, 0, |_| Value::from("hot")),
        ("cache_miss", cache_miss, 0, |i| Value::from(i)),
        ("reduce_cel_1", reduce.clone(), 0, |i| Value::from(i)),
        ("session_in_1", session, 0, |i| Value::from(i)),
        ("nop", nop, 0, |i| Value::from(i)),
        ("snippet_cel", cel, 0, |i| Value::from(i)),
        ("snippet_javascript", js, 0, |i| Value::from(i)),
        ("snippet_typescript", ts, 0, |i| Value::from(i)),
        ("snippet_generator_3", generator, 0, |i| Value::from(i)),
    ];
    for (name, slot, port, input) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let slot = slot.clone();
                round_trips(&rt, iters, move |i| {
                    let slot = slot.clone();
                    async move {
                        let _ = once(&slot, port, input(i)).await;
                    }
                })
            })
        });
    }
    group.bench_function("reduce_cel_stream_10", |b| {
        b.iter_custom(|iters| {
            let reduce = reduce.clone();
            round_trips(&rt, iters, move |_| {
                let reduce = reduce.clone();
                async move {
                    let p = Process::new();
                    let mut c = Call::open(&reduce, &p, 0).expect("opens");
                    for k in 0..10 {
                        c.send(Value::from(k)).await.expect("sends");
                    }
                    c.close();
                    while c.reply().await.is_some() {}
                    p.exit(None);
                }
            })
        })
    });
    group.finish();
    owner.exit(None);
}

criterion_group!(benches, bench);
criterion_main!(benches);
