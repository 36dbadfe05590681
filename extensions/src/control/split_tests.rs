//! Packet-level tests of `split`.

use serde_json::json;
use weir_engine::testing::{map, Graph};
use weir_engine::{OutPort, Value};

use crate::control::testkit::{add, call, issue, values};

fn plus(n: i64) -> impl weir_engine::Node {
    map(move |v| Ok(Value::from(v.as_i64().unwrap_or(0) + n)))
}

#[tokio::test]
async fn element_i_goes_to_out_i_and_unconnected_elements_echo() {
    let mut g = Graph::new();
    g.add("a", plus(10), &[]);
    g.add("b", plus(100), &[]);
    let split = add(
        &mut g,
        "split",
        "split",
        json!({}),
        &[(OutPort::Out(0), "a", 0), (OutPort::Out(1), "b", 0)],
    );
    assert_eq!(
        call(&split, json!([1, 2, 3])).await,
        values(&[json!(11), json!(102), json!(3)])
    );
}

#[tokio::test]
async fn a_payload_that_is_not_a_list_goes_to_out_0() {
    let mut g = Graph::new();
    g.add("a", plus(10), &[]);
    g.add("b", plus(100), &[]);
    let split = add(
        &mut g,
        "split",
        "split",
        json!({}),
        &[(OutPort::OUT, "a", 0), (OutPort::Out(1), "b", 0)],
    );
    assert_eq!(call(&split, json!(5)).await, values(&[json!(15)]));
}

#[tokio::test]
async fn parts_keep_the_lineage_so_a_merge_pairs_them_again() {
    let mut g = Graph::new();
    add(&mut g, "merge", "merge", json!({}), &[]);
    g.add("a", plus(10), &[(OutPort::OUT, "merge", 0)]);
    g.add("b", plus(100), &[(OutPort::OUT, "merge", 1)]);
    let split = add(
        &mut g,
        "split",
        "split",
        json!({}),
        &[(OutPort::Out(0), "a", 0), (OutPort::Out(1), "b", 0)],
    );
    // The merge fires when the second part arrives: its reply is the merged list; the first part's
    // reply is empty.
    assert_eq!(call(&split, json!([1, 2])).await, values(&[json!([11, 102])]));
}

#[test]
fn takes_no_fields() {
    assert_eq!(issue("split", json!({"sizes": 2})).field, "");
}
