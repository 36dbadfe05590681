//! The machine's cross-core latency: two threads hand one cache line back and forth, and the mean round
//! trip is printed. On this workplace's VMs it moves between ~60 ns and ~320 ns over time (the two
//! vCPUs sharing a cache or not), and the engine benches' ratios move with it, so `bench/engine.sh`
//! prints it beside them:
//!   cargo run --release -p weir-engine --example pingpong [ROUND_TRIPS]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(2_000_000);
    let flag = Arc::new(AtomicU64::new(0));
    let other = {
        let flag = flag.clone();
        std::thread::spawn(move || {
            for i in 0..n {
                while flag.load(Ordering::Acquire) != 2 * i + 1 {
                    std::hint::spin_loop();
                }
                flag.store(2 * i + 2, Ordering::Release);
            }
        })
    };
    let start = Instant::now();
    for i in 0..n {
        flag.store(2 * i + 1, Ordering::Release);
        while flag.load(Ordering::Acquire) != 2 * i + 2 {
            std::hint::spin_loop();
        }
    }
    let el = start.elapsed();
    other.join().expect("the other thread");
    println!(
        "cross-core round trip: {:.0} ns (mean of {n})",
        el.as_nanos() as f64 / n as f64
    );
}
