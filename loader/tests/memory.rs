//! The memory store: upserts by id or name, atomic batches, duplicate names, and its change stream.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use weir_codecs::resource::{Spec, ValueResource};
use weir_loader::{MemoryStore, Op, Resource, Store, StoreError};

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

#[test]
fn upserts_by_name_and_reports_only_changes() {
    let store = MemoryStore::new();
    let mut events = store.watch();
    let c = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "a"}))])
        .unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(c[0].op, Op::Store);
    let id = c[0].id;
    assert!(
        store
            .apply_specs(vec![spec(json!({"kind": "nop", "name": "a"}))])
            .unwrap()
            .is_empty(),
        "unchanged"
    );
    let c = store
        .apply_specs(vec![spec(json!({"kind": "print", "name": "a"}))])
        .unwrap();
    assert_eq!((c[0].op, c[0].id), (Op::Swap, id), "same name, same id");
    let e1 = events.try_recv().unwrap();
    let e2 = events.try_recv().unwrap();
    assert_eq!((e1.op, e1.resource, e1.revision), (Op::Store, Resource::Specs, 1));
    assert_eq!((e2.op, e2.revision), (Op::Swap, 2));
    store.delete_specs(&[id]).unwrap();
    assert_eq!(events.try_recv().unwrap().op, Op::Delete);
    assert!(store.specs(None).unwrap().is_empty());
}

#[test]
fn a_batch_with_a_bad_entry_writes_nothing() {
    let store = MemoryStore::new();
    let mut nameless = Spec::new("nop");
    nameless.name = None;
    let err = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "ok"})), nameless])
        .unwrap_err();
    assert!(matches!(err, StoreError::Unidentified { index: 2, .. }), "{err}");
    assert!(store.specs(None).unwrap().is_empty(), "all or nothing");

    let a = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "a"}))])
        .unwrap()[0]
        .id;
    let mut clash = spec(json!({"kind": "nop", "name": "a"}));
    clash.id = Some(uuid::Uuid::now_v7());
    let err = store.apply_specs(vec![clash]).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("namespace \"default\": spec \"a\": field \"name\": already used by {a}")
    );
}

#[test]
fn values_follow_the_same_rules_per_namespace() {
    let store = MemoryStore::new();
    let v = |ns: &str| ValueResource {
        id: None,
        namespace: ns.into(),
        name: Some("token".into()),
        annotations: Default::default(),
        data: json!(1),
    };
    store.apply_values(vec![v("a"), v("b")]).unwrap();
    assert_eq!(store.values(Some("a")).unwrap().len(), 1);
    assert_eq!(store.values(None).unwrap().len(), 2);
}
