//! Streams N packets (first argument, default 100000) through a chain of 10 pass-through nodes in one
//! process; for profiling (`valgrind --tool=callgrind`, `perf`).

/// The allocator the `weir` binary uses, for weir and the baselines alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use weir_engine::testing::{pass_chain, stream_through, Graph};

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
        let head = pass_chain(&mut g, 10);
        let task = tokio::spawn(async move {
            let start = std::time::Instant::now();
            let replies = stream_through(&head, n, 64).await.expect("stream");
            let el = start.elapsed();
            println!(
                "{replies} replies in {el:?}: {:.0} packets/s",
                n as f64 / el.as_secs_f64()
            );
        });
        task.await.expect("task");
    });
}
