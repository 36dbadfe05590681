//! Store → served answer, on a SQLite store with a 10,000-spec namespace (issue #4's goals):
//!   in_process     a write through the host's own store until GET answers the new text   goal < 20 ms
//!   cross_process  a write from this process to a `weir start` child's file, same         goal < 100 ms
//!   cold_load      loading the whole namespace into a fresh table (compile, link, start)  goal < 1 s
//! The namespace: a listener → one `answer` snippet, and 9,998 other snippets. `bench/store.sh` builds
//! the release binary the cross-process case starts (WEIR_BIN, else target/release/weir).

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use tokio::sync::Mutex;
use weir_codecs::resource::Spec;
use weir_loader::{Loader, SqliteStore, Store};
use weir_symbols::{HostEnv, Table};
use weir_tests::http::get;

/// As in the `weir` binary.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SPECS: usize = 10_000;

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

fn answer(ns: &str, code: &str) -> Spec {
    spec(
        serde_json::json!({"kind": "snippet", "namespace": ns, "name": "answer", "language": "text", "code": code}),
    )
}

/// The listener, the answer, and fillers up to [`SPECS`].
fn namespace(ns: &str) -> Vec<Spec> {
    let mut specs = vec![
        spec(serde_json::json!({
            "kind": "listener", "namespace": ns, "name": "listener", "protocol": "http",
            "host": "127.0.0.1", "port": "{{ .PORT }}",
            "ports": {"out": [{"name": "answer", "port": "in"}]}
        })),
        answer(ns, "v0"),
    ];
    for i in 2..SPECS {
        specs.push(spec(serde_json::json!({
            "kind": "snippet", "namespace": ns, "name": format!("filler-{i}"), "language": "text", "code": format!("f{i}")
        })));
    }
    specs
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Writes the answer `code` and waits until `addr` serves it; the time taken.
fn write_and_wait(store: &dyn Store, ns: &str, addr: std::net::SocketAddr, code: &str) -> Duration {
    let started = Instant::now();
    store.apply_specs(vec![answer(ns, code)]).unwrap();
    let deadline = started + Duration::from_secs(30);
    loop {
        if get(addr, "/").is_ok_and(|r| r.body == code) {
            return started.elapsed();
        }
        assert!(Instant::now() < deadline, "{code} was not served within 30 s");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn table(ns: &str, port: u16) -> Arc<Mutex<Table>> {
    let env = HostEnv::from([("PORT".to_string(), port.to_string())]);
    Arc::new(Mutex::new(Table::new(
        ns,
        Arc::new(weir_extensions::scheme()),
        env,
    )))
}

fn store_with_namespace(dir: &Path, ns: &str) -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.join("weir.db")).unwrap());
    store.apply_specs(namespace(ns)).unwrap();
    store
}

fn in_process_and_cold(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_namespace(dir.path(), "bench");

    let mut group = c.benchmark_group("store");
    group.sample_size(10);
    group.bench_function("cold_load_10k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = table("bench", 0);
                let loader = Loader::new(store.clone(), t.clone()).with_host("bench cold");
                let started = Instant::now();
                rt.block_on(loader.reload()).unwrap();
                total += started.elapsed();
                assert_eq!(rt.block_on(t.lock()).len(), SPECS);
                rt.block_on(async { t.lock().await.shutdown(Duration::from_secs(5)).await });
            }
            total
        })
    });

    let port = free_port();
    let t = table("bench", port);
    let loader = Loader::new(store.clone(), t.clone()).with_host("bench in-process");
    rt.block_on(loader.reload()).unwrap();
    let follow = rt.spawn(loader.run());
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut n = 0u64;
    group.sample_size(30);
    group.bench_function("in_process_write_to_answer_10k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                total += write_and_wait(store.as_ref(), "bench", addr, &format!("in{n}"));
            }
            total
        })
    });
    group.finish();
    follow.abort();
    rt.block_on(async { t.lock().await.shutdown(Duration::from_secs(5)).await });
}

fn weir_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| weir_tests::root().join("target"));
    target.join("release").join("weir")
}

/// A `weir start` child on `db`, running `ns` with the listener on `port`; returns once it listens.
fn host(db: &Path, ns: &str, port: u16) -> Child {
    let bin = weir_bin();
    assert!(
        bin.exists(),
        "{} is missing: cargo build --release -p weir",
        bin.display()
    );
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["start", "-n", ns, "--log-level", "warn", "--env"])
        .arg(format!("PORT={port}"))
        .arg("--store")
        .arg(format!("sqlite://{}", db.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().starts_with(&format!("listening {ns}/listener")) {
            eprintln!(
                "cross_process: `weir start` of the 10k namespace listening after {:.0?}",
                started.elapsed()
            );
            return child;
        }
    }
    let _ = child.kill();
    let status = child.wait();
    panic!("weir start ended before listening: {status:?}");
}

fn cross_process(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_with_namespace(dir.path(), "xbench");
    let port = free_port();
    let mut child = host(&dir.path().join("weir.db"), "xbench", port);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut n = 0u64;
    let mut group = c.benchmark_group("store");
    group.sample_size(30);
    group.bench_function("cross_process_write_to_answer_10k", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                total += write_and_wait(store.as_ref(), "xbench", addr, &format!("x{n}"));
            }
            total
        })
    });
    group.finish();
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
}

criterion_group!(benches, in_process_and_cold, cross_process);
criterion_main!(benches);
