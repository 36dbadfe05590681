//! Packet-level tests of `snippet`: specs compiled through the scheme, loaded into a graph slot, and
//! driven with `weir_engine::call`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value as Json};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::{Collect, Graph};
use weir_engine::{BoxedNode, ErrorKind, NodeRuntime, NodeSlot, OutPort, Process, Result, Value};

fn compile(fields: Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let mut scheme = Scheme::new();
    crate::control::register(&mut scheme);
    let codec = scheme.get("snippet").expect("snippet is registered");
    codec.compile(&fields, &CompileContext::new("default", "s"))
}

fn load(g: &mut Graph, fields: Json) -> Arc<NodeSlot> {
    let node = compile(fields).expect("compiles");
    let slot = g.slot("s");
    slot.install(NodeRuntime::from_boxed("s", node));
    slot
}

async fn call(slot: &Arc<NodeSlot>, input: Json) -> Result<Vec<Value>> {
    let p = Process::new();
    let out = weir_engine::call(slot, &p, 0, Value::from(input)).await;
    p.exit(None);
    out
}

async fn once(fields: Json, input: Json) -> Result<Vec<Value>> {
    let mut g = Graph::new();
    let slot = load(&mut g, fields);
    call(&slot, input).await
}

fn one(v: Json) -> Result<Vec<Value>> {
    Ok(vec![Value::from(v)])
}

#[tokio::test]
async fn text_json_and_yaml_answer_constants() {
    assert_eq!(
        once(json!({"language": "text", "code": "pong"}), json!("ping")).await,
        one(json!("pong"))
    );
    assert_eq!(
        once(
            json!({"language": "json", "code": "{\"ok\": true, \"n\": [1, 2]}"}),
            json!(null)
        )
        .await,
        one(json!({"ok": true, "n": [1, 2]}))
    );
    assert_eq!(
        once(
            json!({"language": "yaml", "code": "status: 200\nbody: pong\n"}),
            json!(null)
        )
        .await,
        one(json!({"status": 200, "body": "pong"}))
    );
}

#[tokio::test]
async fn cel_evaluates_over_self() {
    let fields = json!({"language": "cel", "code": "{'sum': self.a + self.b, 'big': self.a > 10}"});
    assert_eq!(
        once(fields, json!({"a": 40, "b": 2})).await,
        one(json!({"big": true, "sum": 42}))
    );
    assert_eq!(
        once(json!({"language": "cel", "code": "self"}), json!("x")).await,
        one(json!("x"))
    );
}

#[tokio::test]
async fn javascript_echoes_a_route_param() {
    let fields = json!({"language": "javascript", "code": "export default function (args) {\n  return args.params.id\n}"});
    let request =
        json!({"method": "GET", "path": "/users/7", "params": {"id": "7"}, "header": {}, "body": null});
    assert_eq!(once(fields, request).await, one(json!("7")));
}

#[tokio::test]
async fn javascript_builds_a_response() {
    let code = "export default async function (args) {\n  return { status: 201, body: { id: args.body.id + 1, tags: args.body.tags.map(t => t.toUpperCase()) } }\n}";
    let fields = json!({"language": "javascript", "code": code});
    let input = json!({"body": {"id": 41, "tags": ["a", "b"]}});
    assert_eq!(
        once(fields, input).await,
        one(json!({"status": 201, "body": {"id": 42, "tags": ["A", "B"]}}))
    );
}

#[tokio::test]
async fn a_cel_error_and_a_javascript_throw_are_error_replies() {
    let err = once(json!({"language": "cel", "code": "self.nope.deeper"}), json!({}))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    assert!(err.message().contains("nope"), "{err}");
    let fields =
        json!({"language": "javascript", "code": "export default function () { throw new Error('boom') }"});
    let err = once(fields, json!(null)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    assert!(err.message().starts_with("Error: boom"), "{err}");
}

#[tokio::test]
async fn an_error_goes_to_the_error_port_when_it_is_connected() {
    let mut g = Graph::new();
    let caught = Collect::default();
    g.add("catch", caught.clone(), &[]);
    let node = compile(
        json!({"language": "javascript", "code": "export default () => { throw new RangeError('bad') }"}),
    )
    .expect("compiles");
    let slot = g.slot("s");
    slot.install(NodeRuntime::from_boxed("s", node).link(OutPort::Error, &g.slot("catch"), 0));
    let out = call(&slot, json!(1)).await.expect("the error port answers");
    assert_eq!(out.len(), 1);
    let seen = caught.seen.lock().values.clone();
    match seen.as_slice() {
        [Value::Error(e)] => assert!(e.message().starts_with("RangeError: bad"), "{e}"),
        other => panic!("expected one error packet, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runaway_script_times_out_while_the_node_serves_other_calls() {
    let code = "export default function (args) {\n  if (args.spin) { while (true) {} }\n  return 'done'\n}";
    let mut g = Graph::new();
    let slot = load(
        &mut g,
        json!({"language": "javascript", "code": code, "timeout": "3s"}),
    );
    let spinning = {
        let slot = slot.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            (call(&slot, json!({"spin": true})).await, started.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(call(&slot, json!({"spin": false})).await, one(json!("done")));
    assert!(!spinning.is_finished(), "answered while the runaway still spins");
    let (out, took) = spinning.await.expect("joins");
    let err = out.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.message().contains("3s"), "{err}");
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert_eq!(call(&slot, json!({"spin": false})).await, one(json!("done")));
}

#[tokio::test]
async fn timeout_accepts_durations_and_milliseconds() {
    for timeout in [json!("250ms"), json!(250), json!("250"), json!(0), json!(null)] {
        let fields = json!({"language": "text", "code": "ok", "timeout": timeout});
        assert_eq!(once(fields, json!(null)).await, one(json!("ok")));
    }
    let issues = compile(json!({"language": "text", "code": "ok", "timeout": "soon"})).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].field, "timeout");
    assert!(issues[0].message.contains("soon"), "{issues:?}");
}

#[test]
fn compile_errors_name_the_field() {
    let issues = compile(json!({"language": "cobol", "code": "DISPLAY 'HI'."})).unwrap_err();
    assert_eq!(
        issues,
        vec![FieldIssue::new("language", "unknown language \"cobol\"")]
    );

    let issues =
        compile(json!({"language": "javascript", "code": "export default function ( {"})).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].field, "code");
    assert!(issues[0].message.contains("SyntaxError"), "{issues:?}");

    let issues = compile(json!({"language": "javascript", "code": "export const f = () => 1"})).unwrap_err();
    assert_eq!(issues[0].field, "code");
    assert!(issues[0].message.contains("default export"), "{issues:?}");

    for (language, code) in [("cel", "self +"), ("json", "{"), ("yaml", "[1")] {
        let issues = compile(json!({"language": language, "code": code})).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].field, "code", "{language}: {issues:?}");
    }

    // `language` is required by the schema.
    let issues = compile(json!({"code": "x"})).unwrap_err();
    assert!(
        issues.iter().any(|i| i.message.contains("language")),
        "{issues:?}"
    );
}

#[test]
fn the_kind_declares_its_ports_and_schema() {
    let mut scheme = Scheme::new();
    crate::control::register(&mut scheme);
    let codec = scheme.get("snippet").expect("registered");
    assert_eq!(codec.ports(), weir_codecs::codec::Ports::one_to_one());
    let props = codec.schema().get("properties").expect("an object schema");
    for field in ["language", "code", "timeout"] {
        assert!(props.get(field).is_some(), "{field} in {props}");
    }
}

#[tokio::test]
async fn a_generator_answers_with_one_element_per_yield() {
    let code = "export default function* (args) { for (const x of args) yield x.toUpperCase() }";
    let fields = json!({"language": "javascript", "code": code});
    assert_eq!(
        once(fields, json!(["a", "b", "c"])).await,
        Ok(vec![Value::from("A"), Value::from("B"), Value::from("C")])
    );
    let fields = json!({"language": "javascript", "code": "export default function* () {}"});
    assert_eq!(
        once(fields, json!(null)).await,
        Ok(vec![]),
        "no yield, no element"
    );
}

#[tokio::test]
async fn each_yield_goes_downstream_as_its_own_packet() {
    let mut g = Graph::new();
    let seen = Collect::default();
    g.add("next", seen.clone(), &[]);
    let code =
        "export default async function* (n) { for (let i = 0; i < n; i++) yield await Promise.resolve(i) }";
    let node = compile(json!({"language": "javascript", "code": code})).expect("compiles");
    let slot = g.slot("s");
    slot.install(NodeRuntime::from_boxed("s", node).link(OutPort::OUT, &g.slot("next"), 0));
    assert_eq!(
        call(&slot, json!(3)).await,
        Ok(vec![Value::from(0), Value::from(1), Value::from(2)])
    );
    assert_eq!(
        seen.seen.lock().values,
        vec![Value::from(0), Value::from(1), Value::from(2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_yield_is_downstream_before_the_script_goes_on() {
    // The script yields, then never ends on its own: downstream has the first packet while the
    // script still runs, so yields are emitted as produced, not collected. Cancelling the process
    // then stops the script.
    let mut g = Graph::new();
    let seen = Collect::default();
    g.add("next", seen.clone(), &[]);
    let code = "export default function* () { yield 'first'; while (true) {} yield 'never' }";
    let node = compile(json!({"language": "javascript", "code": code, "timeout": 0})).expect("compiles");
    let slot = g.slot("s");
    slot.install(NodeRuntime::from_boxed("s", node).link(OutPort::OUT, &g.slot("next"), 0));
    let p = Process::new();
    let mut c = weir_engine::Call::open(&slot, &p, 0).expect("opens");
    c.send(Value::Null).await.expect("sends");
    c.close();
    let first = tokio::time::timeout(Duration::from_secs(10), c.frame())
        .await
        .expect("the first element of the reply arrives");
    assert_eq!(first, Some(weir_engine::Frame::Item(Value::from("first"))));
    assert_eq!(seen.seen.lock().values, vec![Value::from("first")]);
    p.cancel();
    let rest = tokio::time::timeout(Duration::from_secs(10), c.reply())
        .await
        .expect("the reply ends with the process");
    assert_eq!(
        rest.and_then(|r| r.err()).map(|e| e.kind()),
        Some(ErrorKind::Cancelled)
    );
    assert_eq!(seen.seen.lock().values.len(), 1);
}

#[tokio::test]
async fn typescript_snippets_run() {
    let code = "export default function (args: { id: string }): string {\n  return `user ${args.id}`\n}";
    let fields = json!({"language": "typescript", "code": code});
    assert_eq!(once(fields, json!({"id": "7"})).await, one(json!("user 7")));
}
