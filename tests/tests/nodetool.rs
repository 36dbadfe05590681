//! NodeTool's interfaces to jobs end to end, with the real binary: `POST /api/workflows/{id}/run`
//! (outputs, or NDJSON events with `?stream=true`) and the WebSocket command protocol at `/ws` (JSON
//! and MessagePack clients, dropping and reconnecting with `last_seq`, cancelling an llm stream,
//! feeding a job's input stream), plus a failing node in a chain with bounded inboxes.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value as Json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use weir_extensions::ai::token_server::{Script, TokenServer};
use weir_tests::http::request;
use weir_tests::{eventually, temp_file, Weir, CHAIN};

const UP: Duration = Duration::from_secs(60);
/// Only a guard against hangs.
const WAIT: Duration = Duration::from_secs(20);

/// A 3-node chain with bounded inboxes whose last node fails on the third item.
const BOUNDED: &str = r#"
- kind: for
  name: each
  ports:
    out[0]:
      - name: inc
        port: in
- kind: snippet
  name: inc
  language: cel
  code: self + 1
  buffer: 1
  ports:
    out:
      - name: check
        port: in
- kind: snippet
  name: check
  language: javascript
  buffer: 1
  code: |
    export default function (n) {
      if (n > 3) throw new Error("too many: " + n);
      return n;
    }
"#;

/// A snippet that echoes what it is given, for streamed input.
const ECHO: &str = r#"
- kind: snippet
  name: echo
  language: cel
  code: '"got " + string(self)'
"#;

/// `weir start` with the llm example (against `server`) in `default` and the chains in `app`.
fn start(server: &TokenServer) -> (Weir, SocketAddr) {
    let app = temp_file(
        "app.yaml",
        &format!("{CHAIN}{BOUNDED}{ECHO}").replace("- kind", "- namespace: app\n  kind"),
    );
    let base = format!("LLM_BASE_URL={}", server.base_url());
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
    let addr = weir.listening("system/listener", UP);
    (weir, addr)
}

struct Client {
    ws: WebSocketStream<TcpStream>,
    binary: bool,
}

impl Client {
    async fn connect(addr: SocketAddr, binary: bool) -> Client {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let (ws, res) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), tcp)
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 101);
        Client { ws, binary }
    }

    async fn send(&mut self, command: &str, data: Json) {
        let msg = json!({"command": command, "data": data});
        let frame = if self.binary {
            Message::binary(rmp_serde::to_vec_named(&msg).unwrap())
        } else {
            Message::text(msg.to_string())
        };
        self.ws.send(frame).await.unwrap();
    }

    /// The next message; its frame must be in the client's format.
    async fn recv(&mut self) -> Json {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message within the deadline")
                .expect("the connection is open")
                .unwrap();
            match msg {
                Message::Text(t) => {
                    assert!(!self.binary, "a text frame to a MessagePack client: {t}");
                    return serde_json::from_str(t.as_str()).unwrap();
                }
                Message::Binary(b) => {
                    assert!(self.binary, "a binary frame to a JSON client");
                    return rmp_serde::from_slice(&b).unwrap();
                }
                _ => continue,
            }
        }
    }

    /// Sends a command and returns its reply.
    async fn call(&mut self, command: &str, data: Json) -> Json {
        self.send(command, data).await;
        self.recv().await
    }

    /// Events until (and with) the first that `stop` accepts.
    async fn until(&mut self, stop: impl Fn(&Json) -> bool) -> Vec<Json> {
        let mut out = Vec::new();
        loop {
            let e = self.recv().await;
            let done = stop(&e);
            out.push(e);
            if done {
                return out;
            }
        }
    }
}

fn is_final(e: &Json) -> bool {
    e["type"] == "job_update" && matches!(e["status"].as_str(), Some("completed" | "failed" | "cancelled"))
}

fn seqs(events: &[Json]) -> Vec<u64> {
    events.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// Every event of a job over HTTP (NDJSON), for comparison.
fn all_events(addr: SocketAddr, id: &str) -> Vec<Json> {
    let r = request(addr, "GET", &format!("/v1/jobs/{id}/events"), &[], "").unwrap();
    assert_eq!(r.status, 200);
    r.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn job_status(addr: SocketAddr, id: &str) -> String {
    let r = request(addr, "GET", &format!("/v1/jobs/{id}"), &[], "").unwrap();
    let j: Json = serde_json::from_str(&r.body).unwrap();
    j["status"].as_str().unwrap().to_string()
}

fn wait_for(what: &str, cond: impl Fn() -> bool) {
    eventually(what, WAIT, || cond().then_some(()));
}

fn run_llm() -> Json {
    json!({"workflow_id": "default", "params": {"llm": {"prompt": "hi"}}})
}

#[test]
fn http_run_answers_outputs_or_streams_ndjson_and_a_failure_is_500() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TokenServer::start(Script::tokens(["x"]))).unwrap();
    let (weir, sys) = start(&server);
    let r = request(
        sys,
        "POST",
        "/api/workflows/app/run",
        &[("Content-Type", "application/json")],
        r#"{"params": {"double": 21}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        serde_json::from_str::<Json>(&r.body).unwrap(),
        json!({"label": {"answer": 42}})
    );

    let r = request(
        sys,
        "POST",
        "/api/workflows/app/run?stream=true",
        &[("Content-Type", "application/json")],
        r#"{"params": {"double": 2}}"#,
    )
    .unwrap();
    assert_eq!(
        (r.status, r.header("content-type")),
        (200, Some("application/x-ndjson"))
    );
    let events: Vec<Json> = r.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(seqs(&events), (1..=events.len() as u64).collect::<Vec<_>>());
    assert!(events.iter().any(|e| e["type"] == "output_update"
        && e["node_name"] == "label"
        && e["value"] == json!({"answer": 4})));
    let last = events.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["status"].as_str()),
        (Some("job_update"), Some("completed"))
    );

    let r = request(
        sys,
        "POST",
        "/api/workflows/app/run",
        &[("Content-Type", "application/json")],
        r#"{"params": {"double": 60}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 500, "{}", r.body);
    assert!(
        r.body.contains("failed") && r.body.contains("too big: 120"),
        "{}",
        r.body
    );

    let r = request(
        sys,
        "POST",
        "/api/workflows/app/run",
        &[("Content-Type", "application/json")],
        r#"{"params": {"nosuch": 1}}"#,
    )
    .unwrap();
    assert_eq!(r.status, 404, "{}", r.body);
    assert!(
        r.body
            .contains(r#"namespace \"app\": field \"node\": no spec named \"nosuch\""#),
        "{}",
        r.body
    );
    assert!(weir.stop());
}

#[test]
fn a_failing_node_in_a_bounded_chain_ends_the_job_failed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TokenServer::start(Script::tokens(["x"]))).unwrap();
    let (weir, sys) = start(&server);
    let items: Vec<u32> = (1..=50).collect();
    rt.block_on(async {
        let mut c = Client::connect(sys, false).await;
        let reply = c
            .call(
                "run_job",
                json!({"workflow_id": "app", "params": {"each": items}}),
            )
            .await;
        assert_eq!(reply["message"], "Job started", "{reply}");
        let events = c.until(is_final).await;
        let last = events.last().unwrap();
        assert_eq!(last["status"], "failed", "{last}");
        assert!(last["error"].as_str().unwrap().contains("too many: 4"), "{last}");
        assert!(events
            .iter()
            .any(|e| e["type"] == "node_update" && e["node_name"] == "check" && e["status"] == "error"));
        let status = c.call("get_status", json!({"job_id": reply["job_id"]})).await;
        assert_eq!(status["status"], "failed");
    });
    assert!(weir.stop());
}

#[test]
fn ws_reconnect_with_last_seq_gets_every_missed_event_exactly_once_and_a_drop_does_not_cancel() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["Hello", ",", " streaming", " world"]).gate_last();
    let server = rt.block_on(TokenServer::start(script)).unwrap();
    let (weir, sys) = start(&server);
    let (id, seen) = rt.block_on(async {
        let mut c = Client::connect(sys, false).await;
        let reply = c.call("run_job", run_llm()).await;
        assert_eq!(
            (reply["message"].as_str(), reply["workflow_id"].as_str()),
            (Some("Job started"), Some("default"))
        );
        let id = reply["job_id"].as_str().unwrap().to_string();
        let seen = c.until(|e| e["type"] == "chunk").await;
        (id, seen)
        // The connection is dropped here, mid-job: the last token is still held.
    });
    assert_eq!(server.completed(), 0);
    server.release();
    wait_for("completed job", || job_status(sys, &id) == "completed");
    assert_eq!(server.closed_early(), 0, "the drop did not cancel the job");

    let last_seq = seen.last().unwrap()["seq"].as_u64().unwrap();
    let rest = rt.block_on(async {
        let mut c = Client::connect(sys, false).await;
        let reply = c
            .call("reconnect_job", json!({"job_id": id, "last_seq": last_seq}))
            .await;
        assert_eq!(reply["job_id"], id.as_str(), "{reply}");
        c.until(is_final).await
    });
    let all = all_events(sys, &id);
    let mut joined = seen.clone();
    joined.extend(rest.iter().cloned());
    assert_eq!(
        seqs(&joined),
        (1..=all.len() as u64).collect::<Vec<_>>(),
        "each event once, in order"
    );
    assert_eq!(joined, all);
    let tokens: Vec<&str> = rest
        .iter()
        .filter(|e| e["type"] == "chunk")
        .map(|e| e["content"].as_str().unwrap())
        .collect();
    assert!(
        tokens.contains(&" world"),
        "the missed tokens came with the replay: {tokens:?}"
    );
    assert!(weir.stop());
}

#[test]
fn ws_cancel_during_an_llm_stream_closes_the_token_server_connection() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["one", "two", "three"]).gate_last();
    let server = rt.block_on(TokenServer::start(script)).unwrap();
    let (weir, sys) = start(&server);
    rt.block_on(async {
        let mut c = Client::connect(sys, false).await;
        let reply = c.call("run_job", run_llm()).await;
        let id = reply["job_id"].clone();
        c.until(|e| e["type"] == "chunk").await;
        assert_eq!(server.closed_early(), 0);
        // The job's events go on while the command is answered: the final one may come before
        // the reply or after it, so keep every event on the way to either.
        let mut reply = c.call("cancel_job", json!({"job_id": id})).await;
        let mut events = Vec::new();
        while reply.get("message").is_none() {
            events.push(reply);
            reply = c.recv().await;
        }
        assert_eq!(reply["message"], "Job cancellation requested", "{reply}");
        if !events.iter().any(is_final) {
            events.extend(c.until(is_final).await);
        }
        let last = events.iter().find(|e| is_final(e)).unwrap();
        assert_eq!(last["status"], "cancelled", "{last}");
        let again = c.call("cancel_job", json!({"job_id": id})).await;
        assert!(
            again["error"].as_str().unwrap().contains("already cancelled"),
            "{again}"
        );
    });
    wait_for("closed connection at the token server", || {
        server.closed_early() == 1
    });
    assert_eq!(server.completed(), 0);
    assert!(weir.stop());
}

#[test]
fn msgpack_and_json_clients_see_the_same_events() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["a", "b", "c"]).gate_last();
    let server = rt.block_on(TokenServer::start(script)).unwrap();
    let (weir, sys) = start(&server);
    rt.block_on(async {
        let mut json_client = Client::connect(sys, false).await;
        let reply = json_client.call("run_job", run_llm()).await;
        let id = reply["job_id"].clone();
        let mut first = json_client.until(|e| e["type"] == "chunk").await;

        // The MessagePack client joins mid-job: replay, then live.
        let mut mp = Client::connect(sys, true).await;
        let reply = mp.call("reconnect_job", json!({"job_id": id})).await;
        assert_eq!(reply["job_id"], id);
        let mut from_mp = mp.until(|e| e["type"] == "chunk").await;
        server.release();
        first.extend(json_client.until(is_final).await);
        from_mp.extend(mp.until(is_final).await);
        assert_eq!(from_mp, first);
        assert_eq!(first.last().unwrap()["status"], "completed");

        // A client follows its own format, and set_mode fixes one.
        let status = mp.call("get_status", json!({"job_id": id})).await;
        assert_eq!(status["status"], "completed");
        // Its reply already comes in the mode set, and so does everything after, whatever the frames.
        mp.send("set_mode", json!({"mode": "text"})).await;
        mp.binary = false;
        assert_eq!(mp.recv().await["message"], "Mode set to text");
        let msg = json!({"command": "no_such", "data": {}});
        mp.ws
            .send(Message::binary(rmp_serde::to_vec_named(&msg).unwrap()))
            .await
            .unwrap();
        let unknown = mp.recv().await;
        assert!(
            unknown["error"]
                .as_str()
                .unwrap()
                .contains("unknown command \"no_such\""),
            "{unknown}"
        );
    });
    assert!(weir.stop());
}

#[test]
fn ws_stream_input_feeds_a_running_job_until_end_input_stream() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt.block_on(TokenServer::start(Script::tokens(["x"]))).unwrap();
    let (weir, sys) = start(&server);
    rt.block_on(async {
        let mut c = Client::connect(sys, false).await;
        let reply = c
            .call(
                "run_job",
                json!({"workflow_id": "app", "stream_inputs": ["echo"]}),
            )
            .await;
        let id = reply["job_id"].clone();
        for v in [1, 2] {
            let mut r = c
                .call("stream_input", json!({"job_id": id, "input": "echo", "value": v}))
                .await;
            while r.get("message").is_none() && r.get("error").is_none() {
                r = c.recv().await;
            }
            assert_eq!(r["message"], "Input item streamed", "{r}");
        }
        c.send("end_input_stream", json!({"job_id": id, "input": "echo"}))
            .await;
        let events = c.until(is_final).await;
        let last = events.last().unwrap();
        assert_eq!(last["status"], "completed", "{last}");
        assert_eq!(last["result"], json!({"echo": ["got 1", "got 2"]}));
        let r = c
            .call("stream_input", json!({"job_id": id, "input": "echo", "value": 3}))
            .await;
        assert!(r["error"].as_str().unwrap().contains("it has ended"), "{r}");
    });
    assert!(weir.stop());
}
