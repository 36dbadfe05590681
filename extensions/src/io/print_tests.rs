//! Packet-level tests of `print`: Go formatting, the fixed and the per-payload file, the answer (bytes
//! written) and the errors.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::{json, Value as Json};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::Graph;
use weir_engine::{BoxedNode, ErrorKind, NodeRuntime, NodeSlot, Process, Result, Value};

use super::sprintf;

fn compile(fields: Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let mut scheme = Scheme::new();
    crate::io::register(&mut scheme);
    let codec = scheme.get("print").expect("print is registered");
    codec.compile(&fields, &CompileContext::new("default", "p"))
}

fn load(g: &mut Graph, fields: Json) -> Arc<NodeSlot> {
    let slot = g.slot("p");
    slot.install(NodeRuntime::from_boxed("p", compile(fields).expect("compiles")));
    slot
}

async fn call(slot: &Arc<NodeSlot>, input: Value) -> Result<Vec<Value>> {
    let p = Process::new();
    let out = weir_engine::call(slot, &p, 0, input).await;
    p.exit(None);
    out
}

/// A fresh path in the temp directory, removed on drop.
struct TempPath(PathBuf);

impl TempPath {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        TempPath(std::env::temp_dir().join(format!("weir-print-{tag}-{}-{nanos}.txt", std::process::id())))
    }

    fn name(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn formats_as_go_does() {
    let f = |format: &str, args: Json| sprintf(format, Value::from(args).as_list().unwrap_or_default());
    assert_eq!(f("%s %d", json!(["hello", 123])), Ok("hello 123".into()));
    assert_eq!(
        f("%v|%q|%5.2f|%x", json!([{"a": 1}, "x", 1.23456, 255])),
        Ok("map[a:1]|\"x\"| 1.23|ff".into())
    );
    assert_eq!(f("%d", json!(["x"])), Ok("%!d(string=x)".into()));
    assert_eq!(f("%s %s", json!(["only"])), Ok("only %!s(MISSING)".into()));
    assert_eq!(f("100%%\n", json!([])), Ok("100%\n".into()));
    assert_eq!(
        f("{{ not a template }}", json!([])),
        Ok("{{ not a template }}".into())
    );
}

#[tokio::test]
async fn appends_to_its_file_and_answers_with_the_bytes_written() {
    let file = TempPath::new("static");
    let mut g = Graph::new();
    let slot = load(&mut g, json!({"filename": file.name()}));
    let first = Value::from(json!(["%s %d\n", "hello", 123]));
    assert_eq!(call(&slot, first).await, Ok(vec![Value::Int(10)]));
    assert_eq!(
        call(&slot, Value::from("plain line\n")).await,
        Ok(vec![Value::Int(11)])
    );
    assert_eq!(file.read(), "hello 123\nplain line\n");
}

#[tokio::test]
async fn without_a_filename_the_payload_names_the_file() {
    let file = TempPath::new("dynamic");
    let mut g = Graph::new();
    let slot = load(&mut g, json!({}));
    let input = Value::from(json!([file.name(), "%v=%v\n", "k", [1, 2]]));
    assert_eq!(call(&slot, input.clone()).await, Ok(vec![Value::Int(8)]));
    assert_eq!(call(&slot, input).await, Ok(vec![Value::Int(8)]));
    assert_eq!(file.read(), "k=[1 2]\nk=[1 2]\n");
    let err = call(&slot, Value::from("no file")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);
}

#[tokio::test]
async fn writes_to_stdout() {
    let mut g = Graph::new();
    let slot = load(&mut g, json!({"filename": "/dev/stdout"}));
    assert_eq!(
        call(&slot, Value::from("print: hello from a test\n")).await,
        Ok(vec![Value::Int(25)])
    );
}

#[tokio::test]
async fn a_payload_that_is_no_format_is_an_error() {
    let file = TempPath::new("bad");
    let mut g = Graph::new();
    let slot = load(&mut g, json!({"filename": file.name()}));
    for bad in [json!({"a": 1}), json!([1, 2]), json!(7), json!([])] {
        let err = call(&slot, Value::from(bad.clone())).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedType, "{bad}");
        assert!(err.message().starts_with("print expects a payload"), "{err}");
    }
    assert_eq!(file.read(), "");
}

#[test]
fn a_file_that_cannot_be_opened_names_the_field() {
    let issues = compile(json!({"filename": "/nonexistent-weir-dir/out.txt"})).unwrap_err();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].field, "filename");
    assert!(issues[0].message.contains("cannot open"), "{issues:?}");
}

#[tokio::test]
async fn the_documented_flow_prints_what_a_snippet_formats() {
    let file = TempPath::new("flow");
    let mut scheme = Scheme::new();
    crate::control::register(&mut scheme);
    crate::io::register(&mut scheme);
    let cx = |name| CompileContext::new("default", name);
    let greet = json!({"language": "cel", "code": "['%s says hello (%d)\\n', self.name, self.count]"});
    let greet = scheme
        .get("snippet")
        .expect("snippet")
        .compile(&greet, &cx("greet"))
        .expect("compiles");
    let log = compile(json!({"filename": file.name()})).expect("compiles");
    let done = scheme
        .get("nop")
        .expect("nop")
        .compile(&json!({}), &cx("done"))
        .expect("compiles");
    let mut g = Graph::new();
    let (greet_slot, log_slot, done_slot) = (g.slot("greet"), g.slot("log"), g.slot("done"));
    done_slot.install(NodeRuntime::from_boxed("done", done));
    log_slot.install(NodeRuntime::from_boxed("log", log).link(weir_engine::OutPort::OUT, &done_slot, 0));
    greet_slot.install(NodeRuntime::from_boxed("greet", greet).link(weir_engine::OutPort::OUT, &log_slot, 0));
    let out = call(&greet_slot, Value::from(json!({"name": "ann", "count": 2}))).await;
    assert_eq!(out, Ok(vec![]), "nop answers with nothing");
    assert_eq!(file.read(), "ann says hello (2)\n");
}

#[tokio::test]
async fn the_stores_files_are_refused_outside_the_system_namespace() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("weir.db");
    std::fs::write(&db, "").expect("write");
    weir_codecs::guard::protect_path(&db);
    let name = db.to_string_lossy().into_owned();
    let issues = compile(json!({"filename": name})).unwrap_err();
    assert_eq!(issues[0].field, "filename");
    assert!(
        issues[0].message.contains("one of the store's own files"),
        "{issues:?}"
    );
    let mut g = Graph::new();
    let slot = load(&mut g, json!({}));
    let err = call(&slot, Value::from(json!([format!("{name}-journal"), "x"])))
        .await
        .unwrap_err();
    assert!(err.message().contains("one of the store's own files"), "{err}");
    assert_eq!(std::fs::read_to_string(&db).unwrap_or_default(), "");
    assert!(!dir.path().join("weir.db-journal").exists());
}
