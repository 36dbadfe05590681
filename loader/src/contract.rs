//! The store contract as a test kit: every check a store must pass (upserts by id or name, only real
//! changes reported, all-or-nothing batches, duplicate names, namespaces, deletes that name their
//! namespace, statuses, and a change stream with increasing revisions), each run by [`run`] on a
//! fresh, empty store. `tests/contract.rs` runs it against the memory and SQLite stores, and
//! weir-loader-mongo's tests against MongoDB when `WEIR_TEST_MONGODB_URI` is set.
//!
//! Events are awaited with a deadline ([`next_event`]), never assumed to be there already, so a store
//! whose change stream is asynchronous (MongoDB's) is held to the same checks. "No further event" is
//! checked by writing a marker Value and seeing its event come next ([`assert_quiet`]), and a
//! subscription starts after the events of earlier writes once a marker has come through it
//! ([`settled_watch`]).

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::broadcast::{self, error::TryRecvError};
use uuid::Uuid;
use weir_codecs::resource::{Chart, Spec, ValueResource};

use crate::store::{Event, Op, Resource, SpecStatus, Store, StoreError};

/// How long a check waits for an event before failing (a guard against hangs, not a timing claim).
pub const EVENT_DEADLINE: Duration = Duration::from_secs(10);

/// The namespace of the marker Values the checks write.
pub const MARKER_NAMESPACE: &str = "contract-marker";

/// Runs every contract check, each on a fresh store from `make`.
pub fn run(make: &dyn Fn() -> Box<dyn Store>) {
    upserts_by_name_and_reports_only_changes(make().as_ref());
    upserts_by_id(make().as_ref());
    a_batch_with_a_bad_entry_writes_nothing(make().as_ref());
    values_follow_the_same_rules_per_namespace(make().as_ref());
    namespaces_list_those_with_specs(make().as_ref());
    charts_are_stored_and_deleted_like_specs(make().as_ref());
    values_are_deleted_by_id(make().as_ref());
    delete_events_name_their_namespace(make().as_ref());
    statuses_are_recorded_per_spec_and_go_with_it(make().as_ref());
    specs_by_id_reads_only_those(make().as_ref());
}

/// The next event, waiting up to [`EVENT_DEADLINE`]; panics on a lag, a closed stream or the
/// deadline.
pub fn next_event(events: &mut broadcast::Receiver<Event>) -> Event {
    let deadline = Instant::now() + EVENT_DEADLINE;
    loop {
        match events.try_recv() {
            Ok(e) => return e,
            Err(TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "no event within {EVENT_DEADLINE:?}");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("change stream: {e}"),
        }
    }
}

/// Writes a marker Value and returns its id.
fn write_marker(store: &dyn Store) -> Uuid {
    let marker = ValueResource {
        id: None,
        namespace: MARKER_NAMESPACE.into(),
        name: Some(format!("marker-{}", Uuid::now_v7())),
        annotations: Default::default(),
        data: json!(true),
    };
    store.apply_values(vec![marker]).unwrap()[0].id
}

/// Deletes the marker `id` and checks its delete is the next event.
fn remove_marker(store: &dyn Store, events: &mut broadcast::Receiver<Event>, id: Uuid) {
    assert_eq!(store.delete_values(&[id]).unwrap().len(), 1);
    let e = next_event(events);
    assert_eq!(
        (e.resource, e.op, e.id, e.namespace.as_str()),
        (Resource::Values, Op::Delete, id, MARKER_NAMESPACE),
        "the marker's delete"
    );
}

/// Subscribes to `store`'s changes, past the events of every write made before: returns once a
/// marker written after subscribing has come through (the marker is deleted again).
pub fn settled_watch(store: &dyn Store) -> broadcast::Receiver<Event> {
    let mut events = store.watch();
    let id = write_marker(store);
    loop {
        let e = next_event(&mut events);
        if e.id == id {
            assert_eq!((e.resource, e.op), (Resource::Values, Op::Store));
            break;
        }
    }
    remove_marker(store, &mut events, id);
    events
}

/// Asserts that no event is pending: a marker written now is the next event.
pub fn assert_quiet(store: &dyn Store, events: &mut broadcast::Receiver<Event>, why: &str) {
    let id = write_marker(store);
    let e = next_event(events);
    assert_eq!(
        (e.resource, e.op, e.id),
        (Resource::Values, Op::Store, id),
        "{why}: expected no event before the marker, got {e:?}"
    );
    remove_marker(store, events, id);
}

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

fn upserts_by_name_and_reports_only_changes(store: &dyn Store) {
    let mut events = settled_watch(store);
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
    let e1 = next_event(&mut events);
    let e2 = next_event(&mut events);
    assert_eq!(
        (e1.op, e1.resource, e1.id, e1.namespace.as_str()),
        (Op::Store, Resource::Specs, id, "default")
    );
    assert_eq!((e2.op, e2.id), (Op::Swap, id));
    assert!(
        e2.revision > e1.revision,
        "revisions increase: {e1:?} then {e2:?}"
    );
    assert_quiet(store, &mut events, "one event per change");
    let c = store.delete_specs(&[id, Uuid::now_v7()]).unwrap();
    assert_eq!(c.len(), 1, "an unknown id deletes nothing");
    let e3 = next_event(&mut events);
    assert_eq!((e3.op, e3.id, e3.namespace.as_str()), (Op::Delete, id, "default"));
    assert!(
        e3.revision > e2.revision,
        "revisions increase: {e2:?} then {e3:?}"
    );
    assert!(store.specs(None).unwrap().is_empty());
}

fn upserts_by_id(store: &dyn Store) {
    let mut a = spec(json!({"kind": "nop", "name": "a", "x": 1}));
    let id = Uuid::now_v7();
    a.id = Some(id);
    assert_eq!(store.apply_specs(vec![a.clone()]).unwrap()[0].op, Op::Store);
    a.name = Some("renamed".into());
    let c = store.apply_specs(vec![a.clone()]).unwrap();
    assert_eq!((c[0].op, c[0].id), (Op::Swap, id), "renamed by id");
    let all = store.specs(None).unwrap();
    assert_eq!(all, vec![a], "stored as given, with its id");
}

fn a_batch_with_a_bad_entry_writes_nothing(store: &dyn Store) {
    let mut events = settled_watch(store);
    let mut nameless = Spec::new("nop");
    nameless.name = None;
    let err = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "ok"})), nameless])
        .unwrap_err();
    assert!(matches!(err, StoreError::Unidentified { index: 2, .. }), "{err}");
    assert!(store.specs(None).unwrap().is_empty(), "all or nothing");
    assert_quiet(store, &mut events, "no event for a failed batch");

    let a = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "a"}))])
        .unwrap()[0]
        .id;
    let mut clash = spec(json!({"kind": "nop", "name": "a"}));
    clash.id = Some(Uuid::now_v7());
    let err = store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "b"})), clash])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("namespace \"default\": spec \"a\": field \"name\": already used by {a}")
    );
    assert_eq!(store.specs(None).unwrap().len(), 1, "b was not written");
    let e = next_event(&mut events);
    assert_eq!((e.op, e.id), (Op::Store, a));
    assert_quiet(store, &mut events, "no event for the batch with a duplicate name");
}

fn values_follow_the_same_rules_per_namespace(store: &dyn Store) {
    let v = |ns: &str| ValueResource {
        id: None,
        namespace: ns.into(),
        name: Some("token".into()),
        annotations: Default::default(),
        data: json!(1),
    };
    let mut events = settled_watch(store);
    store.apply_values(vec![v("a"), v("b")]).unwrap();
    assert_eq!(store.values(Some("a")).unwrap().len(), 1);
    assert_eq!(store.values(None).unwrap().len(), 2);
    assert!(store.apply_values(vec![v("a")]).unwrap().is_empty());
    let e = next_event(&mut events);
    assert_eq!((e.resource, e.namespace.as_str()), (Resource::Values, "a"));
    let e = next_event(&mut events);
    assert_eq!((e.resource, e.namespace.as_str()), (Resource::Values, "b"));
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
    let mut events = settled_watch(store);
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
    let e = next_event(&mut events);
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
    let mut events = settled_watch(store);
    let d = store.delete_values(&[c[0].id, Uuid::now_v7()]).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].name.as_deref(), Some("a"));
    let e = next_event(&mut events);
    assert_eq!((e.resource, e.op, e.id), (Resource::Values, Op::Delete, c[0].id));
    assert_eq!(store.values(None).unwrap().len(), 1);
}

/// A delete carries no document in some stores' change feeds (MongoDB's): its event must still name
/// the namespace, so a namespace's watcher sees it.
fn delete_events_name_their_namespace(store: &dyn Store) {
    let c = store
        .apply_specs(vec![
            spec(json!({"kind": "nop", "name": "a", "namespace": "x"})),
            spec(json!({"kind": "nop", "name": "a", "namespace": "y"})),
        ])
        .unwrap();
    let v = store
        .apply_values(vec![ValueResource {
            id: None,
            namespace: "y".into(),
            name: Some("v".into()),
            annotations: Default::default(),
            data: json!("secret"),
        }])
        .unwrap();
    let mut events = settled_watch(store);
    let d = store.delete_specs(&[c[1].id, c[0].id]).unwrap();
    assert_eq!(d.len(), 2);
    let e = next_event(&mut events);
    assert_eq!((e.op, e.id, e.namespace.as_str()), (Op::Delete, c[1].id, "y"));
    let e = next_event(&mut events);
    assert_eq!((e.op, e.id, e.namespace.as_str()), (Op::Delete, c[0].id, "x"));
    store.delete_values(&[v[0].id]).unwrap();
    let e = next_event(&mut events);
    assert_eq!(
        (e.resource, e.op, e.id, e.namespace.as_str()),
        (Resource::Values, Op::Delete, v[0].id, "y")
    );
    assert_quiet(store, &mut events, "one event per delete");
}

fn statuses_are_recorded_per_spec_and_go_with_it(store: &dyn Store) {
    let c = store
        .apply_specs(vec![
            spec(json!({"kind": "nop", "name": "a", "namespace": "x"})),
            spec(json!({"kind": "nop", "name": "b", "namespace": "x"})),
            spec(json!({"kind": "nop", "name": "c", "namespace": "y"})),
        ])
        .unwrap();
    let mut events = settled_watch(store);
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
    assert_quiet(store, &mut events, "recording a status is not a change");
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
        .specs_by_id("default", &[c[1].id, c[2].id, Uuid::now_v7()])
        .unwrap();
    assert_eq!(got.len(), 1, "only ids of that namespace");
    assert_eq!(got[0].name.as_deref(), Some("b"));
}
