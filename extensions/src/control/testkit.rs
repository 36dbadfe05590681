//! Helpers for the packet-level tests of the control kinds: compile a spec's fields through a scheme
//! holding every kind of this crate, install nodes with links in a test graph, call them.

use std::sync::Arc;

use serde_json::Value as Json;
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::Graph;
use weir_engine::{BoxedNode, NodeRuntime, NodeSlot, OutPort, Process, Result, Value};

/// Every kind of this crate.
pub fn scheme() -> Scheme {
    let mut scheme = Scheme::new();
    crate::register(&mut scheme);
    scheme
}

/// Compiles `fields` as a spec of `kind` named `name`.
pub fn compile(kind: &str, fields: Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let scheme = scheme();
    let codec = scheme.get(kind).expect("the kind is registered");
    codec.compile(
        &fields,
        &CompileContext::new("default", kind).with_scheme(&scheme),
    )
}

/// The one issue of a compile that must fail.
pub fn issue(kind: &str, fields: Json) -> FieldIssue {
    match compile(kind, fields) {
        Ok(_) => panic!("a {kind} with these fields must not compile"),
        Err(mut issues) => {
            assert_eq!(issues.len(), 1, "{issues:?}");
            issues.remove(0)
        }
    }
}

/// Installs `node` at `name` with links `(out port, target, target in port)` and runs its load hook.
pub fn install(
    g: &mut Graph,
    name: &str,
    node: BoxedNode,
    links: &[(OutPort, &str, usize)],
) -> Arc<NodeSlot> {
    let mut rt = NodeRuntime::from_boxed(name, node.clone());
    for (port, target, in_port) in links {
        rt = rt.link(*port, &g.slot(target), *in_port);
    }
    let slot = g.slot(name);
    slot.install(rt);
    node.load(&slot).expect("loads");
    slot
}

/// Compiles and installs a spec of `kind` at `name`.
pub fn add(
    g: &mut Graph,
    name: &str,
    kind: &str,
    fields: Json,
    links: &[(OutPort, &str, usize)],
) -> Arc<NodeSlot> {
    let node = compile(kind, fields).expect("compiles");
    install(g, name, node, links)
}

/// Sends one JSON value into `slot` in a process of its own; the whole reply.
pub async fn call(slot: &Arc<NodeSlot>, input: Json) -> Result<Vec<Value>> {
    let p = Process::new();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        weir_engine::call(slot, &p, 0, Value::from(input)),
    )
    .await
    .expect("the call is answered within 10 s");
    p.exit(None);
    out
}

/// A reply of JSON values.
pub fn values(items: &[Json]) -> Result<Vec<Value>> {
    Ok(items.iter().map(Value::from).collect())
}
