//! Tests of `scan`: Go's Fscanf rules (verbs, widths, spaces and newlines) and, at packet level, the
//! fixed file read on across packets, the payload-named file, and the errors.

use std::io::Cursor;
use std::sync::Arc;

use serde_json::{json, Value as Json};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::Graph;
use weir_engine::{BoxedNode, ErrorKind, NodeRuntime, NodeSlot, Process, Result, Value};

use super::super::scanf::{scanf, ScanError, Source};
use super::Scan;

fn scan(input: &str, format: &str) -> std::result::Result<Json, ScanError> {
    let mut src = Source::new(Cursor::new(input.as_bytes().to_vec()));
    scanf(&mut src, format).map(|v| Value::list(v).to_json())
}

fn compile(namespace: &str, fields: Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let mut scheme = Scheme::new();
    crate::io::register(&mut scheme);
    let codec = scheme.get("scan").expect("scan is registered");
    codec.compile(&fields, &CompileContext::new(namespace, "s"))
}

fn install(g: &mut Graph, node: BoxedNode) -> Arc<NodeSlot> {
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

#[test]
fn scans_uniflows_example() {
    assert_eq!(
        scan("true 2.75 42 HelloWorld 123", "%t %f %d %s %c"),
        Ok(json!([true, 2.75, 42, "HelloWorld", 49]))
    );
}

#[test]
fn verbs_read_what_go_reads() {
    assert_eq!(scan("17 0o17 U+1F600", "%o %O %U"), Ok(json!([15, 15, 128512])));
    assert_eq!(scan("-12 +7", "%d %d"), Ok(json!([-12, 7])));
    assert_eq!(
        scan("1e3 -2.5 1_000.5", "%e %g %f"),
        Ok(json!([1000.0, -2.5, 1000.5]))
    );
    assert_eq!(
        scan("T false 0 1 True", "%t %t %t %t %t"),
        Ok(json!([true, false, false, true, true]))
    );
    assert_eq!(scan("héllo wörld", "%s %s"), Ok(json!(["héllo", "wörld"])));
    assert_eq!(
        scan(" x", "%c%c"),
        Ok(json!([32, 120])),
        "%c does not skip spaces"
    );
    assert_eq!(scan("100%", "%d%%"), Ok(json!([100])));
    assert_eq!(
        scan("12345abcdefg", "%3d%d%5s%s"),
        Ok(json!([123, 45, "abcde", "fg"]))
    );
    assert_eq!(scan("a=1, b=2", "a=%d, b=%d"), Ok(json!([1, 2])));
}

#[test]
fn spaces_and_newlines_follow_gos_rules() {
    assert_eq!(scan("1 2", "%d%d"), Ok(json!([1, 2])), "a verb skips spaces");
    assert_eq!(scan("1   \n2", "%d\n%d"), Ok(json!([1, 2])));
    assert_eq!(
        scan("1", "%d\n"),
        Ok(json!([1])),
        "a newline in the format matches the end"
    );
    assert_eq!(
        scan("1\n2", "%d%d"),
        Err(ScanError::Input("unexpected newline".into()))
    );
    assert_eq!(
        scan("1\n2", "%d %d"),
        Err(ScanError::Input("newline in input does not match format".into()))
    );
    assert_eq!(
        scan("1x2", "%d %d"),
        Err(ScanError::Input("expected space in input to match format".into()))
    );
    assert_eq!(
        scan("1 2", "%d\n%d"),
        Err(ScanError::Input("newline in format does not match input".into()))
    );
}

#[test]
fn bad_input_and_bad_formats_are_errors() {
    assert_eq!(
        scan("abc", "%d"),
        Err(ScanError::Input("expected integer".into()))
    );
    assert_eq!(
        scan("maybe", "%t"),
        Err(ScanError::Input("syntax error scanning boolean".into()))
    );
    assert_eq!(
        scan("a-1", "b-%d"),
        Err(ScanError::Input("input does not match format".into()))
    );
    assert_eq!(scan("", "%d"), Err(ScanError::Eof));
    assert_eq!(scan("1", "%d,%d"), Err(ScanError::UnexpectedEof));
    assert_eq!(
        scan("99999999999999999999", "%d"),
        Err(ScanError::Input(
            "integer overflow on token 99999999999999999999".into()
        ))
    );
    assert!(matches!(scan("x", "%v"), Err(ScanError::Format(m)) if m.starts_with("bad verb '%v'")));
    assert!(matches!(scan("x", "%"), Err(ScanError::Format(m)) if m.contains("missing verb")));
}

#[tokio::test]
async fn a_fixed_source_is_read_on_packet_after_packet() {
    let mut g = Graph::new();
    let reader = Cursor::new(b"ann 3\nbob 4\n".to_vec());
    let slot = install(
        &mut g,
        BoxedNode::new(weir_engine::template::OneToOneNode(Scan::from_reader(reader))),
    );
    assert_eq!(
        call(&slot, json!("%s %d\n")).await,
        Ok(vec![Value::from(json!(["ann", 3]))])
    );
    assert_eq!(
        call(&slot, json!("%s %d\n")).await,
        Ok(vec![Value::from(json!(["bob", 4]))])
    );
    let err = call(&slot, json!("%s %d\n")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    assert_eq!(err.message(), "scan: EOF");
    let err = call(&slot, json!(["%s"])).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);
    let err = call(&slot, json!("%q")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedValue);
}

#[tokio::test]
async fn a_file_named_by_the_spec_or_by_the_payload() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("nums.txt");
    std::fs::write(&path, "1 2.5 three\n4 5.5 six\n").expect("write");
    let name = path.to_string_lossy().into_owned();

    let mut g = Graph::new();
    let fixed = install(
        &mut g,
        compile("default", json!({"filename": name})).expect("compiles"),
    );
    assert_eq!(
        call(&fixed, json!("%d %f %s\n")).await,
        Ok(vec![Value::from(json!([1, 2.5, "three"]))])
    );
    assert_eq!(call(&fixed, json!("%d")).await, Ok(vec![Value::from(json!([4]))]));

    let mut g2 = Graph::new();
    let dynamic = install(&mut g2, compile("default", json!({})).expect("compiles"));
    let input = json!([name, "%d %f %s"]);
    assert_eq!(
        call(&dynamic, input.clone()).await,
        Ok(vec![Value::from(json!([1, 2.5, "three"]))])
    );
    assert_eq!(
        call(&dynamic, input).await,
        Ok(vec![Value::from(json!([1, 2.5, "three"]))]),
        "opened afresh"
    );
    for bad in [json!("%d"), json!([name]), json!([1, "%d"])] {
        let err = call(&dynamic, bad.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedType, "{bad}");
        assert!(err.message().contains("[filename, format]"), "{err}");
    }
    let err = call(&dynamic, json!(["/nonexistent-weir/x", "%d"]))
        .await
        .unwrap_err();
    assert!(err.message().contains("cannot open"), "{err}");
}

#[test]
fn a_file_that_cannot_be_opened_names_the_field() {
    let issues = compile("default", json!({"filename": "/nonexistent-weir/x"})).unwrap_err();
    assert_eq!(issues[0].field, "filename");
    assert!(issues[0].message.contains("cannot open"), "{issues:?}");
}

#[tokio::test]
async fn the_stores_files_are_refused_outside_the_system_namespace() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let db = dir.path().join("weir.db");
    std::fs::write(&db, "42").expect("write");
    weir_codecs::guard::protect_path(&db);
    let name = db.to_string_lossy().into_owned();
    let issues = compile("default", json!({"filename": name})).unwrap_err();
    assert_eq!(issues[0].field, "filename");
    assert!(
        issues[0].message.contains("one of the store's own files"),
        "{issues:?}"
    );
    let mut g = Graph::new();
    let dynamic = install(&mut g, compile("default", json!({})).expect("compiles"));
    let err = call(&dynamic, json!([name, "%d"])).await.unwrap_err();
    assert!(err.message().contains("one of the store's own files"), "{err}");
    let mut g2 = Graph::new();
    let system = install(
        &mut g2,
        compile("system", json!({"filename": name})).expect("compiles"),
    );
    assert_eq!(
        call(&system, json!("%d")).await,
        Ok(vec![Value::from(json!([42]))])
    );
}
