//! Items per second through 10 pass-through nodes run as a job with its events on, beside the same
//! chain streamed without a job, in the same run; and the events a job writes per item (issue #7:
//! NodeTool measured ~1,000 items/s and 41 event messages per item through 10 nodes).

/// The allocator the `weir` binary uses.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::HashMap;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use weir_engine::job::{JobEntry, JobStatus, Jobs};
use weir_engine::testing::{pass_chain, stream_through, Graph};
use weir_engine::Value;

const ITEMS: u64 = 100_000;

/// Runs one job of `ITEMS` streamed items; returns the number of events it wrote.
async fn job(jobs: &Jobs, g: &mut Graph) -> u64 {
    let entry = JobEntry {
        node: "n0".into(),
        slot: g.slot("n0"),
        port: 0,
        inputs: Vec::new(),
        open: true,
    };
    let job = jobs.start("bench", vec![entry], HashMap::new());
    for i in 0..ITEMS {
        job.send_input("n0", Value::Int(i as i64)).await.expect("input");
    }
    job.end_input("n0").expect("end");
    assert_eq!(job.wait().await, JobStatus::Completed);
    job.log().last_seq()
}

fn bench(c: &mut Criterion) {
    let rt = weir_engine::testing::bench_runtime();
    let mut g = Graph::new();
    let head = rt.block_on(async { pass_chain(&mut g, 10) });
    let jobs = Jobs::default();

    let events = rt.block_on(job(&jobs, &mut g));
    println!(
        "jobs: {events} events for {ITEMS} items through 10 nodes: {:.3} events per item",
        events as f64 / ITEMS as f64
    );

    let mut group = c.benchmark_group("job_stream");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(ITEMS));
    group.bench_function("job_with_events", |b| b.iter(|| rt.block_on(job(&jobs, &mut g))));
    group.bench_function("plain_stream", |b| {
        b.iter(|| rt.block_on(async { stream_through(&head, ITEMS, 64).await.expect("stream") }))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
