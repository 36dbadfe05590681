//! Packet-level tests of `switch`.

use serde_json::json;
use weir_engine::testing::{map, Graph};
use weir_engine::{OutPort, Value};

use crate::control::testkit::{add, call, issue, values};

fn tag(t: &'static str) -> impl weir_engine::Node {
    map(move |_| Ok(Value::from(t)))
}

fn fields() -> serde_json::Value {
    json!({"matches": [
        {"when": "self.status == 'ok'", "port": "out[0]"},
        {"when": "self.status.startsWith('o')", "port": "out[1]"},
        {"when": "self.status == 'error'", "port": "out[1]"},
    ]})
}

#[tokio::test]
async fn the_first_match_wins() {
    let mut g = Graph::new();
    g.add("zero", tag("zero"), &[]);
    g.add("one", tag("one"), &[]);
    let node = add(
        &mut g,
        "switch",
        "switch",
        fields(),
        &[(OutPort::Out(0), "zero", 0), (OutPort::Out(1), "one", 0)],
    );
    assert_eq!(
        call(&node, json!({"status": "ok"})).await,
        values(&[json!("zero")])
    );
    assert_eq!(
        call(&node, json!({"status": "odd"})).await,
        values(&[json!("one")])
    );
    assert_eq!(
        call(&node, json!({"status": "error"})).await,
        values(&[json!("one")])
    );
}

#[tokio::test]
async fn no_match_echoes_the_input() {
    let mut g = Graph::new();
    g.add("zero", tag("zero"), &[]);
    let node = add(
        &mut g,
        "switch",
        "switch",
        fields(),
        &[(OutPort::Out(0), "zero", 0)],
    );
    assert_eq!(
        call(&node, json!({"status": "unknown"})).await,
        values(&[json!({"status": "unknown"})])
    );
}

#[test]
fn a_port_that_is_not_indexed_is_an_error_naming_the_match() {
    let i = issue(
        "switch",
        json!({"matches": [{"when": "true", "port": "out[0]"}, {"when": "true", "port": "out"}]}),
    );
    assert_eq!(i.field, "matches.1.port");
    assert!(i.message.contains("out"), "{}", i.message);
    assert_eq!(
        issue(
            "switch",
            json!({"matches": [{"when": "self ==", "port": "out[0]"}]})
        )
        .field,
        "matches.0.when"
    );
}

#[tokio::test]
async fn an_error_is_matched_by_its_category_as_uniflows_catch_does() {
    let mut g = Graph::new();
    g.add("bad", tag("400"), &[]);
    g.add("other", tag("500"), &[]);
    let node = add(
        &mut g,
        "catch",
        "switch",
        json!({"matches": [
            {"when": "self == \"unsupported type\" || self == \"unsupported value\"", "port": "out[0]"},
            {"when": "true", "port": "out[1]"},
        ]}),
        &[(OutPort::Out(0), "bad", 0), (OutPort::Out(1), "other", 0)],
    );
    let error = |kind| {
        let p = weir_engine::Process::new();
        let e = Value::Error(weir_engine::Error::new(kind, "x"));
        let node = node.clone();
        async move {
            let out = weir_engine::call(&node, &p, 0, e).await.unwrap();
            p.exit(None);
            out
        }
    };
    assert_eq!(
        error(weir_engine::ErrorKind::UnsupportedValue).await,
        vec![Value::from("400")]
    );
    assert_eq!(
        error(weir_engine::ErrorKind::Conflict).await,
        vec![Value::from("500")]
    );
}
