//! Time to first token through weir, against the same token server called directly.
//!
//! `examples/llm-stream.yaml` (listener → router → llm → snippet → listener) is loaded in process
//! through the store, loader and symbol table, with its `llm` pointed at the token server
//! (`weir_extensions::ai::token_server`, real HTTP + SSE on 127.0.0.1). One iteration is one
//! request from a keep-alive HTTP client, timed from the send to the first token's event in the
//! body: `direct` asks the token server itself, `weir` asks the listener for SSE. The difference is
//! what weir adds (issue #5 goal: under 1 ms). Each body is read to its end outside the timing.
//!   cargo bench -p weir-extensions --bench ai

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use futures::StreamExt;
use weir_codecs::resource::{parse_specs, Format};
use weir_extensions::ai::token_server::{Script, TokenServer};
use weir_loader::{Loader, MemoryStore, Store};
use weir_symbols::{HostEnv, Table};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends `req` and returns the time until the body holds `first`; reads the rest untimed.
async fn first_token(req: reqwest::RequestBuilder, first: &str) -> Duration {
    let start = Instant::now();
    let res = req.send().await.expect("response");
    assert!(res.status().is_success(), "status {}", res.status());
    let mut body = res.bytes_stream();
    let mut seen = Vec::new();
    let mut took = None;
    while let Some(chunk) = body.next().await {
        seen.extend_from_slice(&chunk.expect("body"));
        if took.is_none() && String::from_utf8_lossy(&seen).contains(first) {
            took = Some(start.elapsed());
        }
    }
    took.unwrap_or_else(|| panic!("no {first:?} in {:?}", String::from_utf8_lossy(&seen)))
}

fn ttft(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = rt
        .block_on(TokenServer::start(Script::tokens(["Hello", ",", " world", "!"])))
        .unwrap();
    let port = free_port();
    let host = HostEnv::from([
        ("PORT".to_string(), port.to_string()),
        ("LLM_BASE_URL".to_string(), server.base_url()),
    ]);
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/llm-stream.yaml"
    ))
    .unwrap();
    let _loaded = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        store
            .apply_specs(parse_specs(&text, Format::Yaml).unwrap())
            .unwrap();
        let table = Table::new("default", Arc::new(weir_extensions::scheme()), host);
        let table = Arc::new(tokio::sync::Mutex::new(table));
        Loader::new(store.clone(), table.clone()).reload().await.unwrap();
        (store, table)
    });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let direct_url = format!("{}/chat/completions", server.base_url());
    let direct_body = serde_json::json!({
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": true
    })
    .to_string();
    let weir_url = format!("http://127.0.0.1:{port}/chat");
    let weir_body = r#"{"prompt": "hi"}"#;

    let mut g = c.benchmark_group("llm_ttft");
    g.sample_size(200);
    g.bench_function("direct", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (client, url, body) = (client.clone(), direct_url.clone(), direct_body.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let req = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("accept", "text/event-stream")
                        .body(body.clone());
                    total += first_token(req, "\"content\":\"Hello\"").await;
                }
                total
            }
        })
    });
    g.bench_function("weir", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (client, url) = (client.clone(), weir_url.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let req = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("accept", "text/event-stream")
                        .body(weir_body);
                    total += first_token(req, "data: HELLO\n\n").await;
                }
                total
            }
        })
    });
    g.finish();
}

criterion_group!(benches, ttft);
criterion_main!(benches);
