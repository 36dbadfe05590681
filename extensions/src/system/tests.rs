//! Packet-level tests of `syscall` and `signal`, against a real `MemoryStore` and channels hub.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value as Json};
use weir_codecs::codec::CompileContext;
use weir_codecs::resource::{Spec, ValueResource};
use weir_engine::testing::Collect;
use weir_engine::{ErrorKind, NodeSlot, Process, Value};
use weir_loader::SpecStatus;

use super::test_host::{host, Host};
use super::SCOPE_KEY;

impl Host {
    fn node(&mut self, namespace: &str, kind: &str, fields: Json) -> Arc<NodeSlot> {
        self.load(namespace, kind, fields, None, None)
    }

    fn syscall(&mut self, namespace: &str, opcode: &str) -> Arc<NodeSlot> {
        self.node(namespace, "syscall", json!({"opcode": opcode}))
    }
}

async fn run(slot: &Arc<NodeSlot>, input: Json) -> Result<Json, weir_engine::Error> {
    run_in(slot, &Process::new(), input).await
}

async fn run_in(slot: &Arc<NodeSlot>, p: &Arc<Process>, input: Json) -> Result<Json, weir_engine::Error> {
    let out = weir_engine::call(slot, p, 0, Value::from(input)).await;
    out.map(|v| v.first().map(Value::to_json).unwrap_or(Json::Null))
}

fn snippet(ns: &str, name: &str, code: &str) -> Json {
    json!({"kind": "snippet", "namespace": ns, "name": name, "language": "text", "code": code})
}

#[tokio::test]
async fn create_validates_everything_first_and_writes_all_or_nothing() {
    let mut h = host(16);
    let create = h.syscall("system", "specs.create");
    let one = run(&create, snippet("a", "hello", "hi")).await.unwrap();
    assert_eq!(one["name"], "hello");
    assert!(one["id"].as_str().is_some(), "{one}");

    // One bad entry among good ones: nothing written, every problem named.
    let err = run(
        &create,
        json!([snippet("a", "x", "1"), {"kind": "snippet", "namespace": "a", "name": "y", "language": {"no": 1}},
               {"kind": "listener", "namespace": "a", "name": "z", "protocol": "http", "port": "many"}]),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedValue, "{err}");
    let msg = err.message();
    assert!(msg.contains("spec \"y\": field \"language\""), "{msg}");
    assert!(msg.contains("spec \"z\": field \"port\""), "{msg}");
    assert_eq!(h.store().specs(Some("a")).unwrap().len(), 1);

    // A used name is a conflict.
    let err = run(&create, snippet("a", "hello", "again")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("field \"name\""), "{err}");

    // Not an object: unsupported type.
    let err = run(&create, json!("spec")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedType);

    let many = run(&create, json!([snippet("a", "x", "1"), snippet("b", "y", "2")]))
        .await
        .unwrap();
    assert_eq!(many.as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn read_filters_and_an_unknown_id_is_null() {
    let mut h = host(16);
    let create = h.syscall("system", "specs.create");
    let read = h.syscall("system", "specs.read");
    let created = run(&create, json!([snippet("a", "x", "1"), snippet("b", "y", "2")]))
        .await
        .unwrap();
    let all = run(&read, json!(null)).await.unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2);
    let only_a = run(&read, json!({"namespace": ["a"]})).await.unwrap();
    assert_eq!(only_a.as_array().unwrap().len(), 1);
    assert_eq!(only_a[0]["name"], "x");
    let id = created[1]["id"].as_str().unwrap();
    assert_eq!(run(&read, json!({"id": id})).await.unwrap()[0]["name"], "y");
    // uniflow's shape: a list of filters, each from one query value, joined.
    let either = run(&read, json!([{"namespace": "a"}, {"id": id}])).await.unwrap();
    assert_eq!(either.as_array().unwrap().len(), 2, "{either}");
    assert_eq!(run(&read, json!([])).await.unwrap().as_array().unwrap().len(), 2);
    let unknown = uuid::Uuid::now_v7().to_string();
    assert_eq!(run(&read, json!({"id": unknown})).await.unwrap(), Json::Null);
    assert_eq!(run(&read, json!({"name": "nobody"})).await.unwrap(), json!([]));
    let err = run(&read, json!({"id": "not-a-uuid"})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedValue);
    assert!(err.message().contains("field \"id\""), "{err}");
}

#[tokio::test]
async fn a_syscall_outside_system_reaches_only_its_namespace() {
    let mut h = host(16);
    run(
        &h.syscall("system", "specs.create"),
        json!([snippet("a", "x", "1"), snippet("b", "y", "2")]),
    )
    .await
    .unwrap();
    let read_a = h.syscall("a", "specs.read");
    let seen = run(&read_a, json!(null)).await.unwrap();
    assert_eq!(seen.as_array().unwrap().len(), 1);
    assert_eq!(seen[0]["namespace"], "a");
    let err = run(&read_a, json!({"namespace": "b"})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden, "{err}");
    // A create without a namespace lands in the caller's; naming another is refused.
    let create_a = h.syscall("a", "specs.create");
    let made = run(
        &create_a,
        json!({"kind": "snippet", "name": "z", "language": "text", "code": "z"}),
    )
    .await
    .unwrap();
    assert_eq!(made["namespace"], "a");
    let err = run(&create_a, snippet("b", "w", "w")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(h.store().specs(Some("b")).unwrap().len(), 1);
}

#[tokio::test]
async fn update_is_a_merge_patch_where_the_request_wins() {
    let mut h = host(16);
    let created = run(
        &h.syscall("system", "specs.create"),
        json!({"kind": "snippet", "namespace": "a", "name": "s", "language": "text", "code": "old",
               "annotations": {"keep": "me", "drop": "me"}}),
    )
    .await
    .unwrap();
    let id = created["id"].as_str().unwrap();
    let update = h.syscall("system", "specs.update");
    let out = run(
        &update,
        json!({"id": id, "code": "new", "annotations": {"drop": null}}),
    )
    .await
    .unwrap();
    assert_eq!(out[0]["code"], "new");
    assert_eq!(out[0]["annotations"], json!({"keep": "me"}));
    let stored = h.store().specs(Some("a")).unwrap();
    assert_eq!(stored[0].fields["code"], "new");
    // By name, too; a patch that breaks the schema is refused and nothing changes.
    let err = run(
        &update,
        json!({"namespace": "a", "name": "s", "language": {"no": 1}}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedValue);
    assert!(err.message().contains("field \"language\""), "{err}");
    assert_eq!(h.store().specs(Some("a")).unwrap()[0].fields["language"], "text");
    let err = run(
        &update,
        json!({"id": uuid::Uuid::now_v7().to_string(), "code": "x"}),
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = run(&update, json!({"id": id, "namespace": "b"}))
        .await
        .unwrap_err();
    assert!(err.message().contains("field \"namespace\""), "{err}");
}

#[tokio::test]
async fn delete_takes_filters_and_an_unknown_id_is_not_found() {
    let mut h = host(16);
    let created = run(
        &h.syscall("system", "specs.create"),
        json!([
            snippet("a", "x", "1"),
            snippet("a", "y", "2"),
            snippet("b", "z", "3")
        ]),
    )
    .await
    .unwrap();
    let delete = h.syscall("system", "specs.delete");
    let id = created[0]["id"].as_str().unwrap();
    let gone = run(&delete, json!({"id": id})).await.unwrap();
    assert_eq!(gone["name"], "x");
    let err = run(&delete, json!({"id": id})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = run(&delete, json!({})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedValue);
    // A list of filters (uniflow's shape) needs a key in each; an empty list deletes nothing.
    for bad in [json!([]), json!([{"namespace": "a"}, {"watch": "x"}])] {
        let err = run(&delete, bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedValue);
    }
    let gone = run(&delete, json!([{"namespace": "a"}])).await.unwrap();
    assert_eq!(gone.as_array().unwrap().len(), 1);
    assert_eq!(h.store().specs(None).unwrap().len(), 1);
}

#[tokio::test]
async fn values_are_masked_on_read_unless_asked() {
    let mut h = host(16);
    run(
        &h.syscall("system", "values.create"),
        json!({"namespace": "a", "name": "secret", "data": {"password": "hunter2"}}),
    )
    .await
    .unwrap();
    let read = h.syscall("system", "values.read");
    assert_eq!(
        run(&read, json!({"name": "secret"})).await.unwrap()[0]["data"],
        "******"
    );
    assert_eq!(
        run(&read, json!({"name": "secret", "unmask": "true"}))
            .await
            .unwrap()[0]["data"]["password"],
        "hunter2"
    );
}

#[tokio::test]
async fn auth_check_scopes_the_rest_of_the_process() {
    let mut h = host(16);
    let check = h.syscall("system", "auth.check");
    let read = h.syscall("system", "specs.read");
    let req = |token: Option<&str>| match token {
        Some(t) => json!({"method": "GET", "header": {"Authorization": [format!("Bearer {t}")]}}),
        None => json!({"method": "GET", "header": {}}),
    };
    // No token defined: open.
    assert!(run(&check, req(None)).await.is_ok());
    h.store()
        .apply_values(vec![
            ValueResource {
                namespace: "system".into(),
                ..ValueResource::new("token-admin", json!({"token": "root-secret"}))
            },
            ValueResource {
                namespace: "system".into(),
                ..ValueResource::new("token-a", json!({"token": "a-secret", "namespaces": ["a"]}))
            },
        ])
        .unwrap();
    run(
        &h.syscall("system", "specs.create"),
        json!([snippet("a", "x", "1"), snippet("b", "y", "2")]),
    )
    .await
    .unwrap();
    assert_eq!(
        run(&check, req(None)).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );
    assert_eq!(
        run(&check, req(Some("wrong"))).await.unwrap_err().kind(),
        ErrorKind::Unauthorized
    );

    let p = Process::new();
    assert_eq!(
        run_in(&check, &p, req(Some("a-secret"))).await.unwrap()["method"],
        "GET"
    );
    assert_eq!(p.get(SCOPE_KEY).map(|v| v.to_json()), Some(json!(["a"])));
    let seen = run_in(&read, &p, json!(null)).await.unwrap();
    assert_eq!(seen.as_array().unwrap().len(), 1);
    let err = run_in(&read, &p, json!({"namespace": "b"})).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);

    let p = Process::new();
    run_in(&check, &p, req(Some("root-secret"))).await.unwrap();
    assert_eq!(
        run_in(&read, &p, json!(null))
            .await
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test]
async fn kinds_and_namespaces_describe_the_host() {
    let mut h = host(16);
    let mut spec = Spec::new("snippet");
    spec.namespace = "a".into();
    spec.name = Some("s".into());
    spec.fields.insert("language".into(), json!("text"));
    let id = spec.ensure_id();
    h.store().apply_specs(vec![spec]).unwrap();
    h.store()
        .record_statuses(
            vec![SpecStatus {
                id,
                namespace: "a".into(),
                host: "test".into(),
                error: None,
            }],
            &[],
        )
        .unwrap();
    let ns = run(&h.syscall("system", "namespaces.read"), json!(null))
        .await
        .unwrap();
    assert_eq!(
        ns,
        json!([{"name": "a", "specs": [{"id": id.to_string(), "name": "s", "kind": "snippet", "status": "active"}]}])
    );
    let kinds = run(&h.syscall("system", "kinds.read"), json!({"namespace": "a"}))
        .await
        .unwrap();
    let snippet = kinds
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "snippet")
        .unwrap();
    assert!(
        snippet["schema"]["properties"]["language"].is_object(),
        "{snippet}"
    );
    assert_eq!(snippet["ports"]["inputs"], json!(["in"]));
    assert!(kinds.as_array().unwrap().iter().any(|k| k["name"] == "syscall"));
}

#[tokio::test]
async fn an_unknown_opcode_is_a_field_error() {
    let h = host(16);
    let err = h
        .scheme
        .get("syscall")
        .unwrap()
        .compile(
            &json!({"opcode": "specs.explode"}),
            &CompileContext::new("system", "s"),
        )
        .err()
        .unwrap();
    assert_eq!(err[0].field, "opcode");
}

#[tokio::test]
async fn signal_emits_each_store_event_in_a_new_process_filtered_by_namespace() {
    let mut h = host(16);
    let collect_a = Collect::default();
    let collect_sys = Collect::default();
    let sink_a = h.graph.add("sink-a", collect_a.clone(), &[]);
    let sink_sys = h.graph.add("sink-sys", collect_sys.clone(), &[]);
    let _sig_a = h.load("a", "signal", json!({"topic": "specs"}), Some(&sink_a), None);
    let _sig_sys = h.load(
        "system",
        "signal",
        json!({"topic": "specs"}),
        Some(&sink_sys),
        None,
    );
    h.pump_store_events();
    run(
        &h.syscall("system", "specs.create"),
        json!([snippet("a", "x", "1"), snippet("b", "y", "2")]),
    )
    .await
    .unwrap();
    let ok = weir_engine::testing::eventually(Duration::from_secs(10), || {
        collect_a.seen.lock().values.len() == 1 && collect_sys.seen.lock().values.len() == 2
    })
    .await;
    assert!(
        ok,
        "a saw {:?}, system saw {:?}",
        collect_a.seen.lock().values,
        collect_sys.seen.lock().values
    );
    let a = collect_a.seen.lock().values[0].to_json();
    assert_eq!(
        (a["op"].as_str(), a["namespace"].as_str(), a["resource"].as_str()),
        (Some("store"), Some("a"), Some("specs"))
    );
}

#[tokio::test]
async fn a_signal_outside_system_cannot_follow_another_namespace() {
    let h = host(16);
    let err = h
        .scheme
        .get("signal")
        .unwrap()
        .compile(
            &json!({"topic": "specs", "namespace": "b"}),
            &CompileContext::new("a", "s"),
        )
        .err()
        .unwrap();
    assert_eq!(err[0].field, "namespace");
}

#[tokio::test]
async fn uniflows_later_names_native_and_secrets_are_syscall_and_values() {
    let mut h = host(16);
    let create = h.node("system", "native", json!({"opcode": "secrets.create"}));
    run(
        &create,
        json!({"namespace": "a", "name": "key", "data": "s3cret"}),
    )
    .await
    .unwrap();
    // What `native secrets.*` wrote is a Value, read back by `syscall values.*`.
    let read = h.syscall("system", "values.read");
    let found = run(&read, json!({"name": "key", "unmask": "true"}))
        .await
        .unwrap();
    assert_eq!(found[0]["data"], "s3cret", "{found}");

    let compile = |kind: &str, fields: Json| {
        h.scheme
            .get(kind)
            .unwrap()
            .compile(&fields, &CompileContext::new("system", "x"))
            .err()
            .unwrap()
    };
    let err = compile("native", json!({"opcode": "secrets.launch"}));
    assert_eq!(err[0].field, "opcode");
    assert!(
        err[0].message.contains("\"secrets.launch\""),
        "{}",
        err[0].message
    );
    // signal: uniflow's `opcode` names a store topic; `topic` and `opcode` exclude each other.
    let err = compile("signal", json!({"opcode": "specs.create"}));
    assert_eq!(err[0].field, "opcode");
    assert!(err[0].message.contains("specs.watch"), "{}", err[0].message);
    let err = compile("signal", json!({"opcode": "specs.watch", "topic": "specs"}));
    assert_eq!(err[0].field, "opcode");
    let err = compile("signal", json!({}));
    assert_eq!(err[0].field, "topic");
}

#[tokio::test]
async fn a_signal_named_by_uniflows_opcode_follows_that_store_topic() {
    let mut h = host(16);
    let (sink, seen) = h.sink();
    h.load(
        "a",
        "signal",
        json!({"opcode": "secrets.watch"}),
        Some(&sink),
        None,
    );
    h.pump_store_events();
    run(
        &h.syscall("system", "values.create"),
        json!({"namespace": "a", "name": "k", "data": 1}),
    )
    .await
    .unwrap();
    assert!(
        weir_engine::testing::eventually(Duration::from_secs(10), || {
            seen.seen
                .lock()
                .values
                .iter()
                .any(|v| v.to_json()["resource"] == "values" && v.to_json()["op"] == "store")
        })
        .await,
        "the signal saw the Value's store event"
    );
}
