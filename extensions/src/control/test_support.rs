//! Helpers for the packet-level tests of the control kinds: compile a spec's fields through the
//! scheme and load the node into a graph slot with its links.

use std::sync::Arc;

use serde_json::Value as Json;
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::Graph;
use weir_engine::{BoxedNode, NodeRuntime, NodeSlot, OutPort, Process, Result, Value};

/// The scheme with the control kinds registered.
pub(crate) fn scheme() -> Scheme {
    let mut scheme = Scheme::new();
    crate::control::register(&mut scheme);
    scheme
}

/// Compiles `fields` as a spec of `kind` named `n`.
pub(crate) fn compile(kind: &str, fields: Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let scheme = scheme();
    let codec = scheme.get(kind).unwrap_or_else(|| panic!("{kind} is registered"));
    codec.compile(&fields, &CompileContext::new("default", "n"))
}

/// Compiles and loads a node of `kind` at `name`, linked by `(out port, target, target in port)`.
pub(crate) fn load(
    g: &mut Graph,
    name: &str,
    kind: &str,
    fields: Json,
    links: &[(OutPort, &str, usize)],
) -> Arc<NodeSlot> {
    let node = compile(kind, fields).unwrap_or_else(|e| panic!("{kind} compiles: {e:?}"));
    let mut rt = NodeRuntime::from_boxed(name, node);
    for (port, target, in_port) in links {
        rt = rt.link(*port, &g.slot(target), *in_port);
    }
    let slot = g.slot(name);
    slot.install(rt);
    slot
}

/// One call in a process of its own, which then exits.
pub(crate) async fn call(slot: &Arc<NodeSlot>, input: Value) -> Result<Vec<Value>> {
    let p = Process::new();
    let out = weir_engine::call(slot, &p, 0, input).await;
    p.exit(None);
    out
}

/// A reply of one value.
pub(crate) fn one(v: impl Into<Value>) -> Result<Vec<Value>> {
    Ok(vec![v.into()])
}
