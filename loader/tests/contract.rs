//! The store contract, run against every store: upserts by id or name, only real changes reported,
//! all-or-nothing batches, duplicate names, namespaces, and a change stream with strictly increasing
//! revisions. Each check gets a fresh, empty store from `make`.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use weir_codecs::resource::{Chart, Spec, ValueResource};
use weir_loader::{MemoryStore, Op, Resource, SpecStatus, SqliteStore, Store, StoreError};

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

fn charts_are_stored_and_deleted_like_specs(store: &dyn Store) {
    let chart = |ns: &str, n: i64| {
        Chart::from_value(&json!({
            "namespace": ns, "name": "double",
            "specs": [{"kind": "snippet", "name": "x", "language": "cel", "code": format!("self * {n}")}],
            "inbounds": {"in": [{"name": "x", "port": "in"}]}
        }))
        .unwrap()
    };
    let mut events = store.watch();
    let c = store.apply_charts(vec![chart("a", 2), chart("b", 2)]).unwrap();
    assert_eq!(c.len(), 2);
    assert!(
        store.apply_charts(vec![chart("a", 2)]).unwrap().is_empty(),
        "unchanged"
    );
    let c2 = store.apply_charts(vec![chart("a", 3)]).unwrap();
    assert_eq!((c2[0].op, c2[0].id), (Op::Swap, c[0].id), "upserted by name");
    assert_eq!(
        store.charts(Some("a")).unwrap(),
        vec![{
            let mut x = chart("a", 3);
            x.id = Some(c[0].id);
            x
        }]
    );
    let e = events.try_recv().unwrap();
    assert_eq!((e.resource, e.op), (Resource::Charts, Op::Store));
    let d = store.delete_charts(&[c[1].id]).unwrap();
    assert_eq!((d.len(), d[0].namespace.as_str()), (1, "b"));
    assert_eq!(store.charts(None).unwrap().len(), 1);
}

fn values_are_deleted_by_id(store: &dyn Store) {
    let c = store
        .apply_values(vec![
            ValueResource::new("a", json!(1)),
            ValueResource::new("b", json!(2)),
        ])
        .unwrap();
    let mut events = store.watch();
    let d = store.delete_values(&[c[0].id, uuid::Uuid::now_v7()]).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].name.as_deref(), Some("a"));
    let e = events.try_recv().unwrap();
    assert_eq!((e.resource, e.op, e.id), (Resource::Values, Op::Delete, c[0].id));
    assert_eq!(store.values(None).unwrap().len(), 1);
}

fn statuses_are_recorded_per_spec_and_go_with_it(store: &dyn Store) {
    let c = store
        .apply_specs(vec![
            spec(json!({"kind": "nop", "name": "a", "namespace": "x"})),
            spec(json!({"kind": "nop", "name": "b", "namespace": "x"})),
            spec(json!({"kind": "nop", "name": "c", "namespace": "y"})),
        ])
        .unwrap();
    let mut events = store.watch();
    let st = |i: usize, ns: &str, error: Option<&str>| SpecStatus {
        id: c[i].id,
        namespace: ns.into(),
        host: "h1".into(),
        error: error.map(str::to_string),
    };
    store
        .record_statuses(
            vec![
                st(0, "x", None),
                st(1, "x", Some("unknown kind")),
                st(2, "y", None),
            ],
            &[],
        )
        .unwrap();
    assert!(events.try_recv().is_err(), "recording a status is not a change");
    let mut x = store.statuses(Some("x")).unwrap();
    x.sort_by_key(|s| s.id);
    assert_eq!(x, vec![st(0, "x", None), st(1, "x", Some("unknown kind"))]);
    store.record_statuses(vec![st(1, "x", None)], &[c[0].id]).unwrap();
    assert_eq!(store.statuses(Some("x")).unwrap(), vec![st(1, "x", None)]);
    store.delete_specs(&[c[1].id]).unwrap();
    assert!(
        store.statuses(Some("x")).unwrap().is_empty(),
        "a deleted spec's status goes with it"
    );
    store.clear_statuses("h2", "y").unwrap();
    assert_eq!(
        store.statuses(None).unwrap().len(),
        1,
        "another host's records stay"
    );
    store.clear_statuses("h1", "y").unwrap();
    assert!(store.statuses(None).unwrap().is_empty());
}

fn specs_by_id_reads_only_those(store: &dyn Store) {
    let c = store
        .apply_specs(vec![
            spec(json!({"kind": "nop", "name": "a"})),
            spec(json!({"kind": "nop", "name": "b"})),
            spec(json!({"kind": "nop", "name": "a", "namespace": "z"})),
        ])
        .unwrap();
    let got = store
        .specs_by_id("default", &[c[1].id, c[2].id, uuid::Uuid::now_v7()])
        .unwrap();
    assert_eq!(got.len(), 1, "only ids of that namespace");
    assert_eq!(got[0].name.as_deref(), Some("b"));
}

/// Runs every contract check, each on a fresh store.
fn contract(make: &dyn Fn() -> Box<dyn Store>) {
    upserts_by_name_and_reports_only_changes(make().as_ref());
    upserts_by_id(make().as_ref());
    a_batch_with_a_bad_entry_writes_nothing(make().as_ref());
    values_follow_the_same_rules_per_namespace(make().as_ref());
    namespaces_list_those_with_specs(make().as_ref());
    charts_are_stored_and_deleted_like_specs(make().as_ref());
    values_are_deleted_by_id(make().as_ref());
    statuses_are_recorded_per_spec_and_go_with_it(make().as_ref());
    specs_by_id_reads_only_those(make().as_ref());
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
