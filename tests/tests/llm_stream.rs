//! `examples/llm-stream.yaml` end to end: the real `weir` binary in front of the token server (a
//! real OpenAI-compatible HTTP + SSE server on 127.0.0.1). The client reads the first upper-cased
//! token as an SSE event while the token server still holds the last one back, which proves the
//! answer is streamed through listener → router → llm → snippet → listener, not buffered.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use weir_extensions::ai::token_server::{Script, TokenServer};
use weir_tests::http::{open, Event, Events};
use weir_tests::Weir;

const UP: Duration = Duration::from_secs(60);

fn data(d: &str) -> Option<Event> {
    Some(Event {
        event: None,
        data: d.to_string(),
    })
}

fn start(server: &TokenServer, extra: &[&str]) -> Weir {
    let base = format!("LLM_BASE_URL={}", server.base_url());
    let mut args = vec![
        "start",
        "--store",
        "memory://",
        "--from-specs",
        "examples/llm-stream.yaml",
        "--env",
        "PORT=0",
        "--env",
        &base,
    ];
    args.extend_from_slice(extra);
    Weir::start(&args)
}

fn chat(addr: std::net::SocketAddr, prompt: &str) -> weir_tests::http::Streaming {
    let body = serde_json::json!({ "prompt": prompt }).to_string();
    open(
        addr,
        "POST",
        "/chat",
        &[
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
        ],
        &body,
    )
    .unwrap()
}

#[test]
fn llm_stream_example_streams_upper_cased_tokens_as_sse_before_the_last_is_generated() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["Hello", ",", " streaming", " world"]).gate_last();
    let server = rt.block_on(TokenServer::start(script)).unwrap();
    let mut weir = start(
        &server,
        &["--env", "LLM_API_KEY=sk-e2e", "--env", "LLM_MODEL=tiny"],
    );
    let addr = weir.listening("default/listener", UP);

    let res = chat(addr, "Say hello");
    assert_eq!(res.status, 200);
    let content_type = res
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-type"))
        .map(|(_, v)| v.clone());
    assert_eq!(content_type.as_deref(), Some("text/event-stream"));
    let mut events = Events::new(res);

    // The first token's event arrives while the token server holds the last token at its gate.
    assert_eq!(events.next_event().unwrap(), data("HELLO"));
    assert_eq!(server.sent(), 3, "the last token has not been sent yet");
    assert_eq!(server.completed(), 0);
    server.release();
    assert_eq!(events.next_event().unwrap(), data(","));
    assert_eq!(events.next_event().unwrap(), data(" STREAMING"));
    assert_eq!(events.next_event().unwrap(), data(" WORLD"));
    assert_eq!(
        events.next_event().unwrap(),
        None,
        "the body ends after the last token"
    );
    assert_eq!(server.completed(), 1);

    // What reached the server: the model and key from --env, the prompt from the request body.
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization.as_deref(), Some("Bearer sk-e2e"));
    assert_eq!(
        requests[0].body,
        serde_json::json!({
            "model": "tiny",
            "messages": [{"role": "user", "content": "Say hello"}],
            "stream": true
        })
    );
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}

#[test]
fn llm_stream_example_without_a_key_sends_none_and_reports_a_server_error_as_500() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(TokenServer::start(Script::failing(503, "no capacity")))
        .unwrap();
    let mut weir = start(&server, &[]);
    let addr = weir.listening("default/listener", UP);
    let res = weir_tests::http::request(
        addr,
        "POST",
        "/chat",
        &[("Content-Type", "application/json")],
        r#"{"prompt": "hi"}"#,
    )
    .unwrap();
    assert_eq!(res.status, 500);
    assert!(
        res.body
            .contains("namespace \"default\": spec \"llm\" (kind llm): field \"base_url\": HTTP 503"),
        "{}",
        res.body
    );
    assert!(res.body.contains("no capacity"), "{}", res.body);
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].authorization, None);
    assert_eq!(requests[0].body["model"], "gpt-4o-mini");
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}

#[test]
fn llm_api_key_comes_from_a_value_bound_through_env() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(TokenServer::start(Script::tokens(["ok", "!"])))
        .unwrap();
    let values = weir_tests::temp_file("values.yaml", "- name: openai\n  data: sk-from-a-value\n");
    let specs = weir_tests::temp_file(
        "llm.yaml",
        r#"
- kind: listener
  name: listener
  protocol: http
  host: 127.0.0.1
  port: '{{ .PORT }}'
  ports:
    out:
      - name: llm
        port: in
- kind: llm
  name: llm
  base_url: '{{ .LLM_BASE_URL }}'
  model: m
  env:
    OPENAI_KEY:
      - name: openai
  api_key: '{{ .OPENAI_KEY }}'
"#,
    );
    let base = format!("LLM_BASE_URL={}", server.base_url());
    let mut weir = Weir::start(&[
        "start",
        "--store",
        "memory://",
        "--from-values",
        values.to_str().unwrap(),
        "--from-specs",
        specs.to_str().unwrap(),
        "--env",
        "PORT=0",
        "--env",
        &base,
    ]);
    let addr = weir.listening("default/listener", UP);
    let res = weir_tests::http::request(
        addr,
        "POST",
        "/",
        &[("Content-Type", "application/json")],
        r#"{"prompt": "hi"}"#,
    )
    .unwrap();
    // Two tokens and no SSE asked for: a chunked body of the tokens as they are.
    assert_eq!((res.status, res.body.as_str()), (200, "ok!"));
    let requests = server.requests();
    assert_eq!(
        requests[0].authorization.as_deref(),
        Some("Bearer sk-from-a-value")
    );
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}

#[test]
fn llm_stream_client_going_away_closes_the_connection_to_the_token_server() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let script = Script::tokens(["one", "two", "three"]).gate_last();
    let server = rt.block_on(TokenServer::start(script)).unwrap();
    let mut weir = start(&server, &[]);
    let addr = weir.listening("default/listener", UP);
    let mut events = Events::new(chat(addr, "count"));
    assert_eq!(events.next_event().unwrap(), data("ONE"));
    assert_eq!(server.closed_early(), 0);
    drop(events);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.closed_early() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        server.closed_early(),
        1,
        "weir dropped its request to the token server"
    );
    assert_eq!(server.completed(), 0);
    assert!(weir.stop(), "exit status 0 after SIGTERM");
}
