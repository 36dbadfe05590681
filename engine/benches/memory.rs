//! Memory stays bounded whatever the producer's rate: a producer writes 5M packets into a consumer that
//! spends 2 µs on each; the resident set size is read at every fifth of the run. Prints them and the
//! ratio of the last to the first, at 1M and at 5M packets (goal: within 10% of each other). Run by
//! `bench/engine.sh`, twice: as the `weir` binary runs (mimalloc backs its arena with transparent
//! huge pages, so RSS moves in 2 MiB steps as pages are touched, whatever is live) and with
//! `MIMALLOC_ALLOW_THP=0` (4 KiB pages: RSS follows what the engine holds).

/// The allocator the `weir` binary uses, for weir and the baselines alike.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_engine::testing::{Graph, Produce};
use weir_engine::{Call, Cx, Input, Node, OutPort, Process, Result};

struct Slow {
    seen: Arc<AtomicU64>,
}

impl Node for Slow {
    type State = ();
    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_micros(2) {
            std::hint::spin_loop();
        }
        self.seen.fetch_add(1, Ordering::Relaxed);
        cx.emit(OutPort::OUT, input.packet.value).await
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn main() {
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // cargo test --benches / --list: nothing to list
    }
    let total: u64 = std::env::var("WEIR_MEMORY_PACKETS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5_000_000);
    let rt = weir_engine::testing::bench_runtime();
    let seen = Arc::new(AtomicU64::new(0));
    let mut g = Graph::new();
    let src = rt.block_on(async {
        g.add("slow", Slow { seen: seen.clone() }, &[]);
        g.add("src", Produce::new(total), &[(OutPort::OUT, "slow", 0)])
    });
    // RSS at every fifth of the run, so a trend (growth with the packets) shows apart from a step.
    let watcher = {
        let seen = seen.clone();
        std::thread::spawn(move || {
            let mut marks = Vec::new();
            loop {
                let n = seen.load(Ordering::Relaxed);
                while marks.len() < 5 && n >= total / 5 * (marks.len() as u64 + 1) {
                    marks.push(rss_kib());
                }
                if marks.len() == 5 {
                    return marks;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let start = Instant::now();
    let reply = rt.block_on(async {
        // Read the reply stream as it comes, keeping nothing: the caller is not what is measured.
        let p = Process::new();
        let mut c = Call::open(&src, &p, 0).expect("open");
        c.send(weir_engine::Value::Null).await.expect("send");
        c.close();
        let mut n = 0u64;
        while let Some(f) = c.frame().await {
            if let weir_engine::Frame::Item(_) | weir_engine::Frame::One(_) = f {
                n += 1;
            }
        }
        p.exit(None);
        n
    });
    let marks = watcher.join().expect("watcher");
    let elapsed = start.elapsed();
    let pages = match std::env::var("MIMALLOC_ALLOW_THP").as_deref() {
        Ok("0") => "4 KiB pages",
        _ => "transparent huge pages allowed",
    };
    println!(
        "memory: {total} packets through a 2 µs consumer in {:.1} s ({reply} replies; {pages})",
        elapsed.as_secs_f64()
    );
    let fifths: Vec<String> = marks.iter().map(|k| k.to_string()).collect();
    println!("memory: rss at each fifth: {} KiB", fifths.join(", "));
    let (first, last) = (marks[0], marks[4]);
    println!(
        "memory: rss at {} packets: {first} KiB; at {total}: {last} KiB; ratio {:.3}",
        total / 5,
        last as f64 / first.max(1) as f64
    );
}
