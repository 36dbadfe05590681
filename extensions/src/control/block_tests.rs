//! Packet-level tests of `block`: inner specs compiled into a sub-graph, wired by name or by index,
//! with inbounds and outbounds mapping the block's ports to theirs.

use serde_json::{json, Value as Json};
use weir_codecs::codec::CompileContext;
use weir_engine::testing::{map, Collect, Graph};
use weir_engine::{NodeRuntime, OutPort, Value};

use crate::control::testkit::{add, call, compile, install, issue, scheme, values};

fn cel(code: &str) -> Json {
    json!({"kind": "snippet", "language": "cel", "code": code})
}

#[tokio::test]
async fn a_block_without_wiring_chains_its_specs() {
    let mut g = Graph::new();
    let block = add(
        &mut g,
        "b",
        "block",
        json!({"specs": [cel("self + 1"), cel("self * 2")]}),
        &[],
    );
    assert_eq!(call(&block, json!(2)).await, values(&[json!(6)]));
}

#[tokio::test]
async fn inner_specs_link_by_name_and_by_index() {
    let mut g = Graph::new();
    let fields = json!({
        "specs": [
            {"kind": "snippet", "language": "cel", "code": "self + 1", "ports": {"out": {"name": "double", "port": "in"}}},
            {"kind": "snippet", "name": "double", "language": "cel", "code": "self * 2", "ports": {"out": [{"name": "$2", "port": "in"}]}},
            cel("self - 3"),
        ],
        "inbounds": {"in": [{"name": "$0", "port": "in"}]},
        "outbounds": {"out": [{"name": "$2", "port": "out"}]},
    });
    let block = add(&mut g, "b", "block", fields, &[]);
    assert_eq!(call(&block, json!(5)).await, values(&[json!(9)]));
}

#[tokio::test]
async fn outbounds_lead_to_what_the_block_is_linked_to() {
    let mut g = Graph::new();
    let sink = Collect::default();
    g.add("sink", sink.clone(), &[]);
    g.add("other", map(|v| Ok(Value::from(format!("other got {v}")))), &[]);
    let fields = json!({
        "specs": [
            {"kind": "if", "name": "check", "when": "self > 0",
             "ports": {"out[0]": {"name": "pos", "port": "in"}, "out[1]": {"name": "neg", "port": "in"}}},
            {"kind": "snippet", "name": "pos", "language": "cel", "code": "'positive'"},
            {"kind": "snippet", "name": "neg", "language": "cel", "code": "'negative'"},
        ],
        "inbounds": {"in": {"name": "check", "port": "in"}},
        "outbounds": {"out": {"name": "pos", "port": "out"}, "out[1]": {"name": "neg", "port": "out"}},
    });
    let block = add(
        &mut g,
        "b",
        "block",
        fields,
        &[(OutPort::OUT, "sink", 0), (OutPort::Out(1), "other", 0)],
    );
    assert_eq!(call(&block, json!(1)).await, values(&[json!("positive")]));
    assert_eq!(
        call(&block, json!(-1)).await,
        values(&[json!("other got negative")])
    );
    assert_eq!(sink.seen.lock().values, vec![Value::from("positive")]);
}

#[tokio::test]
async fn a_second_in_port_reaches_its_own_inner_spec() {
    let mut g = Graph::new();
    let fields = json!({
        "specs": [
            {"kind": "snippet", "name": "a", "language": "text", "code": "from a"},
            {"kind": "snippet", "name": "b", "language": "text", "code": "from b"},
        ],
        "inbounds": {"in": {"name": "a", "port": "in"}, "in[1]": {"name": "b", "port": "in"}},
        "outbounds": {"out": [{"name": "a", "port": "out"}, {"name": "b", "port": "out"}]},
    });
    let block = add(&mut g, "b", "block", fields, &[]);
    let p = weir_engine::Process::new();
    let reply = weir_engine::call(&block, &p, 1, Value::from(0)).await;
    assert_eq!(reply, values(&[json!("from b")]));
    let missing = weir_engine::call(&block, &p, 2, Value::from(0))
        .await
        .unwrap_err();
    assert!(missing.message().contains("in[2]"), "{missing}");
    p.exit(None);
}

#[tokio::test]
async fn inner_errors_go_to_the_block_error_or_are_the_reply() {
    let mut g = Graph::new();
    g.add("catch", map(|v| Ok(Value::from(format!("caught: {v}")))), &[]);
    let fields = json!({"specs": [cel("self + 1"), cel("1 / self")]});
    let caught = add(
        &mut g,
        "b1",
        "block",
        fields.clone(),
        &[(OutPort::Error, "catch", 0)],
    );
    let reply = call(&caught, json!(-1)).await.unwrap();
    assert!(reply[0].as_str().unwrap().starts_with("caught"), "{reply:?}");
    let uncaught = add(&mut g, "b2", "block", fields, &[]);
    assert!(call(&uncaught, json!(-1)).await.is_err());
    assert_eq!(call(&uncaught, json!(1)).await, values(&[json!(0)]));
}

#[tokio::test]
async fn blocks_nest() {
    let mut g = Graph::new();
    let fields = json!({"specs": [
        cel("self + 1"),
        {"kind": "block", "specs": [cel("self * 10"), cel("self + 5")]},
    ]});
    let block = add(&mut g, "b", "block", fields, &[]);
    assert_eq!(call(&block, json!(1)).await, values(&[json!(25)]));
}

#[tokio::test]
async fn inner_nodes_are_loaded_and_unloaded_with_the_block() {
    let mut g = Graph::new();
    let node = compile("block", json!({"specs": [cel("self")]})).unwrap();
    let slot = install(&mut g, "b", node.clone(), &[]);
    assert_eq!(call(&slot, json!(1)).await, values(&[json!(1)]));
    node.unload();
    let err = call(&slot, json!(1)).await.unwrap_err();
    assert!(err.message().contains("not loaded"), "{err}");
}

#[tokio::test]
async fn a_relinked_block_sends_to_its_new_targets() {
    let mut g = Graph::new();
    g.add("first", map(|_| Ok(Value::from("first"))), &[]);
    g.add("second", map(|_| Ok(Value::from("second"))), &[]);
    let node = compile("block", json!({"specs": [cel("self")]})).unwrap();
    let slot = install(&mut g, "b", node.clone(), &[(OutPort::OUT, "first", 0)]);
    assert_eq!(call(&slot, json!(0)).await, values(&[json!("first")]));
    // The table relinks a node whose links changed without loading it again.
    slot.install(NodeRuntime::from_boxed("b", node).link(OutPort::OUT, &g.slot("second"), 0));
    assert_eq!(call(&slot, json!(0)).await, values(&[json!("second")]));
}

#[test]
fn errors_name_the_field() {
    let unknown = issue("block", json!({"specs": [cel("self"), {"kind": "teleport"}]}));
    assert_eq!(unknown.field, "specs[1].kind");
    assert!(unknown.message.contains("teleport"), "{}", unknown.message);

    let inner = issue(
        "block",
        json!({"specs": [{"kind": "snippet", "language": "cobol"}]}),
    );
    assert_eq!(inner.field, "specs[0].language");

    let reference = issue(
        "block",
        json!({"specs": [{"kind": "snippet", "language": "text", "ports": {"out": {"name": "nowhere", "port": "in"}}}]}),
    );
    assert_eq!(reference.field, "specs[0].ports.out[0]");
    assert!(reference.message.contains("\"nowhere\""), "{}", reference.message);

    let inbound = issue(
        "block",
        json!({"specs": [cel("self")], "inbounds": {"in": {"name": "$1", "port": "in"}}}),
    );
    assert_eq!(inbound.field, "inbounds.in[0]");

    let outbound = issue(
        "block",
        json!({"specs": [cel("self")], "outbounds": {"out": {"name": "$0", "port": "in"}}}),
    );
    assert_eq!(outbound.field, "outbounds.out[0].port");

    let bad_port = issue(
        "block",
        json!({"specs": [cel("self")], "inbounds": {"input": {"name": "$0", "port": "in"}}}),
    );
    assert_eq!(bad_port.field, "inbounds.input");

    let twice = issue(
        "block",
        json!({"specs": [{"kind": "nop", "name": "x"}, {"kind": "nop", "name": "x"}]}),
    );
    assert_eq!(twice.field, "specs[1].name");

    assert_eq!(issue("block", json!({"specs": []})).field, "specs");
    assert_eq!(
        issue("block", json!({"specs": [{"language": "text"}]})).field,
        "specs.0"
    );
}

#[test]
fn without_a_scheme_a_block_cannot_compile() {
    let scheme = scheme();
    let err = scheme
        .get("block")
        .unwrap()
        .compile(
            &json!({"specs": [cel("self")]}),
            &CompileContext::new("default", "b"),
        )
        .err()
        .unwrap();
    assert_eq!(err[0].field, "specs");
}

#[test]
fn the_schema_describes_specs_and_bounds() {
    let scheme = scheme();
    let codec = scheme.get("block").unwrap();
    let schema = codec.schema().to_string();
    assert!(
        schema.contains("inbounds") && schema.contains("outbounds"),
        "{schema}"
    );
    assert_eq!(codec.ports().outputs, vec!["out[*]", "error"]);
    let issues = codec.decode(&json!({"specs": "nope"})).unwrap_err();
    assert_eq!(issues[0].field, "specs.0");
    assert!(codec
        .decode(&json!({"specs": [{"kind": "nop"}], "inbounds": {"in": {"name": "x"}}}))
        .is_err());
}

#[tokio::test]
async fn io_maps_to_inner_io_ports_as_uniflows_watch_blocks_do() {
    let mut g = Graph::new();
    let fields = json!({
        "specs": [{"kind": "session", "name": "watchers"}],
        "inbounds": {"io": [{"name": "watchers", "port": "io"}], "in": {"name": "watchers", "port": "in"}},
    });
    let block = add(&mut g, "b", "block", fields, &[]);
    let owner = weir_engine::Process::new();
    let io = weir_codecs::resource::IO_PORT;
    let stored = weir_engine::call(&block, &owner, io, Value::from("watcher-1")).await;
    assert_eq!(stored, values(&[]));
    let sender = weir_engine::Process::new();
    let reply = weir_engine::call(&block, &sender, 0, Value::from("event")).await;
    assert_eq!(reply, values(&[json!(["watcher-1", "event"])]));
    sender.exit(None);
    owner.exit(None);
}
