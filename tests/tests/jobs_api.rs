//! The job API of the `system` namespace end to end: the real binary, a job started over HTTP, its
//! events read as SSE and as NDJSON, reconnecting after a sequence number, cancel, errors.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{json, Value as Json};
use weir_tests::http::{open, request, Events};
use weir_tests::{temp_file, Weir, CHAIN};

const UP: Duration = Duration::from_secs(60);

/// A slow snippet beside [`CHAIN`], to cancel.
const SLOW: &str = r#"
- kind: snippet
  name: slow
  language: javascript
  timeout: 60s
  code: |
    export default function () {
      const end = Date.now() + 30000;
      while (Date.now() < end) {}
      return "late";
    }
"#;

fn start() -> (Weir, SocketAddr) {
    let specs = temp_file("app.yaml", &format!("{CHAIN}{SLOW}"));
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "-n",
        "app",
        "--from-specs",
        specs.to_str().unwrap(),
    ]);
    let addr = weir.listening("system/listener", UP);
    (weir, addr)
}

fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let r = request(addr, method, path, &[("Content-Type", "application/json")], &body).unwrap();
    let parsed = serde_json::from_str(&r.body).unwrap_or(Json::String(r.body.clone()));
    (r.status, parsed)
}

/// Every event of a job as SSE, after `after`.
fn sse(addr: SocketAddr, id: &str, after: u64) -> Vec<Json> {
    let body = open(
        addr,
        "GET",
        &format!("/v1/jobs/{id}/events?after={after}"),
        &[("Accept", "text/event-stream")],
        "",
    )
    .unwrap();
    assert_eq!(body.status, 200);
    let mut events = Events::new(body);
    let mut out = Vec::new();
    while let Some(e) = events.next_event().unwrap() {
        out.push(serde_json::from_str(&e.data).unwrap());
    }
    out
}

#[test]
fn a_job_started_over_http_streams_its_events_and_ends_completed() {
    let (_weir, sys) = start();
    let (status, created) = call(
        sys,
        "POST",
        "/v1/namespaces/app/jobs",
        Some(json!({"node": "double", "input": 21})),
    );
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let events = sse(sys, &id, 0);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=events.len() as u64).collect::<Vec<_>>(), "{events:?}");
    let last = events.last().unwrap();
    assert_eq!(
        (last["type"].as_str(), last["status"].as_str()),
        (Some("job_update"), Some("completed"))
    );
    assert_eq!(last["result"], json!({"double": {"answer": 42}}));
    assert!(events.iter().any(|e| e["type"] == "output_update"
        && e["node_name"] == "label"
        && e["value"] == json!({"answer": 42})));
    assert!(events
        .iter()
        .any(|e| e["type"] == "node_update" && e["node_name"] == "double" && e["node_type"] == "snippet"));

    // Reconnecting after a sequence number gives exactly what followed it.
    let rest = sse(sys, &id, 3);
    assert_eq!(rest, events[3..].to_vec());

    // NDJSON when the client does not ask for SSE.
    let r = request(sys, "GET", &format!("/v1/jobs/{id}/events"), &[], "").unwrap();
    assert_eq!(r.status, 200);
    let lines: Vec<Json> = r.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, events);

    let (status, job) = call(sys, "GET", &format!("/v1/jobs/{id}"), None);
    assert_eq!((status, job["status"].as_str()), (200, Some("completed")));
    let (status, jobs) = call(sys, "GET", "/v1/jobs", None);
    assert_eq!(status, 200);
    assert!(jobs.as_array().unwrap().iter().any(|j| j["id"] == id.as_str()));
}

#[test]
fn a_failing_job_ends_failed_and_a_cancelled_one_cancelled() {
    let (_weir, sys) = start();
    let (_, created) = call(
        sys,
        "POST",
        "/v1/namespaces/app/jobs",
        Some(json!({"node": "double", "input": 60})),
    );
    let id = created["id"].as_str().unwrap().to_string();
    let last = sse(sys, &id, 0).pop().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(last["error"].as_str().unwrap().contains("too big: 120"), "{last}");

    let (_, created) = call(
        sys,
        "POST",
        "/v1/namespaces/app/jobs",
        Some(json!({"node": "slow"})),
    );
    let id = created["id"].as_str().unwrap().to_string();
    let (status, job) = call(sys, "DELETE", &format!("/v1/jobs/{id}"), None);
    assert_eq!(status, 200, "{job}");
    let last = sse(sys, &id, 0).pop().unwrap();
    assert_eq!(last["status"], "cancelled", "{last}");
}

#[test]
fn bad_job_requests_are_named() {
    let (_weir, sys) = start();
    let (status, body) = call(
        sys,
        "POST",
        "/v1/namespaces/app/jobs",
        Some(json!({"node": "nosuch"})),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no spec named \"nosuch\""),
        "{body}"
    );
    let (status, body) = call(
        sys,
        "POST",
        "/v1/namespaces/ghost/jobs",
        Some(json!({"node": "x"})),
    );
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("namespace \"ghost\""),
        "{body}"
    );
    let (status, body) = call(sys, "POST", "/v1/namespaces/app/jobs", Some(json!({"input": 1})));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("field \"node\""),
        "{body}"
    );
    let unknown = "01a2010d-2227-73cd-bc6f-5b30e7b74633";
    let (status, _) = call(sys, "GET", &format!("/v1/jobs/{unknown}"), None);
    assert_eq!(status, 404);
    let (status, _) = call(sys, "GET", "/v1/jobs/not-an-id/events", None);
    assert_eq!(status, 400);
}
