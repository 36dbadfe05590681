//! One round trip per `io` kind: a process is started, one packet goes through the node and its reply
//! comes back, and the process ends (for `sql`, that is the commit). The caller runs on a worker of a
//! 2-thread runtime, as a listener's request task does.
//!
//! - `print`: append a line to a temp file;
//! - `scan`: open a small file named by the payload and scan `%d %s` from it;
//! - `file_read` / `file_write`: read or replace a small file under a root;
//! - `sql_sqlite_select` / `sql_sqlite_insert`: `SELECT ?` and an `INSERT` with a parameter on an
//!   SQLite file, each process its own transaction;
//! - `sql_postgres_select`: `SELECT $1` on PostgreSQL, when `WEIR_TEST_POSTGRES_URL` is set.
//!
//! Run: `cargo bench -p weir-extensions --bench io` (with PostgreSQL:
//! `bash scripts/postgres.sh -- cargo bench -p weir-extensions --bench io`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value as Json};
use weir_codecs::codec::CompileContext;
use weir_engine::testing::Graph;
use weir_engine::{call, NodeRuntime, NodeSlot, Process, Value};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn node(g: &mut Graph, kind: &str, fields: Json) -> Arc<NodeSlot> {
    let scheme = weir_extensions::scheme();
    let cx = CompileContext::new("default", kind);
    let compiled = scheme
        .get(kind)
        .expect("registered")
        .compile(&fields, &cx)
        .unwrap_or_else(|e| panic!("{kind} compiles: {e:?}"));
    let slot = g.slot(kind);
    slot.install(NodeRuntime::from_boxed(kind, compiled));
    slot
}

/// Benchmarks one round trip through `slot` with the payload `input(i)`.
fn round_trip(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    slot: &Arc<NodeSlot>,
    input: impl Fn(u64) -> Json + Send + Sync + Clone + 'static,
) {
    c.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let slot = slot.clone();
            let input = input.clone();
            rt.block_on(async move {
                tokio::spawn(async move {
                    let start = Instant::now();
                    for i in 0..iters {
                        let p = Process::new();
                        let out = call(&slot, &p, 0, Value::from(input(i))).await;
                        p.exit(out.as_ref().err().cloned());
                        out.expect("a reply");
                    }
                    start.elapsed()
                })
                .await
                .expect("caller")
            })
        })
    });
}

fn io(c: &mut Criterion) {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("a temp dir");
    let root = dir.path().to_string_lossy().into_owned();
    let mut g = Graph::new();

    let printed = dir.path().join("printed.txt").to_string_lossy().into_owned();
    let print = node(&mut g, "print", json!({"filename": printed}));
    round_trip(c, &rt, "print", &print, |_| json!("a line\n"));

    let scanned = dir.path().join("scan.txt");
    std::fs::write(&scanned, "42 answer\n").expect("write");
    let scanned = scanned.to_string_lossy().into_owned();
    let scan = node(&mut g, "scan", json!({}));
    round_trip(c, &rt, "scan", &scan, move |_| json!([scanned, "%d %s"]));

    std::fs::write(dir.path().join("read.txt"), "hello, file\n").expect("write");
    let file_read = node(&mut g, "file", json!({"root": root, "path": "read.txt"}));
    round_trip(c, &rt, "file_read", &file_read, |_| json!(null));
    let file_write = node(
        &mut g,
        "file",
        json!({"root": root, "path": "write.txt", "mode": "write"}),
    );
    round_trip(c, &rt, "file_write", &file_write, |_| json!("hello, file\n"));

    let db = dir.path().join("bench.db").to_string_lossy().into_owned();
    let sqlite = node(&mut g, "sql", json!({"driver": "sqlite3", "source": db}));
    let create = rt.block_on(async {
        let p = Process::new();
        let out = call(&sqlite, &p, 0, Value::from(json!("CREATE TABLE t (n INTEGER)"))).await;
        p.exit(None);
        out
    });
    create.expect("create table");
    round_trip(c, &rt, "sql_sqlite_select", &sqlite, |i| {
        json!(["SELECT ? AS n", [i]])
    });
    round_trip(c, &rt, "sql_sqlite_insert", &sqlite, |i| {
        json!(["INSERT INTO t (n) VALUES (?)", [i]])
    });

    if let Ok(url) = std::env::var("WEIR_TEST_POSTGRES_URL") {
        let pg = node(&mut g, "sql", json!({"driver": "postgres", "source": url}));
        round_trip(c, &rt, "sql_postgres_select", &pg, |i| {
            json!(["SELECT $1::int8 AS n", [i]])
        });
    } else {
        eprintln!("note: WEIR_TEST_POSTGRES_URL is unset; sql_postgres_select is not measured");
    }
    drop(g);
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = io
}
criterion_main!(benches);
