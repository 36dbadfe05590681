//! The SQLite store beyond the shared contract (`contract.rs`): data survives reopening, a failed
//! batch leaves the tables untouched, and two stores on one file see each other's writes through
//! `watch()` and reads, in revision order and without repeats.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::broadcast;
use weir_codecs::resource::{Spec, ValueResource};
use weir_loader::{Event, Op, SqliteStore, Store, StoreError};

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

fn count(path: &Path, table: &str) -> i64 {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |r| r.get(0))
        .unwrap()
}

/// Waits up to 5 s for `n` events.
fn recv(events: &mut broadcast::Receiver<Event>, n: usize) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    while got.len() < n {
        match events.try_recv() {
            Ok(e) => got.push(e),
            Err(broadcast::error::TryRecvError::Empty) => {
                assert!(
                    Instant::now() < deadline,
                    "only {} of {n} events in 5 s: {got:?}",
                    got.len()
                );
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    }
    got
}

#[test]
fn data_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.db");
    let (id, revision) = {
        let store = SqliteStore::open(&path).unwrap();
        let mut events = store.watch();
        let id = store
            .apply_specs(vec![spec(json!({"kind": "nop", "name": "a", "x": [1, "two"]}))])
            .unwrap()[0]
            .id;
        store
            .apply_values(vec![ValueResource::new("token", json!({"k": "v"}))])
            .unwrap();
        (id, recv(&mut events, 2)[1].revision)
    };
    let store = SqliteStore::open(&path).unwrap();
    let specs = store.specs(None).unwrap();
    assert_eq!(specs.len(), 1);
    assert_eq!(specs[0].id, Some(id));
    assert_eq!(specs[0].field("x"), Some(&json!([1, "two"])));
    assert_eq!(store.values(None).unwrap()[0].data, json!({"k": "v"}));
    assert!(
        store
            .apply_specs(vec![spec(json!({"kind": "nop", "name": "a", "x": [1, "two"]}))])
            .unwrap()
            .is_empty(),
        "unchanged after reopening"
    );
    let mut events = store.watch();
    store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "b"}))])
        .unwrap();
    assert_eq!(recv(&mut events, 1)[0].revision, revision + 1, "revisions go on");
}

#[test]
fn a_batch_with_one_bad_entry_leaves_the_tables_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "a"}))])
        .unwrap();
    let mut nameless = Spec::new("nop");
    nameless.name = None;
    let err = store
        .apply_specs(vec![
            spec(json!({"kind": "nop", "name": "b"})),
            spec(json!({"kind": "print", "name": "a"})),
            nameless,
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::Unidentified { index: 3, .. }), "{err}");
    assert_eq!(count(&path, "specs"), 1);
    assert_eq!(count(&path, "changes"), 1);
    assert_eq!(store.specs(None).unwrap()[0].kind, "nop", "a unchanged");
}

#[test]
fn two_stores_on_one_file_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared/weir.db");
    let one = SqliteStore::open(&path).unwrap();
    let two = SqliteStore::open(&path).unwrap();
    let mut seen_by_one = one.watch();
    let mut seen_by_two = two.watch();

    let id = one
        .apply_specs(vec![spec(json!({"kind": "nop", "name": "a"}))])
        .unwrap()[0]
        .id;
    let e = recv(&mut seen_by_two, 1);
    assert_eq!((e[0].op, e[0].id, e[0].revision), (Op::Store, id, 1));
    assert_eq!(two.specs(Some("default")).unwrap()[0].id, Some(id));

    // Interleaved writers: each store's stream has every change once, in revision order.
    for i in 0..5 {
        let (w, name) = if i % 2 == 0 { (&two, "b") } else { (&one, "c") };
        w.apply_specs(vec![spec(json!({"kind": "nop", "name": name, "i": i}))])
            .unwrap();
    }
    two.delete_specs(&[id]).unwrap();
    // `two` has already had revision 1.
    for (events, from) in [(&mut seen_by_one, 1), (&mut seen_by_two, 2)] {
        let got = recv(events, 8 - from);
        let revisions: Vec<u64> = got.iter().map(|e| e.revision).collect();
        assert_eq!(revisions, (from as u64..=7).collect::<Vec<_>>());
        assert_eq!(got.last().map(|e| e.op), Some(Op::Delete));
        std::thread::sleep(Duration::from_millis(200));
        assert!(events.try_recv().is_err(), "no repeats");
    }
    assert_eq!(one.specs(None).unwrap().len(), 2);
}

#[test]
fn dropping_the_store_stops_its_poller() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.db");
    let store = SqliteStore::open(&path).unwrap();
    let mut events = store.watch();
    let started = Instant::now();
    drop(store);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(
        events.try_recv(),
        Err(broadcast::error::TryRecvError::Closed)
    ));
}
