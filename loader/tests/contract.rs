//! The store contract, run against every store: upserts by id or name, only real changes reported,
//! all-or-nothing batches, duplicate names, namespaces, and a change stream with strictly increasing
//! revisions. Each check gets a fresh, empty store from `make`.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use weir_codecs::resource::{Spec, ValueResource};
use weir_loader::{MemoryStore, Op, Resource, SqliteStore, Store, StoreError};

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

fn upserts_by_name_and_reports_only_changes(store: &dyn Store) {
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
    assert_eq!(
        (e1.op, e1.resource, e1.revision, e1.id),
        (Op::Store, Resource::Specs, 1, id)
    );
    assert_eq!((e2.op, e2.revision), (Op::Swap, 2));
    assert!(events.try_recv().is_err(), "one event per change");
    let c = store.delete_specs(&[id, uuid::Uuid::now_v7()]).unwrap();
    assert_eq!(c.len(), 1, "an unknown id deletes nothing");
    let e3 = events.try_recv().unwrap();
    assert_eq!((e3.op, e3.revision, e3.id), (Op::Delete, 3, id));
    assert!(store.specs(None).unwrap().is_empty());
}

fn upserts_by_id(store: &dyn Store) {
    let mut a = spec(json!({"kind": "nop", "name": "a", "x": 1}));
    let id = uuid::Uuid::now_v7();
    a.id = Some(id);
    assert_eq!(store.apply_specs(vec![a.clone()]).unwrap()[0].op, Op::Store);
    a.name = Some("renamed".into());
    let c = store.apply_specs(vec![a.clone()]).unwrap();
    assert_eq!((c[0].op, c[0].id), (Op::Swap, id), "renamed by id");
    let all = store.specs(None).unwrap();
    assert_eq!(all, vec![a], "stored as given, with its id");
}

fn a_batch_with_a_bad_entry_writes_nothing(store: &dyn Store) {
    let mut events = store.watch();
    let mut nameless = Spec::new("nop");
    nameless.name = None;
    let err = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "ok"})), nameless])
        .unwrap_err();
    assert!(matches!(err, StoreError::Unidentified { index: 2, .. }), "{err}");
    assert!(store.specs(None).unwrap().is_empty(), "all or nothing");
    assert!(events.try_recv().is_err(), "no event for a failed batch");

    let a = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "a"}))])
        .unwrap()[0]
        .id;
    let mut clash = spec(json!({"kind": "nop", "name": "a"}));
    clash.id = Some(uuid::Uuid::now_v7());
    let err = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "b"})), clash])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("namespace \"default\": spec \"a\": field \"name\": already used by {a}")
    );
    assert_eq!(store.specs(None).unwrap().len(), 1, "b was not written");
}

fn values_follow_the_same_rules_per_namespace(store: &dyn Store) {
    let v = |ns: &str| ValueResource {
        id: None,
        namespace: ns.into(),
        name: Some("token".into()),
        annotations: Default::default(),
        data: json!(1),
    };
    let mut events = store.watch();
    store.apply_values(vec![v("a"), v("b")]).unwrap();
    assert_eq!(store.values(Some("a")).unwrap().len(), 1);
    assert_eq!(store.values(None).unwrap().len(), 2);
    assert!(store.apply_values(vec![v("a")]).unwrap().is_empty());
    let e = events.try_recv().unwrap();
    assert_eq!((e.resource, e.namespace.as_str()), (Resource::Values, "a"));
    let mut nameless = v("a");
    nameless.name = None;
    assert!(matches!(
        store.apply_values(vec![nameless]).unwrap_err(),
        StoreError::Unidentified { index: 1, .. }
    ));
}

fn namespaces_list_those_with_specs(store: &dyn Store) {
    store
        .apply_specs(vec![
            spec(json!({"kind": "nop", "name": "a", "namespace": "y"})),
            spec(json!({"kind": "nop", "name": "a", "namespace": "x"})),
            spec(json!({"kind": "nop", "name": "b", "namespace": "x"})),
        ])
        .unwrap();
    assert_eq!(store.namespaces().unwrap(), vec!["x", "y"]);
    let names: Vec<_> = store
        .specs(Some("x"))
        .unwrap()
        .into_iter()
        .map(|s| s.name.unwrap())
        .collect();
    assert_eq!(names, vec!["a", "b"], "in the order written");
}

/// Runs every contract check, each on a fresh store.
fn contract(make: &dyn Fn() -> Box<dyn Store>) {
    upserts_by_name_and_reports_only_changes(make().as_ref());
    upserts_by_id(make().as_ref());
    a_batch_with_a_bad_entry_writes_nothing(make().as_ref());
    values_follow_the_same_rules_per_namespace(make().as_ref());
    namespaces_list_those_with_specs(make().as_ref());
}

#[test]
fn the_memory_store_keeps_the_contract() {
    contract(&|| Box::new(MemoryStore::new()));
}

#[test]
fn the_sqlite_store_keeps_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::cell::Cell::new(0);
    contract(&|| {
        n.set(n.get() + 1);
        let path = dir.path().join(format!("store-{}/weir.db", n.get()));
        Box::new(SqliteStore::open(&path).unwrap())
    });
}
