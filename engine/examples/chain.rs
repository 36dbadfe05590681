//! A chain of 10 pass-through nodes driven two ways, for profiling (`perf record`, callgrind):
//!   cargo run --release -p weir-engine --example chain -- stream [N]    one process streaming N packets
//!   cargo run --release -p weir-engine --example chain -- request [N]   N processes, 64 in flight
//!   cargo run --release -p weir-engine --example chain -- mpsc [N]      the stream bench's baseline
//!   cargo run --release -p weir-engine --example chain -- oneshot [N]   the request bench's baseline
//! `WORKERS=1` runs it on one tokio worker (default 2), to tell instruction count from cross-core cost.

/// The allocator the `weir` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use weir_engine::testing::{mpsc_pipeline, oneshot_chain, pass_chain, stream_through, Graph};
use weir_engine::{call, Process, Value};

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_else(|| "stream".into());
    let n: u64 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let rt = weir_engine::testing::bench_runtime();
    rt.block_on(async {
        let mut g = Graph::new();
        let head = Arc::new(pass_chain(&mut g, 10));
        let start = std::time::Instant::now();
        if mode == "request" {
            let workers: Vec<_> = (0..64u64)
                .map(|w| {
                    let head = head.clone();
                    tokio::spawn(async move {
                        let mut i = w;
                        while i < n {
                            let p = Process::new();
                            call(&head, &p, 0, Value::Int(i as i64)).await.expect("reply");
                            p.exit(None);
                            i += 64;
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.expect("worker");
            }
        } else if mode == "oneshot" {
            // The request bench's baseline.
            let head = oneshot_chain(10, 64);
            let workers: Vec<_> = (0..64u64)
                .map(|w| {
                    let head = head.clone();
                    tokio::spawn(async move {
                        let mut i = w;
                        while i < n {
                            let (t, r) = tokio::sync::oneshot::channel();
                            head.send((Value::Int(i as i64), t)).await.expect("send");
                            r.await.expect("reply");
                            i += 64;
                        }
                    })
                })
                .collect();
            for w in workers {
                w.await.expect("worker");
            }
        } else if mode == "mpsc" {
            // The stream bench's baseline, fed from a worker as the bench does.
            tokio::spawn(mpsc_pipeline(n, 10, 64)).await.expect("task");
        } else {
            let replies = tokio::spawn(async move { stream_through(&head, n, 64).await.expect("stream") });
            assert_eq!(replies.await.expect("task"), n);
        }
        let el = start.elapsed();
        println!("{mode}: {n} in {el:?}: {:.0}/s", n as f64 / el.as_secs_f64());
    });
}
