//! Packet-level tests of `llm` against the token server (`token_server.rs`, real HTTP and SSE on
//! 127.0.0.1): specs compiled through the scheme, loaded into a graph slot and driven with
//! `weir_engine::call` / `Call`.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::{eventually, Graph};
use weir_engine::{BoxedNode, Call, ErrorKind, Frame, NodeRuntime, NodeSlot, Process, Result, Value};

use crate::ai::token_server::{Script, Step, TokenServer};

const WAIT: Duration = Duration::from_secs(10);

fn compile(fields: Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let mut scheme = Scheme::new();
    crate::ai::register(&mut scheme);
    let codec = scheme.get("llm").expect("llm is registered");
    codec.compile(&fields, &CompileContext::new("test", "chat"))
}

fn fields(server: &TokenServer, extra: Json) -> Json {
    let mut f = json!({"base_url": server.base_url(), "model": "test-model"});
    if let (Some(f), Some(e)) = (f.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    f
}

fn load(g: &mut Graph, fields: Json) -> Arc<NodeSlot> {
    let node = compile(fields).expect("compiles");
    let slot = g.slot("chat");
    slot.install(NodeRuntime::from_boxed("chat", node));
    slot
}

async fn ask(server: &TokenServer, extra: Json, payload: Json) -> Result<Vec<Value>> {
    let mut g = Graph::new();
    let slot = load(&mut g, fields(server, extra));
    let p = Process::new();
    let out = tokio::time::timeout(WAIT, weir_engine::call(&slot, &p, 0, Value::from(payload)))
        .await
        .expect("a reply in time");
    p.exit(None);
    out
}

fn strings(values: &[&str]) -> Vec<Value> {
    values.iter().map(|s| Value::from(*s)).collect()
}

fn issue(fields: Json) -> FieldIssue {
    match compile(fields) {
        Ok(_) => panic!("compiled"),
        Err(mut issues) => issues.remove(0),
    }
}

#[tokio::test]
async fn llm_emits_each_token_in_order_then_ends() {
    let server =
        TokenServer::start(Script::tokens(["Hel", "lo", ",", " world"]).delay(Duration::from_millis(5)))
            .await
            .unwrap();
    let out = ask(
        &server,
        json!({"api_key": "sk-test", "system": "be brief", "temperature": 0.5, "max_tokens": 16}),
        json!("say hello"),
    )
    .await;
    assert_eq!(out, Ok(strings(&["Hel", "lo", ",", " world"])));
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let r = &requests[0];
    assert_eq!(r.path, "/v1/chat/completions");
    assert_eq!(r.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(r.accept.as_deref(), Some("text/event-stream"));
    assert_eq!(
        r.body,
        json!({
            "model": "test-model",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": "say hello"}
            ],
            "stream": true,
            "temperature": 0.5,
            "max_tokens": 16
        })
    );
    assert_eq!(server.completed(), 1);
}

#[tokio::test]
async fn llm_takes_messages_or_an_http_body_and_sends_no_key_when_none() {
    let server = TokenServer::start(Script::tokens(["ok"])).await.unwrap();
    let messages = json!([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]);
    assert_eq!(
        ask(&server, json!({}), json!({"messages": messages})).await,
        Ok(strings(&["ok"]))
    );
    assert_eq!(
        ask(
            &server,
            json!({}),
            json!({"method": "POST", "body": {"prompt": "hi"}})
        )
        .await,
        Ok(strings(&["ok"]))
    );
    let requests = server.requests();
    assert_eq!(requests[0].body["messages"], messages);
    assert_eq!(
        requests[1].body["messages"],
        json!([{"role": "user", "content": "hi"}])
    );
    assert!(requests.iter().all(|r| r.authorization.is_none()));
}

#[tokio::test]
async fn llm_tokens_go_downstream_before_the_server_has_sent_the_last() {
    let server = TokenServer::start(Script::tokens(["a", "b", "c", "d"]).gate_last())
        .await
        .unwrap();
    let mut g = Graph::new();
    let slot = load(&mut g, fields(&server, json!({})));
    let p = Process::new();
    let mut call = Call::open(&slot, &p, 0).unwrap();
    call.send(Value::from("go")).await.unwrap();
    call.close();
    let first = tokio::time::timeout(WAIT, call.frame()).await.expect("in time");
    assert!(
        matches!(first, Some(Frame::Item(ref v)) if v == &Value::from("a")),
        "{first:?}"
    );
    assert_eq!(
        server.sent(),
        3,
        "the last token is still held back by the server"
    );
    server.release();
    let mut rest = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, call.frame()).await.expect("in time") {
            Some(Frame::Item(v)) => rest.push(v),
            Some(Frame::One(v)) => {
                rest.push(v);
                break;
            }
            Some(Frame::End) | None => break,
            Some(Frame::Err(e)) => panic!("{e}"),
        }
    }
    assert_eq!(rest, strings(&["b", "c", "d"]));
    p.exit(None);
}

#[tokio::test]
async fn llm_http_500_is_an_error_naming_namespace_spec_and_field() {
    let server = TokenServer::start(Script::failing(500, "the model is overloaded"))
        .await
        .unwrap();
    let err = ask(&server, json!({}), json!("hi")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    let msg = err.message();
    assert!(
        msg.starts_with("namespace \"test\": spec \"chat\" (kind llm): field \"base_url\": HTTP 500"),
        "{msg}"
    );
    assert!(msg.contains("the model is overloaded"), "{msg}");
}

#[tokio::test]
async fn llm_401_names_the_api_key_and_never_shows_it() {
    let server = TokenServer::start(Script::failing(401, "invalid key"))
        .await
        .unwrap();
    let err = ask(&server, json!({"api_key": "sk-secret"}), json!("hi"))
        .await
        .unwrap_err();
    assert!(err.message().contains("field \"api_key\": HTTP 401"), "{err}");
    assert!(!err.message().contains("sk-secret"), "{err}");
}

#[tokio::test]
async fn llm_404_names_the_model_when_the_server_says_so_else_the_url() {
    let server = TokenServer::start(Script::failing(404, "The model `nope` does not exist"))
        .await
        .unwrap();
    let err = ask(&server, json!({}), json!("hi")).await.unwrap_err();
    assert!(err.message().contains("field \"model\": HTTP 404"), "{err}");
    let server = TokenServer::start(Script::tokens(["a"])).await.unwrap();
    let wrong = format!("http://{}/v2/oops", server.addr());
    let err = ask(&server, json!({"base_url": wrong}), json!("hi"))
        .await
        .unwrap_err();
    assert!(err.message().contains("field \"base_url\": HTTP 404"), "{err}");
}

#[tokio::test]
async fn llm_malformed_and_error_events_and_a_cut_stream_are_errors() {
    let malformed = TokenServer::start(Script::steps(vec![
        Step::Token("a".into()),
        Step::Raw("{oops".into()),
    ]))
    .await
    .unwrap();
    let err = ask(&malformed, json!({}), json!("hi")).await.unwrap_err();
    assert!(
        err.message()
            .starts_with("namespace \"test\": spec \"chat\" (kind llm): field \"base_url\": malformed event"),
        "{err}"
    );
    assert!(err.message().contains("{oops"), "{err}");

    let reported = TokenServer::start(Script::steps(vec![Step::Raw(
        json!({"error": {"message": "context length exceeded"}}).to_string(),
    )]))
    .await
    .unwrap();
    let err = ask(&reported, json!({}), json!("hi")).await.unwrap_err();
    assert!(
        err.message()
            .contains("the server reported an error: context length exceeded"),
        "{err}"
    );

    let cut = TokenServer::start(Script::steps(vec![Step::Token("a".into()), Step::Cut]))
        .await
        .unwrap();
    let err = ask(&cut, json!({}), json!("hi")).await.unwrap_err();
    assert!(err.message().contains("broke off"), "{err}");
}

#[tokio::test]
async fn llm_cancelling_the_process_closes_the_connection() {
    let server = TokenServer::start(Script::tokens(["a", "b", "c"]).gate_last())
        .await
        .unwrap();
    let mut g = Graph::new();
    let slot = load(&mut g, fields(&server, json!({})));
    let p = Process::new();
    let mut call = Call::open(&slot, &p, 0).unwrap();
    call.send(Value::from("go")).await.unwrap();
    call.close();
    let first = tokio::time::timeout(WAIT, call.frame()).await.expect("in time");
    assert!(matches!(first, Some(Frame::Item(_))), "{first:?}");
    assert_eq!(server.closed_early(), 0);
    p.cancel();
    assert!(
        eventually(WAIT, || server.closed_early() == 1).await,
        "the server saw the client go away"
    );
    assert_eq!(server.sent(), 2);
    assert_eq!(server.completed(), 0);
}

#[tokio::test]
async fn llm_silence_longer_than_the_timeout_is_a_timeout_error() {
    let mut script = Script::tokens(["a"]);
    script.head_delay = Duration::from_secs(30);
    let server = TokenServer::start(script).await.unwrap();
    let err = ask(&server, json!({"timeout": "200ms"}), json!("hi"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(
        err.message().contains("field \"timeout\": nothing came from"),
        "{err}"
    );
}

#[tokio::test]
async fn llm_unreachable_server_and_bad_payload_are_errors() {
    // A port that was free a moment ago: nothing listens there.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut g = Graph::new();
    let slot = load(
        &mut g,
        json!({"base_url": format!("http://{addr}/v1"), "model": "m"}),
    );
    let p = Process::new();
    let err = weir_engine::call(&slot, &p, 0, Value::from("hi"))
        .await
        .unwrap_err();
    assert!(
        err.message().contains("field \"base_url\": could not reach"),
        "{err}"
    );

    let server = TokenServer::start(Script::tokens(["a"])).await.unwrap();
    let err = ask(&server, json!({}), json!(42)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedValue);
    assert_eq!(
        err.message(),
        "namespace \"test\": spec \"chat\" (kind llm): the payload must be a string, or a map with \
         \"prompt\" or \"messages\"; got integer"
    );
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[test]
fn llm_compile_errors_name_the_field() {
    let base = |extra: Json| {
        let mut f = json!({"base_url": "http://127.0.0.1:1/v1", "model": "m"});
        if let (Some(f), Some(e)) = (f.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        f
    };
    assert_eq!(issue(base(json!({"base_url": "not a url"}))).field, "base_url");
    assert_eq!(issue(base(json!({"base_url": "ftp://x/v1"}))).field, "base_url");
    assert_eq!(issue(base(json!({"base_url": "<no value>"}))).field, "base_url");
    assert_eq!(issue(base(json!({"model": " "}))).field, "model");
    assert_eq!(issue(base(json!({"api_key": "<no value>"}))).field, "api_key");
    assert_eq!(issue(base(json!({"api_key": "a\nb"}))).field, "api_key");
    assert_eq!(issue(base(json!({"timeout": "soon"}))).field, "timeout");
    assert_eq!(issue(base(json!({"max_tokens": 0}))).field, "max_tokens");
    assert_eq!(issue(json!({"model": "m"})).field, "");
    assert!(compile(base(
        json!({"timeout": "1s", "max_tokens": "64", "temperature": 0})
    ))
    .is_ok());
    let https = base(json!({"base_url": "https://api.openai.com/v1"}));
    if crate::ai::TLS {
        assert!(compile(https).is_ok());
    } else {
        assert_eq!(issue(https).field, "base_url");
    }
}

#[tokio::test]
async fn llm_tokens_are_chunk_events_of_a_job() {
    let server = TokenServer::start(Script::tokens(["Hel", "lo"])).await.unwrap();
    let mut g = Graph::new();
    let slot = load(&mut g, fields(&server, json!({})));
    let jobs = weir_engine::job::Jobs::default();
    let entry = weir_engine::job::JobEntry {
        node: "chat".into(),
        slot,
        port: 0,
        inputs: vec![Value::from("hi")],
        open: false,
    };
    let job = jobs.start("test", vec![entry], std::collections::HashMap::new());
    let status = tokio::time::timeout(WAIT, job.wait()).await.expect("ends");
    assert_eq!(status, weir_engine::job::JobStatus::Completed);
    let chunks: Vec<(Json, Json)> = job
        .log()
        .snapshot(0)
        .into_iter()
        .filter(|(_, e)| e["type"] == "chunk")
        .map(|(_, e)| (e["content"].clone(), e["done"].clone()))
        .collect();
    assert_eq!(
        chunks,
        vec![
            (json!("Hel"), json!(false)),
            (json!("lo"), json!(false)),
            (json!(""), json!(true))
        ]
    );
}
