//! Runs N (first argument, default 100000) independent request/reply processes, 64 in flight, through a
//! chain of 10 pass-through nodes; for profiling.

/// The allocator the `weir` binary uses, for weir and the baselines alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::Arc;

use weir_engine::testing::{pass_chain, Graph};
use weir_engine::{call, Process, Value};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let mut g = Graph::new();
        let head = Arc::new(pass_chain(&mut g, 10));
        let start = std::time::Instant::now();
        let mut workers = Vec::new();
        for w in 0..64u64 {
            let head = head.clone();
            workers.push(tokio::spawn(async move {
                let mut i = w;
                while i < n {
                    let p = Process::new();
                    call(&head, &p, 0, Value::Int(i as i64)).await.expect("reply");
                    p.exit(None);
                    i += 64;
                }
            }));
        }
        for w in workers {
            w.await.expect("worker");
        }
        let el = start.elapsed();
        println!(
            "{n} processes in {el:?}: {:.0} processes/s",
            n as f64 / el.as_secs_f64()
        );
    });
}
