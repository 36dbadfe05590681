#![allow(clippy::unwrap_used)]

use bson::{doc, Bson};

use super::*;

fn token_doc(n: u32) -> Document {
    doc! {"_data": format!("8263{n:08X}000000012B0429296E1404")}
}

fn token(n: u32) -> ResumeToken {
    bson::deserialize_from_bson(Bson::Document(token_doc(n))).unwrap()
}

/// A change event as the server sends it (decoded by the driver's own types).
fn change(n: u32, op: &str, coll: &str, id: Uuid, full: Option<Document>) -> ChangeStreamEvent<Document> {
    let mut d = doc! {
        "_id": token_doc(n),
        "operationType": op,
        "ns": {"db": "weir", "coll": coll},
        "documentKey": {"_id": id.to_string()},
        "clusterTime": bson::Timestamp { time: 1_700_000_000, increment: n },
    };
    if let Some(full) = full {
        d.insert("fullDocument", full);
    }
    bson::deserialize_from_document(d).unwrap()
}

fn stored(id: Uuid, ns: &str) -> Option<Document> {
    Some(doc! {"_id": id.to_string(), "namespace": ns, "name": "a", "order": 1_i64, "body": {"kind": "nop"}})
}

fn summary(events: &[Event]) -> Vec<(u64, Resource, Op, Uuid, &str)> {
    events
        .iter()
        .map(|e| (e.revision, e.resource, e.op, e.id, e.namespace.as_str()))
        .collect()
}

#[test]
fn inserts_replaces_and_updates_become_store_and_swap() {
    let mut t = Tracker::new();
    let id = Uuid::now_v7();
    let r1 = t.on_event(&change(1, "insert", "specs", id, stored(id, "shop")));
    let r2 = t.on_event(&change(2, "replace", "specs", id, stored(id, "shop")));
    // An update whose looked-up document is already gone: the map knows the namespace.
    let r3 = t.on_event(&change(3, "update", "specs", id, None));
    assert_eq!(summary(&r1.events), [(1, Resource::Specs, Op::Store, id, "shop")]);
    assert_eq!(summary(&r2.events), [(2, Resource::Specs, Op::Swap, id, "shop")]);
    assert_eq!(summary(&r3.events), [(3, Resource::Specs, Op::Swap, id, "shop")]);
    assert!(!r3.invalidated);
    assert_eq!(t.position(), Position::ResumeAfter(token(3)));
}

#[test]
fn a_delete_takes_its_namespace_from_the_map() {
    let mut t = Tracker::new();
    let (seeded, inserted) = (Uuid::now_v7(), Uuid::now_v7());
    t.seed(Resource::Specs, [(seeded, "x".to_string())]);
    t.on_event(&change(1, "insert", "specs", inserted, stored(inserted, "y")));
    let d1 = t.on_event(&change(2, "delete", "specs", seeded, None));
    let d2 = t.on_event(&change(3, "delete", "specs", inserted, None));
    assert_eq!(
        summary(&d1.events),
        [(2, Resource::Specs, Op::Delete, seeded, "x")]
    );
    assert_eq!(
        summary(&d2.events),
        [(3, Resource::Specs, Op::Delete, inserted, "y")]
    );
    assert_eq!(t.known(), 0, "deleted ids are forgotten");
    let again = t.on_event(&change(4, "delete", "specs", seeded, None));
    assert!(again.events.is_empty(), "a delete of an unknown id is skipped");
    assert_eq!(t.position(), Position::ResumeAfter(token(4)), "but passed");
    assert_eq!(t.revision(), 3);
}

#[test]
fn a_resource_moved_to_another_namespace_is_deleted_from_there() {
    let mut t = Tracker::new();
    let id = Uuid::now_v7();
    t.seed(Resource::Values, [(id, "old".to_string())]);
    let moved = t.on_event(&change(1, "replace", "values", id, stored(id, "new")));
    assert_eq!(
        summary(&moved.events),
        [(1, Resource::Values, Op::Swap, id, "new")]
    );
    let gone = t.on_event(&change(2, "delete", "values", id, None));
    assert_eq!(
        summary(&gone.events),
        [(2, Resource::Values, Op::Delete, id, "new")]
    );
}

#[test]
fn collections_are_kept_apart() {
    let mut t = Tracker::new();
    let id = Uuid::now_v7();
    t.seed(Resource::Specs, [(id, "a".to_string())]);
    t.seed(Resource::Values, [(id, "b".to_string())]);
    t.seed(Resource::Charts, [(id, "c".to_string())]);
    let r = t.on_event(&change(1, "delete", "values", id, None));
    assert_eq!(summary(&r.events), [(1, Resource::Values, Op::Delete, id, "b")]);
    assert_eq!(t.namespace(Resource::Specs, id), Some("a"));
    assert_eq!(t.namespace(Resource::Charts, id), Some("c"));
}

#[test]
fn what_is_no_resource_change_makes_no_event_but_moves_the_position() {
    let mut t = Tracker::new();
    let id = Uuid::now_v7();
    let status = t.on_event(&change(1, "insert", "statuses", id, stored(id, "x")));
    assert!(status.events.is_empty(), "statuses are not watched");
    let mut bad = change(2, "insert", "specs", id, stored(id, "x"));
    bad.document_key = Some(doc! {"_id": bson::oid::ObjectId::new()});
    assert!(t.on_event(&bad).events.is_empty(), "an _id that is no UUID");
    let mut nowhere = change(3, "insert", "specs", id, None);
    nowhere.full_document = None;
    assert!(t.on_event(&nowhere).events.is_empty(), "no namespace known");
    assert_eq!(t.position(), Position::ResumeAfter(token(3)));
    assert_eq!(t.revision(), 0, "no revision given out");
}

#[test]
fn the_position_follows_events_and_batch_ends_and_a_repeat_is_dropped() {
    let mut t = Tracker::new();
    assert_eq!(t.position(), Position::Now, "nothing seen yet");
    t.opened_at(Some(token(0)));
    assert_eq!(t.position(), Position::ResumeAfter(token(0)));
    let id = Uuid::now_v7();
    let first = change(1, "insert", "specs", id, stored(id, "x"));
    assert_eq!(t.on_event(&first).events.len(), 1);
    assert_eq!(t.position(), Position::ResumeAfter(token(1)));
    // After a dropped connection the stream resumes after token 1; a server (or driver) that sends
    // event 1 again does not make it a second event.
    assert!(t.on_event(&first).events.is_empty(), "not repeated");
    t.batch_end(Some(token(5)));
    assert_eq!(
        t.position(),
        Position::ResumeAfter(token(5)),
        "an empty batch moves past filtered-out changes"
    );
    t.batch_end(None);
    assert_eq!(t.position(), Position::ResumeAfter(token(5)));
    let next = t.on_event(&change(6, "replace", "specs", id, stored(id, "x")));
    assert_eq!(summary(&next.events), [(2, Resource::Specs, Op::Swap, id, "x")]);
}

#[test]
fn an_invalidate_reopens_after_it() {
    let mut t = Tracker::new();
    t.opened_at(Some(token(0)));
    let r = t.on_event(&change(1, "invalidate", "specs", Uuid::now_v7(), None));
    assert!(r.invalidated && r.events.is_empty());
    assert_eq!(t.position(), Position::StartAfter(token(1)));
    t.batch_end(Some(token(1)));
    assert_eq!(
        t.position(),
        Position::StartAfter(token(1)),
        "resumeAfter would refuse an invalidate's token"
    );
    t.opened_at(Some(token(2)));
    assert_eq!(t.position(), Position::ResumeAfter(token(2)));
}

#[test]
fn a_dropped_collection_deletes_what_it_held() {
    let mut t = Tracker::new();
    let (a, b, v) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    t.seed(Resource::Specs, [(a, "x".to_string()), (b, "y".to_string())]);
    t.seed(Resource::Values, [(v, "x".to_string())]);
    let r = t.on_event(&change(1, "drop", "specs", Uuid::now_v7(), None));
    assert_eq!(
        summary(&r.events),
        [
            (1, Resource::Specs, Op::Delete, a, "x"),
            (2, Resource::Specs, Op::Delete, b, "y")
        ]
    );
    assert_eq!(t.namespace(Resource::Values, v), Some("x"), "values untouched");
    let mut dropped = change(2, "dropDatabase", "specs", Uuid::now_v7(), None);
    dropped.ns = Some(bson::deserialize_from_document(doc! {"db": "weir"}).unwrap());
    let r = t.on_event(&dropped);
    assert_eq!(summary(&r.events), [(3, Resource::Values, Op::Delete, v, "x")]);
}

#[test]
fn a_lost_history_is_made_up_by_a_resync() {
    let mut t = Tracker::new();
    let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    t.seed(Resource::Specs, [(a, "x".to_string()), (b, "y".to_string())]);
    t.opened_at(Some(token(9)));
    let fresh = HashMap::from([
        ((Resource::Specs, b), "y".to_string()),
        ((Resource::Specs, c), "z".to_string()),
    ]);
    let events = t.resync(fresh);
    assert_eq!(
        summary(&events),
        [
            (1, Resource::Specs, Op::Delete, a, "x"),
            (2, Resource::Specs, Op::Swap, b, "y"),
            (3, Resource::Specs, Op::Store, c, "z"),
        ]
    );
    assert_eq!(
        t.position(),
        Position::Now,
        "a fresh stream's position comes next"
    );
    assert_eq!(t.namespace(Resource::Specs, c), Some("z"));
    assert_eq!(t.namespace(Resource::Specs, a), None);
}
