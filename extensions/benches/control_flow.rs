//! One round trip per control-flow kind: a fresh process sends one packet through the node to a
//! terminal `map` and reads the reply (what a listener does per request), beside the same round trip
//! through the `map` alone. `if` and `switch` include a CEL evaluation, which runs on tokio's blocking
//! pool; `fork` answers before its child's work is done, so it measures the caller's side only.
//!
//! Run: `cargo bench -p weir-extensions --bench control_flow`.

/// The allocator the `weir` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value as Json};
use weir_codecs::codec::CompileContext;
use weir_engine::testing::{map, Graph};
use weir_engine::{call, NodeRuntime, NodeSlot, OutPort, Process, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Compiles a spec of `kind` and installs it at `name` with links to `end` (the terminal map).
fn node(g: &mut Graph, kind: &str, fields: Json, ports: &[OutPort]) -> Arc<NodeSlot> {
    let scheme = weir_extensions::scheme();
    let compiled = scheme
        .get(kind)
        .expect("registered")
        .compile(&fields, &CompileContext::new("bench", kind).with_scheme(&scheme))
        .expect("compiles");
    let mut rt = NodeRuntime::from_boxed(kind, compiled.clone());
    let end = g.slot("end");
    for port in ports {
        rt = rt.link(*port, &end, 0);
    }
    let slot = g.slot(kind);
    slot.install(rt);
    compiled.load(&slot).expect("loads");
    slot
}

fn cases(g: &mut Graph) -> Vec<(&'static str, Arc<NodeSlot>)> {
    g.add("end", map(Ok), &[]);
    let out = [OutPort::OUT];
    let both = [OutPort::Out(0), OutPort::Out(1)];
    let pass = json!({"kind": "split"});
    vec![
        ("map_alone", g.slot("end")),
        ("block", node(g, "block", json!({"specs": [pass]}), &out)),
        ("step", node(g, "step", json!({"specs": [pass, pass]}), &out)),
        ("pipe", node(g, "pipe", json!({}), &both)),
        ("fork", node(g, "fork", json!({}), &out)),
        ("merge", node(g, "merge", json!({"inputs": 1}), &out)),
        ("split", node(g, "split", json!({}), &out)),
        ("for", node(g, "for", json!({}), &both)),
        ("if", node(g, "if", json!({"when": "true"}), &out)),
        (
            "switch",
            node(
                g,
                "switch",
                json!({"matches": [{"when": "true", "port": "out[0]"}]}),
                &out,
            ),
        ),
        ("try", node(g, "try", json!({}), &out)),
        ("retry", node(g, "retry", json!({"threshold": 2}), &out)),
    ]
}

fn round_trip(c: &mut Criterion) {
    let rt = runtime();
    let mut g = Graph::new();
    let cases = rt.block_on(async { cases(&mut g) });
    let mut group = c.benchmark_group("control_round_trip");
    group
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for (name, slot) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let slot = slot.clone();
                // The caller runs on a worker, as a listener's request task does.
                rt.block_on(async move {
                    tokio::spawn(async move {
                        let start = Instant::now();
                        for i in 0..iters {
                            let p = Process::new();
                            let input = if name == "for" {
                                Value::list([Value::Int(i as i64)])
                            } else {
                                Value::Int(i as i64)
                            };
                            call(&slot, &p, 0, input).await.expect("reply");
                            p.exit(None);
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

criterion_group!(benches, round_trip);
criterion_main!(benches);
