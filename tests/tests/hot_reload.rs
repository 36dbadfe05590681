//! Hot reload through the library API (until the persistent store lets a second process write):
//! under steady requests, changing the snippet's code in the store changes the answer with no failed
//! request, and an unchanged re-apply runs no unload hook.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use weir_codecs::resource::{parse_specs, Format};
use weir_loader::{Loader, MemoryStore, Store};
use weir_symbols::{Hook, HostEnv, SymbolInfo, Table};
use weir_tests::http::get;

#[derive(Default)]
struct Unloads(AtomicUsize);

impl Hook for Unloads {
    fn unload(&self, _: &SymbolInfo) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn specs(code: &str) -> Vec<weir_codecs::resource::Spec> {
    let text = format!(
        r#"
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: '{{{{ .PORT }}}}'
  ports:
    out:
      - name: answer
        port: in
- kind: snippet
  name: answer
  language: text
  code: {code}
"#
    );
    parse_specs(&text, Format::Yaml).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_snippet_under_steady_requests_fails_no_request() {
    let port = free_port();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    store.apply_specs(specs("one")).unwrap();
    let host = HostEnv::from([("PORT".to_string(), port.to_string())]);
    let mut table = Table::new("default", Arc::new(weir_extensions::scheme()), host);
    let unloads = Arc::new(Unloads::default());
    table.add_hook(unloads.clone());
    let table = Arc::new(tokio::sync::Mutex::new(table));
    let loader = Loader::new(store.clone(), table.clone());
    loader.reload().await.unwrap();
    let running = tokio::spawn(Loader::new(store.clone(), table.clone()).run());

    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let client = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                match get(addr, "/") {
                    Ok(r) => answers.push((r.status, r.body)),
                    Err(e) => answers.push((0, e.to_string())),
                }
            }
            answers
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;

    // An unchanged re-apply restarts nothing.
    store.apply_specs(specs("one")).unwrap();
    let mut same = specs("one");
    for s in &mut same {
        s.id = store
            .specs(Some("default"))
            .unwrap()
            .iter()
            .find(|x| x.name == s.name)
            .and_then(|x| x.id);
    }
    table.lock().await.apply(same, &[], &[]);
    assert_eq!(
        unloads.0.load(Ordering::SeqCst),
        0,
        "no unload hook for an unchanged re-apply"
    );

    store.apply_specs(specs("two")).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = tokio::task::spawn_blocking(move || get(addr, "/"))
            .await
            .unwrap()
            .unwrap();
        if r.body == "two" {
            break;
        }
        assert!(Instant::now() < deadline, "the answer never changed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::SeqCst);
    let answers = client.join().unwrap();
    assert!(answers.len() > 10, "steady requests: {}", answers.len());
    let failed: Vec<_> = answers.iter().filter(|(s, _)| *s != 200).collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    let first_two = answers
        .iter()
        .position(|(_, b)| b == "two")
        .expect("some answers are new");
    assert!(answers[..first_two].iter().all(|(_, b)| b == "one"));
    assert!(
        answers[first_two..].iter().all(|(_, b)| b == "two"),
        "no old answer after the first new one"
    );
    assert_eq!(
        unloads.0.load(Ordering::SeqCst),
        1,
        "exactly the changed snippet restarted"
    );
    running.abort();
    table.lock().await.close();
}
