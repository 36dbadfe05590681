#![allow(clippy::unwrap_used)]

use serde_json::json;
use weir_codecs::resource::{Chart, Spec, ValueResource};

use bson::RawDocumentBuf;

use super::*;

/// `d` as the server hands it back: BSON bytes.
fn over_the_wire(d: &Document) -> RawDocumentBuf {
    RawDocumentBuf::from_bytes(bson::serialize_to_vec(d).unwrap()).unwrap()
}

/// A document as mongosh or another tool may have written it.
fn raw(d: &Document) -> RawDocumentBuf {
    over_the_wire(d)
}

#[test]
fn a_spec_round_trips_through_bson_unchanged() {
    let spec = Spec::from_value(&json!({
        "kind": "snippet", "namespace": "shop", "name": "price",
        "annotations": {"owner": "ana"},
        "ports": {"out": [{"name": "tax", "port": "in"}]},
        "env": {"TOKEN": [{"name": "api", "data": "{{ .token }}"}]},
        "language": "cel",
        "code": "self * 2",
        "limits": {"max": 9007199254740993_i64, "min": -3, "ratio": 0.25, "whole": 1.0},
        "tags": ["a", 2, true, null, {"nested": ["x"]}],
        "headers": {"z": 1, "a": 2, "m": 3},
        "raw": {"$date": "not a date", "a.b": "dotted", "$oid": "1234"},
        "text": "héllo \u{1F600}"
    }))
    .unwrap();
    let id = Uuid::now_v7();
    let wire = over_the_wire(&to_document(&spec, id, 7).unwrap());
    let d = Document::try_from(wire.as_ref()).unwrap();
    assert_eq!(d.get_str("_id").unwrap(), id.to_string());
    assert_eq!(d.get_str("namespace").unwrap(), "shop");
    assert_eq!(d.get_str("name").unwrap(), "price");
    assert_eq!(d.get_i64("order").unwrap(), 7);
    let body = d.get_document("body").unwrap();
    assert_eq!(body.get_str("kind").unwrap(), "snippet");
    let keys: Vec<&str> = body
        .get_document("headers")
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["z", "a", "m"], "key order kept");
    assert!(
        matches!(
            body.get_document("raw").unwrap().get("$oid"),
            Some(Bson::String(_))
        ),
        "no extended-JSON reading: {body}"
    );

    let back: Spec = from_raw(&wire).unwrap();
    let mut expected = spec;
    expected.id = Some(id);
    assert_eq!(back, expected);
    assert_eq!(
        back.field("limits"),
        Some(&json!({"max": 9007199254740993_i64, "min": -3, "ratio": 0.25, "whole": 1.0})),
        "integers stay integers, floats floats"
    );
}

#[test]
fn values_and_charts_round_trip_too() {
    let mut value = ValueResource::new("api", json!({"token": "t0k", "n": [1, 2.5]}));
    value.namespace = "shop".into();
    let id = Uuid::now_v7();
    let back: ValueResource = from_raw(&over_the_wire(&to_document(&value, id, 1).unwrap())).unwrap();
    value.id = Some(id);
    assert_eq!(back, value);

    let scalar = ValueResource::new("port", json!(8000));
    let back: ValueResource = from_raw(&raw(&to_document(&scalar, id, 2).unwrap())).unwrap();
    assert_eq!(back.data, json!(8000));

    let chart = Chart::from_value(&json!({
        "namespace": "shop", "name": "double",
        "specs": [{"kind": "snippet", "name": "x", "language": "cel", "code": "self * 2"}],
        "inbounds": {"in": [{"name": "x", "port": "in"}]},
        "outbounds": {"out": [{"name": "x", "port": "out"}]}
    }))
    .unwrap();
    let back: Chart = from_raw(&over_the_wire(&to_document(&chart, id, 3).unwrap())).unwrap();
    let mut expected = chart;
    expected.id = Some(id);
    assert_eq!(back, expected);
}

#[test]
fn a_resource_without_a_name_has_no_name_field() {
    let mut value = ValueResource::new("x", json!(1));
    value.name = None;
    let d = to_document(&value, Uuid::now_v7(), 1).unwrap();
    assert!(
        d.get("name").is_none(),
        "absent, so the partial unique index skips it: {d}"
    );
}

#[test]
fn a_document_written_by_another_tool_is_read() {
    let id = Uuid::now_v7();
    // mongosh writes numbers as doubles and small integers as int32.
    let d = doc! {
        "_id": id.to_string(), "namespace": "default", "name": "a", "order": 1_i32,
        "body": {"kind": "nop", "name": "a", "count": 3_i32, "ratio": 2.0_f64},
    };
    let spec: Spec = from_raw(&raw(&d)).unwrap();
    assert_eq!(spec.id, Some(id), "the id comes from _id");
    assert_eq!(order_of(&raw(&d)), Some(1), "an int32 order");
    assert_eq!(spec.namespace, "default");
    assert_eq!(spec.field("count"), Some(&json!(3)));
    assert_eq!(spec.field("ratio"), Some(&json!(2.0)));
}

#[test]
fn what_bson_cannot_hold_is_a_clear_error() {
    let spec =
        Spec::from_value(&json!({"kind": "nop", "namespace": "big", "name": "n", "x": u64::MAX})).unwrap();
    let e = to_document(&spec, Uuid::now_v7(), 1).unwrap_err().to_string();
    assert!(
        e.starts_with("store: namespace \"big\": spec \"n\": cannot be stored in MongoDB:"),
        "{e}"
    );
    assert!(e.contains("18446744073709551615"), "names the value: {e}");
}

#[test]
fn an_unreadable_document_is_a_clear_error() {
    let d = doc! {"_id": "not-a-uuid", "namespace": "shop", "body": {"kind": "nop"}};
    let e = from_raw::<Spec>(&raw(&d)).unwrap_err().to_string();
    assert!(
        e.contains("namespace \"shop\": spec \"not-a-uuid\": stored document is unreadable: _id"),
        "{e}"
    );
    let id = Uuid::now_v7();
    let d = doc! {"_id": id.to_string(), "namespace": "shop", "body": {"kind": 5}};
    let e = from_raw::<Spec>(&raw(&d)).unwrap_err().to_string();
    assert!(
        e.contains(&format!("spec \"{id}\": stored document is unreadable")),
        "{e}"
    );
    let d = doc! {"_id": id.to_string(), "namespace": "shop"};
    let e = from_raw::<Chart>(&raw(&d)).unwrap_err().to_string();
    assert!(
        e.contains("chart") && e.contains("field \"body\" is missing"),
        "{e}"
    );
}

#[test]
fn statuses_round_trip() {
    let active = SpecStatus {
        id: Uuid::now_v7(),
        namespace: "shop".into(),
        host: "box pid 7".into(),
        error: None,
    };
    let d = status_to_document(&active);
    assert_eq!(d.get("error"), Some(&Bson::Null));
    assert_eq!(status_from_document(&d), Some(active.clone()));
    let inactive = SpecStatus {
        error: Some("unknown kind \"x\"".into()),
        ..active
    };
    assert_eq!(
        status_from_document(&status_to_document(&inactive)),
        Some(inactive)
    );
    assert_eq!(status_from_document(&doc! {"_id": "x"}), None);
}
