#![allow(clippy::unwrap_used)]

use serde_json::json;
use weir_codecs::resource::Spec;

use super::*;

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

fn stored(v: serde_json::Value, order: Option<i64>) -> Existing<Spec> {
    let mut item = spec(v);
    item.id = Some(Uuid::now_v7());
    Existing { item, order }
}

fn ops(p: &Plan<Spec>) -> Vec<(Op, Option<&str>, Order)> {
    p.writes
        .iter()
        .map(|w| (w.op, w.item.name.as_deref(), w.order))
        .collect()
}

#[test]
fn new_resources_get_slots_and_stored_ones_keep_their_order() {
    let a = stored(json!({"kind": "nop", "name": "a"}), Some(7));
    let a_id = a.item.id;
    let p = plan(
        vec![a],
        vec![
            spec(json!({"kind": "print", "name": "a"})),
            spec(json!({"kind": "nop", "name": "b"})),
            spec(json!({"kind": "nop", "name": "c"})),
        ],
    )
    .unwrap();
    assert_eq!(
        ops(&p),
        [
            (Op::Swap, Some("a"), Order::Kept(7)),
            (Op::Store, Some("b"), Order::New(0)),
            (Op::Store, Some("c"), Order::New(1)),
        ]
    );
    assert_eq!(p.new_orders, 2);
    assert_eq!(p.writes[0].item.id, a_id, "upserted by name");
    assert!(p.writes[1].item.id.is_some() && p.writes[1].item.id != p.writes[2].item.id);
}

#[test]
fn an_unchanged_resource_is_no_write() {
    let a = stored(json!({"kind": "nop", "name": "a", "x": 1}), Some(1));
    let p = plan(vec![a], vec![spec(json!({"kind": "nop", "name": "a", "x": 1}))]).unwrap();
    assert!(p.writes.is_empty());
    assert_eq!(p.new_orders, 0);
}

#[test]
fn a_name_twice_in_one_batch_is_one_resource() {
    let p = plan(
        Vec::new(),
        vec![
            spec(json!({"kind": "nop", "name": "a"})),
            spec(json!({"kind": "print", "name": "a"})),
        ],
    )
    .unwrap();
    assert_eq!(
        ops(&p),
        [
            (Op::Store, Some("a"), Order::New(0)),
            (Op::Swap, Some("a"), Order::New(0)),
        ],
        "the second entry sees the first, and shares its slot"
    );
    assert_eq!(p.writes[0].item.id, p.writes[1].item.id);
    assert_eq!(p.new_orders, 1);
}

#[test]
fn a_name_used_by_another_id_is_a_duplicate() {
    let a = stored(json!({"kind": "nop", "name": "a"}), Some(1));
    let a_id = a.item.id.unwrap();
    let mut clash = spec(json!({"kind": "nop", "name": "a"}));
    clash.id = Some(Uuid::now_v7());
    let e = plan(vec![a], vec![spec(json!({"kind": "nop", "name": "b"})), clash]).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("namespace \"default\": spec \"a\": field \"name\": already used by {a_id}")
    );
}

#[test]
fn a_rename_frees_the_old_name_within_the_batch() {
    let a = stored(json!({"kind": "nop", "name": "a"}), Some(3));
    let mut renamed = a.item.clone();
    renamed.name = Some("z".into());
    let p = plan(
        vec![a.clone()],
        vec![renamed, spec(json!({"kind": "print", "name": "a"}))],
    )
    .unwrap();
    assert_eq!(
        ops(&p),
        [
            (Op::Swap, Some("z"), Order::Kept(3)),
            (Op::Store, Some("a"), Order::New(0)),
        ]
    );
    assert_ne!(
        p.writes[1].item.id, a.item.id,
        "a new resource takes the freed name"
    );
}

#[test]
fn names_are_per_namespace_and_an_entry_needs_a_name_or_an_id() {
    let a = stored(json!({"kind": "nop", "name": "a", "namespace": "x"}), Some(1));
    let p = plan(
        vec![a],
        vec![spec(json!({"kind": "nop", "name": "a", "namespace": "y"}))],
    )
    .unwrap();
    assert_eq!(ops(&p), [(Op::Store, Some("a"), Order::New(0))]);
    let mut nameless = spec(json!({"kind": "nop"}));
    nameless.name = None;
    let e = plan(
        Vec::new(),
        vec![spec(json!({"kind": "nop", "name": "ok"})), nameless],
    )
    .unwrap_err();
    assert!(matches!(e, StoreError::Unidentified { index: 2, .. }), "{e}");
}

#[test]
fn a_stored_resource_without_an_order_gets_one() {
    let a = stored(json!({"kind": "nop", "name": "a"}), None);
    let p = plan(vec![a], vec![spec(json!({"kind": "print", "name": "a"}))]).unwrap();
    assert_eq!(ops(&p), [(Op::Swap, Some("a"), Order::New(0))]);
    assert_eq!(p.new_orders, 1);
}
