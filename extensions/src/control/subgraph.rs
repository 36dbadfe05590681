//! Sub-graphs: a list of specs compiled into inner nodes, linked among themselves, and run as one
//! outer node. `block` and `step` are built on it, and so can a chart (a named composite kind): the
//! inputs are exactly a chart's `specs`, `inbounds` and `outbounds`.
//!
//! - Each inner spec is compiled with the outer spec's scheme; an inner spec without a name is named
//!   by its index, `$0`, `$1`…, and its `ports` refer to other inner specs by name (or id).
//! - `inbounds` maps an outer in port (`in`, `in[N]`, `io`) to inner specs' in ports; `outbounds` maps an
//!   outer out port (`out`, `out[N]`, `error`) to inner specs' out ports.
//! - Running: the outer node sends each packet it gets on an in port to the inner ports mapped to it
//!   and answers with their reply ([`Composite`]). An inner out port mapped to an outer out port is
//!   linked straight to whatever the outer port is linked to, so nothing is copied on the way out; an
//!   unconnected outer port leaves the inner port unconnected, and the inner node's result is then
//!   the reply, as for any node.
//! - Inner nodes live in their own slots, installed and loaded when the outer node is loaded and
//!   unloaded with it. When the outer node is relinked without being reloaded (hot reload of its
//!   `ports` only), the inner nodes linked outward are relinked at the next packet.

use std::sync::{Arc, Weak};

use indexmap::IndexMap;
use parking_lot::Mutex;
use serde_json::Value as Json;
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::{FieldIssue, PortBase, PortName, PortRef, Spec};
use weir_engine::slot::Target;
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, NodeRuntime, NodeSlot, OutPort, Result};

use super::request::Requests;

/// Where the outer ports go when the spec does not say.
#[derive(Debug, Clone, Copy, Default)]
pub struct Defaults {
    /// Link each inner spec's `out` to the next one's `in` (a chain, as `step`).
    pub chain: bool,
    /// Without `inbounds`, `in` goes to the first inner spec's `in`; without an `out` in
    /// `outbounds`, `out` comes from the last inner spec's `out`.
    pub ends: bool,
    /// Without an `error` in `outbounds`, every inner spec's `error` that is not linked inside goes
    /// to the outer `error`.
    pub errors: bool,
}

/// What a sub-graph is built from, with the names of the outer spec's fields for messages.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    pub specs: Vec<Spec>,
    pub inbounds: IndexMap<String, Vec<PortRef>>,
    pub outbounds: IndexMap<String, Vec<PortRef>>,
    pub defaults: Defaults,
}

struct Inner {
    name: String,
    node: BoxedNode,
    slot: Arc<NodeSlot>,
    /// Links inside the sub-graph: (out port, inner index, in port).
    links: Vec<(OutPort, usize, usize)>,
    /// Out ports linked to the outer node's out ports: (inner port, outer port).
    exits: Vec<(OutPort, OutPort)>,
}

#[derive(Default)]
struct Loaded {
    outer: Option<Weak<NodeSlot>>,
    /// The outer runtime the exits were linked with.
    linked_with: Option<Weak<NodeRuntime>>,
}

/// Compiled inner specs and their wiring.
pub struct Subgraph {
    owner: String,
    inner: Vec<Inner>,
    /// By outer in port: where a packet goes.
    entries: Vec<Vec<Target>>,
    loaded: Mutex<Loaded>,
}

impl std::fmt::Debug for Subgraph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subgraph")
            .field("owner", &self.owner)
            .field("inner", &self.inner.iter().map(|i| &i.name).collect::<Vec<_>>())
            .finish()
    }
}

/// Reads a list of inner specs from `field` (a JSON list); errors name `field[i].…`.
pub fn read_specs(field: &str, specs: &[Json]) -> std::result::Result<Vec<Spec>, FieldIssue> {
    specs
        .iter()
        .enumerate()
        .map(|(i, v)| Spec::from_value(v).map_err(|e| within(&format!("{field}[{i}]"), e)))
        .collect()
}

/// Reads a map of port name → references (one reference or a list) from `field`.
pub fn read_ports(
    field: &str,
    ports: &IndexMap<String, Json>,
) -> std::result::Result<IndexMap<String, Vec<PortRef>>, FieldIssue> {
    // A spec's `ports` has exactly this shape: read it as one, then name the field.
    let probe = serde_json::json!({"kind": "-", "ports": ports});
    match Spec::from_value(&probe) {
        Ok(spec) => Ok(spec.ports),
        Err(e) => Err(FieldIssue::new(e.field.replacen("ports", field, 1), e.message)),
    }
}

fn within(path: &str, e: FieldIssue) -> FieldIssue {
    let field = if e.field.is_empty() {
        path.to_string()
    } else {
        format!("{path}.{}", e.field)
    };
    FieldIssue::new(field, e.message)
}

fn describe(r: &PortRef) -> String {
    match (&r.name, &r.id) {
        (Some(n), _) => format!("\"{n}\""),
        (None, Some(id)) => id.to_string(),
        (None, None) => "(no name or id)".into(),
    }
}

impl Subgraph {
    /// Compiles `parts` for the outer spec described by `cx` (which must carry the scheme).
    pub fn compile(parts: Parts, cx: &CompileContext<'_>) -> std::result::Result<Self, FieldIssue> {
        let Some(scheme) = cx.scheme else {
            return Err(FieldIssue::new(
                "specs",
                "inner specs cannot be compiled here (no scheme was given)",
            ));
        };
        if parts.specs.is_empty() {
            return Err(FieldIssue::new("specs", "needs at least one spec"));
        }
        let names: Vec<String> = parts
            .specs
            .iter()
            .enumerate()
            .map(|(i, s)| s.name.clone().unwrap_or_else(|| format!("${i}")))
            .collect();
        for (i, name) in names.iter().enumerate() {
            if names[..i].contains(name) {
                return Err(FieldIssue::new(
                    format!("specs[{i}].name"),
                    format!("another inner spec is named \"{name}\""),
                ));
            }
        }
        let find = |r: &PortRef| -> Option<usize> {
            if let Some(n) = &r.name {
                return names.iter().position(|x| x == n);
            }
            let id = r.id?;
            parts.specs.iter().position(|s| s.id == Some(id))
        };
        let unknown = |field: String, r: &PortRef| {
            FieldIssue::new(
                field,
                format!(
                    "no inner spec {} (inner specs: {})",
                    describe(r),
                    names.join(", ")
                ),
            )
        };

        let mut inner = Vec::with_capacity(parts.specs.len());
        for (i, spec) in parts.specs.iter().enumerate() {
            let at = format!("specs[{i}]");
            let node = compile_one(scheme, cx, spec, &names[i]).map_err(|e| within(&at, e))?;
            let mut links = Vec::new();
            for (port, refs) in &spec.ports {
                let field = format!("{at}.ports.{port}");
                let source = out_port(port).map_err(|m| FieldIssue::new(&field, m))?;
                for (j, r) in refs.iter().enumerate() {
                    let target = find(r).ok_or_else(|| unknown(format!("{field}[{j}]"), r))?;
                    let in_port =
                        in_port(&r.port).map_err(|m| FieldIssue::new(format!("{field}[{j}].port"), m))?;
                    links.push((source, target, in_port));
                }
            }
            inner.push(Inner {
                name: names[i].clone(),
                node,
                slot: NodeSlot::new(format!("{}/{}", cx.name, names[i])),
                links,
                exits: Vec::new(),
            });
        }

        let last = inner.len() - 1;
        if parts.defaults.chain {
            for (i, node) in inner.iter_mut().enumerate().take(last) {
                node.links.push((OutPort::OUT, i + 1, 0));
            }
        }

        let mut entries: Vec<Vec<Target>> = Vec::new();
        let mut inbounds = parts.inbounds.clone();
        if inbounds.is_empty() && parts.defaults.ends {
            inbounds.insert("in".into(), vec![PortRef::named(&names[0], "in")]);
        }
        for (port, refs) in &inbounds {
            let field = format!("inbounds.{port}");
            let outer = in_port(port).map_err(|m| FieldIssue::new(&field, m))?;
            if entries.len() <= outer {
                entries.resize_with(outer + 1, Vec::new);
            }
            for (j, r) in refs.iter().enumerate() {
                let target = find(r).ok_or_else(|| unknown(format!("{field}[{j}]"), r))?;
                let port = in_port(&r.port).map_err(|m| FieldIssue::new(format!("{field}[{j}].port"), m))?;
                entries[outer].push(Target {
                    slot: inner[target].slot.clone(),
                    port,
                });
            }
        }

        let mut outbounds = parts.outbounds.clone();
        if parts.defaults.ends && !outbounds.keys().any(|k| out_port(k) == Ok(OutPort::OUT)) {
            outbounds.insert("out".into(), vec![PortRef::named(&names[last], "out")]);
        }
        let explicit_error = outbounds.keys().any(|k| out_port(k) == Ok(OutPort::Error));
        for (port, refs) in &outbounds {
            let field = format!("outbounds.{port}");
            let outer = out_port(port).map_err(|m| FieldIssue::new(&field, m))?;
            for (j, r) in refs.iter().enumerate() {
                let source = find(r).ok_or_else(|| unknown(format!("{field}[{j}]"), r))?;
                let port = out_port(&r.port).map_err(|m| FieldIssue::new(format!("{field}[{j}].port"), m))?;
                inner[source].exits.push((port, outer));
            }
        }
        if parts.defaults.errors && !explicit_error {
            for (i, node) in inner.iter_mut().enumerate() {
                let linked = parts.specs[i]
                    .ports
                    .keys()
                    .any(|k| out_port(k) == Ok(OutPort::Error));
                if !linked {
                    node.exits.push((OutPort::Error, OutPort::Error));
                }
            }
        }

        Ok(Subgraph {
            owner: cx.name.to_string(),
            inner,
            entries,
            loaded: Mutex::new(Loaded::default()),
        })
    }

    /// The inner nodes' names, in spec order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.inner.iter().map(|i| i.name.as_str())
    }

    /// The slot of the inner node `name`.
    pub fn slot(&self, name: &str) -> Option<&Arc<NodeSlot>> {
        self.inner.iter().find(|i| i.name == name).map(|i| &i.slot)
    }

    fn runtime(&self, i: usize, outer: Option<&NodeRuntime>) -> NodeRuntime {
        let node = &self.inner[i];
        let mut rt = NodeRuntime::from_boxed(node.slot.name(), node.node.clone());
        for &(port, target, in_port) in &node.links {
            rt = rt.link(port, &self.inner[target].slot, in_port);
        }
        if let Some(outer) = outer {
            for &(port, outer_port) in &node.exits {
                for t in outer.targets(outer_port) {
                    rt = rt.link(port, &t.slot, t.port);
                }
            }
        }
        rt
    }

    /// Installs and loads the inner nodes, the last first (downstream before upstream, as the table
    /// does), linking exits to what `outer`'s node is linked to.
    pub fn load(&self, outer: &Arc<NodeSlot>) -> Result<()> {
        let rt = outer.runtime();
        {
            let mut loaded = self.loaded.lock();
            loaded.outer = Some(Arc::downgrade(outer));
            loaded.linked_with = rt.as_ref().map(Arc::downgrade);
        }
        for i in (0..self.inner.len()).rev() {
            let node = &self.inner[i];
            node.slot.install(self.runtime(i, rt.as_deref()));
            node.node
                .load(&node.slot)
                .map_err(|e| e.context(format!("inner spec \"{}\" of \"{}\"", node.name, self.owner)))?;
        }
        Ok(())
    }

    /// Unloads the inner nodes, the first first (upstream before downstream).
    pub fn unload(&self) {
        *self.loaded.lock() = Loaded::default();
        for node in &self.inner {
            node.node.unload();
            node.slot.uninstall();
        }
    }

    /// Relinks the exits when the outer node was relinked since they were linked.
    pub fn refresh(&self) {
        let mut loaded = self.loaded.lock();
        let Some(outer) = loaded.outer.as_ref().and_then(Weak::upgrade) else {
            return;
        };
        let Some(rt) = outer.runtime() else { return };
        let same = loaded
            .linked_with
            .as_ref()
            .is_some_and(|w| std::ptr::eq(w.as_ptr(), Arc::as_ptr(&rt)));
        if same {
            return;
        }
        loaded.linked_with = Some(Arc::downgrade(&rt));
        drop(loaded);
        for (i, node) in self.inner.iter().enumerate() {
            if !node.exits.is_empty() {
                node.slot.install(self.runtime(i, Some(&rt)));
            }
        }
    }

    /// Where a packet on the outer in port `port` goes.
    pub fn entry(&self, port: usize) -> Result<&[Target]> {
        match self.entries.get(port) {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(Error::new(
                ErrorKind::UnsupportedValue,
                format!(
                    "node \"{}\" has no in port {} (see its inbounds)",
                    self.owner,
                    PortName::indexed(PortBase::In, port)
                ),
            )),
        }
    }
}

fn compile_one(
    scheme: &Scheme,
    cx: &CompileContext<'_>,
    spec: &Spec,
    name: &str,
) -> std::result::Result<BoxedNode, FieldIssue> {
    if !spec.env.is_empty() {
        return Err(FieldIssue::new(
            "env",
            "an inner spec takes its env from the spec that holds it; put env there",
        ));
    }
    let Some(codec) = scheme.get(&spec.kind) else {
        return Err(FieldIssue::new("kind", format!("unknown kind \"{}\"", spec.kind)));
    };
    let fields = Json::Object(spec.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    let qualified = format!("{}/{name}", cx.name);
    let inner_cx = CompileContext::new(cx.namespace, &qualified).with_scheme(scheme);
    codec.compile(&fields, &inner_cx).map_err(|issues| {
        let field = issues.first().map(|i| i.field.clone()).unwrap_or_default();
        let message = issues
            .iter()
            .map(|i| {
                if i.field == field {
                    i.message.clone()
                } else {
                    format!("{}: {}", i.field, i.message)
                }
            })
            .collect::<Vec<_>>()
            .join("; ");
        FieldIssue::new(field, message)
    })
}

/// An out port name: `out`, `out[N]` or `error`.
fn out_port(name: &str) -> std::result::Result<OutPort, String> {
    match PortName::parse(name).map_err(|e| e.to_string())? {
        PortName {
            base: PortBase::Out,
            index,
        } => Ok(OutPort::Out(index.unwrap_or(0))),
        PortName {
            base: PortBase::Error,
            index: None | Some(0),
        } => Ok(OutPort::Error),
        _ => Err(format!(
            "\"{name}\" is not an out port here (use out, out[N] or error)"
        )),
    }
}

/// An in port name: `in`, `in[N]` or `io` (uniflow's blocks map `io` to a gateway's or session's).
fn in_port(name: &str) -> std::result::Result<usize, String> {
    match PortName::parse(name).map_err(|e| e.to_string())? {
        PortName {
            base: PortBase::In,
            index,
        } => Ok(index.unwrap_or(0)),
        PortName {
            base: PortBase::Io,
            index: None,
        } => Ok(weir_codecs::resource::IO_PORT),
        _ => Err(format!("\"{name}\" is not an in port (use in, in[N] or io)")),
    }
}

/// The outer node of a sub-graph: each packet goes to the inner ports its in port is mapped to, and
/// their reply, element by element as it comes, is the packet's reply.
pub struct Composite {
    graph: Arc<Subgraph>,
}

impl Composite {
    pub fn new(graph: Subgraph) -> Self {
        Composite {
            graph: Arc::new(graph),
        }
    }

    pub fn graph(&self) -> &Arc<Subgraph> {
        &self.graph
    }
}

impl Node for Composite {
    type State = Requests;
    const ON_EOS: bool = false;

    async fn on_packet(&self, lanes: &mut Requests, cx: &mut Cx, input: Input) -> Result<()> {
        self.graph.refresh();
        let targets = self.graph.entry(input.port)?;
        let mut pending = lanes
            .send(cx.process(), input.port, targets, input.packet)
            .await?;
        while let Some(element) = lanes.next(&mut pending).await {
            match element {
                Ok(v) => cx.reply(v).await?,
                // The inner nodes' errors were routed inside already: this is the answer as it is.
                Err(e) => {
                    cx.fail(e);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    async fn on_finish(&self, lanes: &mut Requests, _cx: &mut Cx) -> Result<()> {
        lanes.close();
        Ok(())
    }

    fn on_load(&self, slot: &Arc<NodeSlot>) -> Result<()> {
        self.graph.load(slot)
    }

    fn on_unload(&self) {
        self.graph.unload();
    }
}
