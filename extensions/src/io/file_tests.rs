//! Packet-level tests of `file`: reading and writing under the root in each format, payload-named
//! files, and every way out of the root refused (`..`, absolute paths, symbolic links, store files).

use std::sync::Arc;

use serde_json::{json, Value as Json};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::Graph;
use weir_engine::{BoxedNode, ErrorKind, NodeRuntime, NodeSlot, Process, Result, Value};

fn compile_in(namespace: &str, fields: Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let mut scheme = Scheme::new();
    crate::io::register(&mut scheme);
    let codec = scheme.get("file").expect("file is registered");
    codec.compile(&fields, &CompileContext::new(namespace, "f"))
}

fn load_in(g: &mut Graph, namespace: &str, fields: Json) -> Arc<NodeSlot> {
    let slot = g.slot("f");
    slot.install(NodeRuntime::from_boxed(
        "f",
        compile_in(namespace, fields).expect("compiles"),
    ));
    slot
}

fn load(g: &mut Graph, fields: Json) -> Arc<NodeSlot> {
    load_in(g, "default", fields)
}

async fn call(slot: &Arc<NodeSlot>, input: Json) -> Result<Vec<Value>> {
    let p = Process::new();
    let out = weir_engine::call(slot, &p, 0, Value::from(input)).await;
    p.exit(None);
    out
}

fn root() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let name = dir.path().to_string_lossy().into_owned();
    (dir, name)
}

#[tokio::test]
async fn writes_appends_and_reads_text_under_the_root() {
    let (dir, root) = root();
    let mut g = Graph::new();
    let write = load(
        &mut g,
        json!({"root": root, "mode": "write", "path": "logs/today.txt"}),
    );
    assert_eq!(call(&write, json!("one\n")).await, Ok(vec![Value::Int(4)]));
    assert_eq!(call(&write, json!("two\n")).await, Ok(vec![Value::Int(4)]));
    let mut g2 = Graph::new();
    let append = load(
        &mut g2,
        json!({"root": root, "mode": "append", "path": "logs/today.txt"}),
    );
    assert_eq!(call(&append, json!("three\n")).await, Ok(vec![Value::Int(6)]));
    let on_disk = std::fs::read_to_string(dir.path().join("logs/today.txt")).unwrap_or_default();
    assert_eq!(on_disk, "two\nthree\n", "write replaces, append adds");
    let mut g3 = Graph::new();
    let read = load(&mut g3, json!({"root": root, "path": "logs/today.txt"}));
    assert_eq!(
        call(&read, json!(null)).await,
        Ok(vec![Value::from("two\nthree\n")])
    );
}

#[tokio::test]
async fn json_and_bytes_formats_round_trip() {
    let (_dir, root) = root();
    let mut g = Graph::new();
    let write = load(&mut g, json!({"root": root, "mode": "write", "format": "json"}));
    let doc = json!({"name": "ann", "tags": [1, 2.5, null]});
    let written = call(&write, json!(["doc.json", doc])).await;
    assert_eq!(written, Ok(vec![Value::Int(34)]));
    let mut g2 = Graph::new();
    let read = load(&mut g2, json!({"root": root, "format": "json"}));
    assert_eq!(call(&read, json!("doc.json")).await, Ok(vec![Value::from(doc)]));

    let mut g3 = Graph::new();
    let write_bytes = load(&mut g3, json!({"root": root, "mode": "write", "format": "bytes"}));
    let blob = Value::Bytes(bytes::Bytes::from_static(&[0xff, 0x00, 0x7f]));
    let input = Value::map([("path", Value::from("blob.bin")), ("data", blob.clone())]);
    let p = Process::new();
    assert_eq!(
        weir_engine::call(&write_bytes, &p, 0, input).await,
        Ok(vec![Value::Int(3)])
    );
    p.exit(None);
    let mut g4 = Graph::new();
    let read_bytes = load(&mut g4, json!({"root": root, "format": "bytes"}));
    assert_eq!(call(&read_bytes, json!("blob.bin")).await, Ok(vec![blob]));
    let mut g5 = Graph::new();
    let read_text = load(&mut g5, json!({"root": root}));
    let err = call(&read_text, json!("blob.bin")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedValue);
    assert!(err.message().contains("not UTF-8"), "{err}");
}

#[tokio::test]
async fn payloads_of_the_wrong_shape_are_unsupported_types() {
    let (_dir, root) = root();
    let mut g = Graph::new();
    let read = load(&mut g, json!({"root": root}));
    let err = call(&read, json!(7)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);
    let mut g2 = Graph::new();
    let write = load(&mut g2, json!({"root": root, "mode": "write"}));
    for bad in [json!("only a path"), json!([1, "x"]), json!({"data": "x"})] {
        let err = call(&write, bad.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedType, "{bad}");
    }
    let err = call(&write, json!(["a.txt", {"not": "text"}])).await.unwrap_err();
    assert!(
        err.message().contains("format text writes a string or bytes"),
        "{err}"
    );
    let err = call(&read, json!("missing.txt")).await.unwrap_err();
    assert!(err.message().contains("cannot read \"missing.txt\""), "{err}");
}

#[tokio::test]
async fn paths_that_leave_the_root_are_refused() {
    let (dir, root) = root();
    let outside = tempfile::tempdir().expect("a temp dir");
    std::fs::write(outside.path().join("secret.txt"), "secret").expect("write");
    let mut g = Graph::new();
    let read = load(&mut g, json!({"root": root}));
    let mut g2 = Graph::new();
    let write = load(&mut g2, json!({"root": root, "mode": "write"}));
    let escape = format!(
        "../{}/secret.txt",
        outside.path().file_name().and_then(|n| n.to_str()).unwrap_or("")
    );
    let absolute = outside.path().join("secret.txt").to_string_lossy().into_owned();
    for (path, why) in [
        (escape.as_str(), "\"..\" is not allowed"),
        ("a/../../x", "\"..\" is not allowed"),
        (absolute.as_str(), "it is absolute"),
        ("", "is empty"),
        (".", "names the root itself"),
    ] {
        let err = call(&read, json!(path)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedValue, "{path}");
        assert!(err.message().starts_with("file: path "), "{err}");
        assert!(err.message().contains(why), "{path}: {err}");
        let err = call(&write, json!([path, "x"])).await.unwrap_err();
        assert!(err.message().contains(why), "{path}: {err}");
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).expect("symlink");
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), dir.path().join("s.txt"))
            .expect("symlink");
        std::os::unix::fs::symlink(outside.path().join("gone.txt"), dir.path().join("dangling.txt"))
            .expect("symlink");
        for path in ["out/secret.txt", "s.txt", "out/new.txt"] {
            let err = call(&read, json!(path)).await.unwrap_err();
            assert!(
                err.message().contains("a symbolic link leads outside the root"),
                "{err}"
            );
            let err = call(&write, json!([path, "x"])).await.unwrap_err();
            assert!(
                err.message().contains("a symbolic link leads outside the root"),
                "{err}"
            );
        }
        let err = call(&write, json!(["dangling.txt", "x"])).await.unwrap_err();
        assert!(err.message().contains("target is missing"), "{err}");
        assert!(!outside.path().join("gone.txt").exists());
        assert!(!outside.path().join("new.txt").exists());
        assert_eq!(
            std::fs::read_to_string(outside.path().join("secret.txt")).unwrap_or_default(),
            "secret"
        );
        // A link that stays under the root is followed.
        std::fs::create_dir(dir.path().join("real")).expect("mkdir");
        std::fs::write(dir.path().join("real/in.txt"), "inside").expect("write");
        std::os::unix::fs::symlink(dir.path().join("real"), dir.path().join("alias")).expect("symlink");
        assert_eq!(
            call(&read, json!("alias/in.txt")).await,
            Ok(vec![Value::from("inside")])
        );
    }
}

#[test]
fn a_bad_root_or_fixed_path_names_its_field() {
    let issues = compile_in("default", json!({"root": "/nonexistent-weir-root"})).unwrap_err();
    assert_eq!(issues[0].field, "root");
    assert!(issues[0].message.contains("cannot open directory"), "{issues:?}");
    let (dir, root) = root();
    std::fs::write(dir.path().join("plain"), "x").expect("write");
    let issues = compile_in("default", json!({"root": format!("{root}/plain")})).unwrap_err();
    assert_eq!(issues[0].field, "root");
    assert!(issues[0].message.contains("not a directory"), "{issues:?}");
    let issues = compile_in("default", json!({"root": root, "path": "../etc/passwd"})).unwrap_err();
    assert_eq!(issues[0].field, "path");
    assert!(issues[0].message.contains("\"..\" is not allowed"), "{issues:?}");
    let issues = compile_in("default", json!({"root": root, "mode": "delete"})).unwrap_err();
    assert_eq!(issues[0].field, "mode");
}

#[tokio::test]
async fn the_stores_files_are_refused_outside_the_system_namespace() {
    let (dir, root) = root();
    let db = dir.path().join("weir.db");
    std::fs::write(&db, "store").expect("write");
    weir_codecs::guard::protect_path(&db);
    let issues = compile_in("default", json!({"root": root, "path": "weir.db"})).unwrap_err();
    assert_eq!(issues[0].field, "path");
    assert!(
        issues[0].message.contains("one of the store's own files"),
        "{issues:?}"
    );
    let mut g = Graph::new();
    let write = load(&mut g, json!({"root": root, "mode": "append"}));
    let err = call(&write, json!(["weir.db-wal", "x"])).await.unwrap_err();
    assert!(err.message().contains("one of the store's own files"), "{err}");
    let mut g2 = Graph::new();
    let system = load_in(&mut g2, "system", json!({"root": root, "path": "weir.db"}));
    assert_eq!(call(&system, json!(null)).await, Ok(vec![Value::from("store")]));
    assert_eq!(std::fs::read_to_string(&db).unwrap_or_default(), "store");
}
