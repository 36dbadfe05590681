//! Streams N packets (first argument, default 100000) through a chain of 10 pass-through nodes in one
//! process; for profiling (`valgrind --tool=callgrind`, `perf`).

/// The allocator the `weir` binary uses, for weir and the baselines alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use weir_engine::template::Pass;
use weir_engine::testing::Graph;
use weir_engine::{Call, OutPort, Process, Value};

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
        for i in (0..10).rev() {
            let next = format!("n{}", i + 1);
            let links: Vec<(OutPort, &str, usize)> = if i < 9 {
                vec![(OutPort::OUT, next.as_str(), 0)]
            } else {
                vec![]
            };
            g.add(&format!("n{i}"), Pass, &links);
        }
        let head = g.slot("n0");
        let task = tokio::spawn(async move {
            let p = Process::new();
            let mut c = Call::open_with(&head, &p, 0, 64).expect("open");
            let start = std::time::Instant::now();
            let mut replies = 0u64;
            for i in 0..n {
                c.send(Value::Int(i as i64)).await.expect("send");
                while let Some(f) = c.try_frame() {
                    replies += u64::from(f.is_last());
                }
            }
            c.close();
            while let Some(f) = c.frame().await {
                replies += u64::from(f.is_last());
            }
            let el = start.elapsed();
            println!(
                "{replies} replies in {el:?}: {:.0} packets/s",
                n as f64 / el.as_secs_f64()
            );
            p.exit(None);
        });
        task.await.expect("task");
    });
}
