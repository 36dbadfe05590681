//! Job events over NodeTool's WebSocket protocol, against the real (release) binary (issue #7's
//! figures), printed as percentiles rather than through criterion, since the tails are the point:
//!   ws_command_rtt        `get_status` → its reply: the protocol's own round trip (baseline)
//!   ws_input_to_event     `stream_input` → the `output_update` of the node it fed, at the client:
//!                         command in, the node's emit, the event out (an upper bound of emit → client)
//!   cancel_to_event       `cancel_job` sent during an llm stream → the `cancelled` job_update at the client
//!   cancel_to_close       the same → the token server seeing its connection closed. The token server
//!                         notices a closed client when it next writes, every 20 ms while it holds a
//!                         token back, so this figure includes up to 20 ms of its own cadence.
//! `bench/jobs_ws.sh` builds the release binary (WEIR_BIN, else target/release/weir) and runs this.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use weir_extensions::ai::token_server::{Script, TokenServer};

const SAMPLES: usize = 2_000;
const CANCELS: usize = 40;

const PASS: &str = r#"
- kind: snippet
  namespace: app
  name: pass
  language: cel
  code: self
"#;

fn weir_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("WEIR_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| weir_tests::root().join("target"));
    target.join("release").join("weir")
}

struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let _ = self.0.wait();
    }
}

fn start(server: &TokenServer) -> (Host, SocketAddr) {
    let app = weir_tests::temp_file("bench-app.yaml", PASS);
    let base = format!("LLM_BASE_URL={}", server.base_url());
    let mut child = Command::new(weir_bin())
        .current_dir(weir_tests::root())
        .args([
            "start",
            "--store",
            "memory://",
            "--system-addr",
            "127.0.0.1:0",
            "--log-level",
            "warn",
        ])
        .args([
            "--from-specs",
            "examples/llm-stream.yaml",
            "--from-specs",
            app.to_str().unwrap(),
        ])
        .args(["--env", "PORT=0", "--env", &base])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("weir printed its system address").unwrap();
        if let Some(rest) = line.strip_prefix("listening system/listener ") {
            break rest.trim().parse().unwrap();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    (Host(child), addr)
}

struct Client(WebSocketStream<TcpStream>);

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
            .await
            .unwrap();
        Client(ws)
    }

    async fn send(&mut self, command: &str, data: Json) {
        let msg = json!({"command": command, "data": data});
        self.0.send(Message::text(msg.to_string())).await.unwrap();
    }

    async fn recv(&mut self) -> Json {
        loop {
            if let Message::Text(t) = self.0.next().await.unwrap().unwrap() {
                return serde_json::from_str(t.as_str()).unwrap();
            }
        }
    }

    async fn until(&mut self, stop: impl Fn(&Json) -> bool) {
        while !stop(&self.recv().await) {}
    }
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{name:<20} n={:<5} p50 {:>9.1} us   p99 {:>9.1} us   max {:>9.1} us",
        samples.len(),
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        at(1.0).as_secs_f64() * 1e6
    );
}

async fn latency(addr: SocketAddr) {
    let mut c = Client::connect(addr).await;
    c.send(
        "run_job",
        json!({"workflow_id": "app", "stream_inputs": ["pass"]}),
    )
    .await;
    let reply = c.recv().await;
    let id = reply["job_id"].clone();
    let mut rtt = Vec::with_capacity(SAMPLES);
    let mut to_event = Vec::with_capacity(SAMPLES);
    for i in 0..SAMPLES + 100 {
        let t0 = Instant::now();
        c.send("get_status", json!({"job_id": id})).await;
        c.until(|m| m.get("status").is_some() && m.get("type").is_none())
            .await;
        let took = t0.elapsed();
        let t0 = Instant::now();
        c.send("stream_input", json!({"job_id": id, "input": "pass", "value": i}))
            .await;
        c.until(|m| m["type"] == "output_update" && m["value"] == json!(i))
            .await;
        let event = t0.elapsed();
        if i >= 100 {
            rtt.push(took);
            to_event.push(event);
        }
    }
    c.send("end_input_stream", json!({"job_id": id, "input": "pass"}))
        .await;
    c.until(|m| m["type"] == "job_update" && m["status"] == "completed")
        .await;
    report("ws_command_rtt", rtt);
    report("ws_input_to_event", to_event);
}

async fn cancels(addr: SocketAddr, server: &'static TokenServer) {
    let mut c = Client::connect(addr).await;
    let mut to_event = Vec::new();
    let mut to_close = Vec::new();
    for _ in 0..CANCELS {
        c.send(
            "run_job",
            json!({"workflow_id": "default", "params": {"llm": {"prompt": "go"}}}),
        )
        .await;
        let id = c.recv().await["job_id"].clone();
        c.until(|m| m["type"] == "chunk").await;
        let before = server.closed_early();
        let t0 = Instant::now();
        let close = tokio::task::spawn_blocking(move || {
            while server.closed_early() == before {
                std::thread::sleep(Duration::from_micros(20));
            }
            t0.elapsed()
        });
        c.send("cancel_job", json!({"job_id": id})).await;
        c.until(|m| m["type"] == "job_update" && m["status"] == "cancelled")
            .await;
        to_event.push(t0.elapsed());
        to_close.push(
            tokio::time::timeout(Duration::from_secs(10), close)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    report("cancel_to_event", to_event);
    report("cancel_to_close", to_close);
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["one", "two", "three"]).gate_last();
    let server: &'static TokenServer = Box::leak(Box::new(rt.block_on(TokenServer::start(script)).unwrap()));
    let (_host, addr) = start(server);
    rt.block_on(latency(addr));
    rt.block_on(cancels(addr, server));
}
