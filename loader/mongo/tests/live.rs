//! The MongoDB store against a live replica set named by `WEIR_TEST_MONGODB_URI` (see
//! loader/mongo/README.md): the shared store contract (`weir_loader::contract`), two stores on one
//! database seeing each other's writes (deletes included, with their namespace), the schema
//! version, and a change stream that resumes after its connection is dropped without missing or
//! repeating an event. Each test works in fresh databases (`weir_test_<uuid>`), dropped afterwards.
//!
//! Without the variable these tests are compiled as ignored (build.rs), so `cargo test` lists them
//! as `ignored` with the reason instead of passing them.

#![allow(clippy::unwrap_used)]

use std::future::IntoFuture;

use serde_json::json;
use uuid::Uuid;
use weir_codecs::resource::Spec;
use weir_loader::contract::{self, next_event, settled_watch};
use weir_loader::{Op, Resource, Store};
use weir_loader_mongo::{MongoStore, SCHEMA_VERSION};

const NEEDS: &str = "set WEIR_TEST_MONGODB_URI to a MongoDB replica set URL (see loader/mongo/README.md)";

fn uri() -> String {
    match std::env::var("WEIR_TEST_MONGODB_URI") {
        Ok(uri) if !uri.is_empty() => uri,
        _ => panic!("WEIR_TEST_MONGODB_URI was set when these tests were built but is not set now: {NEEDS}"),
    }
}

/// Fresh database names, dropped when this goes away (even when a check panicked).
struct Databases {
    uri: String,
    names: std::sync::Mutex<Vec<String>>,
}

impl Databases {
    fn new(uri: &str) -> Self {
        Databases {
            uri: uri.to_string(),
            names: std::sync::Mutex::new(Vec::new()),
        }
    }

    fn fresh(&self) -> String {
        let name = format!("weir_test_{}", Uuid::now_v7().simple());
        self.names.lock().unwrap().push(name.clone());
        name
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let names = std::mem::take(&mut *self.names.lock().unwrap());
        let uri = self.uri.clone();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let Ok(client) = mongodb::Client::with_uri_str(&uri).await else {
                return;
            };
            for name in names {
                if let Err(e) = client.database(&name).drop().await {
                    eprintln!("dropping test database {name}: {e}");
                }
            }
        });
    }
}

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

/// `uri` with one more query parameter.
fn with_param(uri: &str, param: &str) -> String {
    let (base, query) = uri.split_once('?').unwrap_or((uri, ""));
    let base = if base.matches('/').count() < 3 {
        format!("{base}/")
    } else {
        base.to_string()
    };
    if query.is_empty() {
        format!("{base}?{param}")
    } else {
        format!("{base}?{query}&{param}")
    }
}

#[test]
#[cfg_attr(
    not(weir_mongodb_uri),
    ignore = "set WEIR_TEST_MONGODB_URI to a MongoDB replica set URL (see loader/mongo/README.md)"
)]
fn the_mongodb_store_keeps_the_contract() {
    let uri = uri();
    let dbs = Databases::new(&uri);
    contract::run(&|| Box::new(MongoStore::open_database(&uri, &dbs.fresh()).unwrap()));
}

#[test]
#[cfg_attr(
    not(weir_mongodb_uri),
    ignore = "set WEIR_TEST_MONGODB_URI to a MongoDB replica set URL (see loader/mongo/README.md)"
)]
fn two_stores_on_one_database_see_each_others_writes() {
    let uri = uri();
    let dbs = Databases::new(&uri);
    let db = dbs.fresh();
    let one = MongoStore::open_database(&uri, &db).unwrap();
    let two = MongoStore::open_database(&uri, &db).unwrap();
    assert_eq!(one.schema_version().unwrap(), SCHEMA_VERSION);
    let mut seen_by_one = settled_watch(&one);
    let written = two
        .apply_specs(vec![
            spec(json!({"kind": "nop", "name": "a", "namespace": "x"})),
            spec(json!({"kind": "nop", "name": "b", "namespace": "y"})),
        ])
        .unwrap();
    let e1 = next_event(&mut seen_by_one);
    let e2 = next_event(&mut seen_by_one);
    assert_eq!(
        (e1.op, e1.id, e1.namespace.as_str()),
        (Op::Store, written[0].id, "x")
    );
    assert_eq!(
        (e2.op, e2.id, e2.namespace.as_str()),
        (Op::Store, written[1].id, "y")
    );
    assert_eq!(one.specs(Some("y")).unwrap().len(), 1, "read by the other store");
    two.delete_specs(&[written[1].id]).unwrap();
    let e3 = next_event(&mut seen_by_one);
    assert_eq!(
        (e3.resource, e3.op, e3.id, e3.namespace.as_str()),
        (Resource::Specs, Op::Delete, written[1].id, "y"),
        "a delete written elsewhere still names its namespace"
    );
    // A store opened after the spec was written learns its namespace from the collections.
    let three = MongoStore::open_database(&uri, &db).unwrap();
    let mut seen_by_three = settled_watch(&three);
    one.delete_specs(&[written[0].id]).unwrap();
    let e = next_event(&mut seen_by_three);
    assert_eq!(
        (e.op, e.id, e.namespace.as_str()),
        (Op::Delete, written[0].id, "x")
    );
}

/// Needs the server's test commands (`mongod --setParameter enableTestCommands=1`): a fail point
/// drops the watcher's connection on its next `getMore` and fails the driver's own resume, so the
/// store's feed must reopen the stream itself from its last token.
#[test]
#[cfg_attr(
    not(weir_mongodb_uri),
    ignore = "set WEIR_TEST_MONGODB_URI to a MongoDB replica set URL (see loader/mongo/README.md)"
)]
fn the_change_stream_resumes_after_a_dropped_connection_without_gaps_or_repeats() {
    let uri = uri();
    let dbs = Databases::new(&uri);
    let db = dbs.fresh();
    let app = format!("weir-resume-{}", Uuid::now_v7().simple());
    let watcher = MongoStore::open_database(&with_param(&uri, &format!("appName={app}")), &db).unwrap();
    let writer = MongoStore::open_database(&uri, &db).unwrap();
    let mut events = settled_watch(&watcher);

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = rt.block_on(mongodb::Client::with_uri_str(&uri)).unwrap();
    let fail_point = |mode: bson::Bson| {
        rt.block_on(
            client
                .database("admin")
                .run_command(bson::doc! {
                    "configureFailPoint": "failCommand",
                    "mode": mode,
                    "data": {
                        "failCommands": ["getMore", "aggregate"],
                        "closeConnection": true,
                        "appName": &app,
                    },
                })
                .into_future(),
        )
        .map(|_| ())
    };
    fail_point(bson::Bson::Document(bson::doc! {"times": 2})).unwrap_or_else(|e| {
        panic!("configureFailPoint failed ({e}): start mongod with --setParameter enableTestCommands=1")
    });

    let mut ids = Vec::new();
    for i in 0..5 {
        let c = writer
            .apply_specs(vec![spec(
                json!({"kind": "nop", "name": format!("s{i}"), "namespace": "r"}),
            )])
            .unwrap();
        ids.push(c[0].id);
    }
    let got: Vec<_> = (0..5).map(|_| next_event(&mut events)).collect();
    let _ = fail_point(bson::Bson::String("off".into()));
    let got_ids: Vec<Uuid> = got.iter().map(|e| e.id).collect();
    assert_eq!(got_ids, ids, "every event once, in order: {got:?}");
    assert!(got.windows(2).all(|w| w[0].revision < w[1].revision));
    contract::assert_quiet(&watcher, &mut events, "no event repeated after the resume");
}
