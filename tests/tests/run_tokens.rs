//! `weir run` of `examples/llm-stream.yaml`'s llm, in-process and on a host (`--server`), against the
//! token server: the first token is printed while the token server still holds the last one back, so
//! tokens are printed as they arrive, not at the end; a failing job exits non-zero on a remote host too.

#![allow(clippy::unwrap_used)]

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_extensions::ai::token_server::{Script, TokenServer};
use weir_tests::{binary, root, temp_file, Weir, CHAIN};

const WAIT: Duration = Duration::from_secs(30);

/// A running `weir run` whose stdout is gathered as it comes.
struct Running {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(binary())
            .current_dir(root())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 256];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Running { child, out }
    }

    fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + WAIT;
        while !self.out.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} within {WAIT:?}: {}",
                self.out.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn finish(mut self) -> (i32, String) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Lets the reader take the last bytes.
                std::thread::sleep(Duration::from_millis(100));
                return (status.code().unwrap_or(-1), self.out.lock().unwrap().clone());
            }
            assert!(Instant::now() < deadline, "weir run did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Checks the run printed the first token while the server held the last, then lets it finish.
fn tokens_arrive_before_the_end(server: &TokenServer, run: Running) {
    run.wait_for("Hello");
    assert_eq!(server.sent(), 3, "the last token has not been sent yet");
    assert_eq!(server.completed(), 0);
    assert!(!run.out.lock().unwrap().contains(" world"));
    server.release();
    let (code, out) = run.finish();
    assert_eq!(code, 0, "{out}");
    let tokens: String = out
        .lines()
        .take_while(|l| !l.contains("job completed"))
        .filter(|l| !l.starts_with('[') && !l.starts_with("listening "))
        .collect();
    assert_eq!(
        tokens, "Hello, streaming world",
        "tokens inline between events: {out}"
    );
    assert!(out.contains("job completed"), "{out}");
    assert!(out.trim_end().ends_with('}'), "the result last: {out}");
    assert!(out.contains("\"HELLO\"") && out.contains("\" WORLD\""), "{out}");
}

#[test]
fn weir_run_prints_tokens_as_they_arrive() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["Hello", ",", " streaming", " world"]).gate_last();
    let server = rt.block_on(TokenServer::start(script)).unwrap();
    let base = format!("LLM_BASE_URL={}", server.base_url());
    let run = Running::start(&[
        "run",
        "--store",
        "memory://",
        "--from-specs",
        "examples/llm-stream.yaml",
        "--env",
        "PORT=0",
        "--env",
        &base,
        "llm",
        "-i",
        r#"{"prompt": "hi"}"#,
    ]);
    tokens_arrive_before_the_end(&server, run);
}

#[test]
fn weir_run_on_a_server_prints_tokens_as_they_arrive_and_fails_with_the_job() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["Hello", ",", " streaming", " world"]).gate_last();
    let server = rt.block_on(TokenServer::start(script)).unwrap();
    let base = format!("LLM_BASE_URL={}", server.base_url());
    let app = temp_file("app.yaml", &CHAIN.replace("- kind", "- namespace: app\n  kind"));
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "--from-specs",
        "examples/llm-stream.yaml",
        "--from-specs",
        app.to_str().unwrap(),
        "--env",
        "PORT=0",
        "--env",
        &base,
    ]);
    let url = format!("http://{}", weir.listening("system/listener", WAIT));
    let run = Running::start(&["run", "--server", &url, "llm", "-i", r#"{"prompt": "hi"}"#]);
    tokens_arrive_before_the_end(&server, run);

    let (code, out) = Running::start(&["run", "--server", &url, "-n", "app", "double", "-i", "60"]).finish();
    assert_eq!(code, 1, "{out}");
    let last = out.lines().last().unwrap();
    assert!(
        last.contains("job failed") && last.contains("too big: 120"),
        "{out}"
    );

    let (code, out) = Running::start(&[
        "run", "--server", &url, "-n", "app", "double", "-o", "json", "-i", "2",
    ])
    .finish();
    assert_eq!(code, 0, "{out}");
    let events: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>());
    assert_eq!(
        events.last().unwrap()["result"],
        serde_json::json!({"double": {"answer": 4}})
    );
    assert!(weir.stop());
}

#[test]
fn weir_run_on_a_server_names_what_is_wrong() {
    let app = temp_file("app.yaml", &CHAIN.replace("- kind", "- namespace: app\n  kind"));
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "--from-specs",
        app.to_str().unwrap(),
    ]);
    let url = format!("http://{}", weir.listening("system/listener", WAIT));
    let out = Command::new(binary())
        .current_dir(root())
        .args(["run", "--server", &url, "-n", "app", "nosuch"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "the job did not start: HTTP 404: namespace \"app\": field \"node\": no spec named \"nosuch\""
        ),
        "{err}"
    );
    assert!(weir.stop());
}
