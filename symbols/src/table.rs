//! The symbol table of one namespace and its `apply`: the one path for the first load (a diff from
//! empty) and every hot reload. `apply` takes the specs that were stored or changed, the ids removed,
//! and the namespace's Values; it recompiles only what changed (a spec's content or the data of a Value
//! it binds), relinks, recomputes which symbols are active, then stops (upstream first), swaps and
//! starts (downstream first). A swapped node keeps its slot, so packets waiting for it are not lost and
//! processes already running finish on the old node. An unchanged re-apply touches nothing.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use uuid::Uuid;
use weir_codecs::codec::Scheme;
use weir_codecs::resource::{FieldError, FieldIssue, Spec, ValueResource};
use weir_engine::{BoxedNode, NodeRuntime, NodeSlot, Process, Value};

use crate::activate::{active_set, downstream_first};
use crate::compile::{bind_env, compile, host_env, BoundEnv, HostEnv};
use crate::links::{describe, source_port, target_port, Source};

/// A symbol as hooks see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolInfo {
    pub namespace: String,
    pub id: Uuid,
    pub name: Option<String>,
    pub kind: String,
}

/// Called when a symbol becomes active (load) and when it stops (unload).
pub trait Hook: Send + Sync {
    fn load(&self, _symbol: &SymbolInfo) {}
    fn unload(&self, _symbol: &SymbolInfo) {}
}

/// A symbol's state, as `weir get` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Active,
    Inactive(String),
}

type Links = Vec<(Source, Vec<(Uuid, usize)>)>;

struct Symbol {
    spec: Spec,
    env: Result<BoundEnv, String>,
    slot: Arc<NodeSlot>,
    node: Result<BoxedNode, String>,
    /// Bumped whenever the node is recompiled.
    generation: u64,
    links: Links,
    link_error: Option<String>,
    /// What is loaded in the slot now: the node generation and the links it was built with.
    installed: Option<(u64, Links)>,
    status: Status,
}

impl Symbol {
    fn info(&self) -> SymbolInfo {
        SymbolInfo {
            namespace: self.spec.namespace.clone(),
            id: self.spec.id.unwrap_or_default(),
            name: self.spec.name.clone(),
            kind: self.spec.kind.clone(),
        }
    }

    fn targets(links: &Links) -> Vec<Uuid> {
        links
            .iter()
            .flat_map(|(_, ts)| ts.iter().map(|(id, _)| *id))
            .collect()
    }
}

/// The symbols of one namespace.
pub struct Table {
    namespace: String,
    scheme: Arc<Scheme>,
    /// The host's `--env`, as template data.
    host: BoundEnv,
    symbols: IndexMap<Uuid, Symbol>,
    hooks: Vec<Arc<dyn Hook>>,
    /// Set by `shutdown`, which has already run the `term` ports.
    term_sent: bool,
}

impl Table {
    pub fn new(namespace: impl Into<String>, scheme: Arc<Scheme>, host: HostEnv) -> Self {
        Table {
            namespace: namespace.into(),
            scheme,
            host: host_env(&host),
            symbols: IndexMap::new(),
            hooks: Vec::new(),
            term_sent: false,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn add_hook(&mut self, hook: Arc<dyn Hook>) {
        self.hooks.push(hook);
    }

    /// The slot of the spec named `name` (active or not).
    pub fn slot(&self, name: &str) -> Option<Arc<NodeSlot>> {
        self.symbols
            .values()
            .find(|s| s.spec.name.as_deref() == Some(name))
            .map(|s| s.slot.clone())
    }

    /// Each named spec's kind, by name (what a job's events call `node_type`).
    pub fn kinds(&self) -> std::collections::HashMap<String, String> {
        self.symbols
            .values()
            .filter_map(|s| Some((s.spec.name.clone()?, s.spec.kind.clone())))
            .collect()
    }

    /// Each spec's name (or id) and status, in insertion order.
    pub fn statuses(&self) -> Vec<(Uuid, String, Status)> {
        self.symbols
            .iter()
            .map(|(id, s)| (*id, s.spec.name_or_id(), s.status.clone()))
            .collect()
    }

    pub fn status(&self, name: &str) -> Option<Status> {
        self.symbols
            .values()
            .find(|s| s.spec.name.as_deref() == Some(name))
            .map(|s| s.status.clone())
    }

    pub fn len(&self) -> usize {
        self.symbols.len()
    }

    pub fn is_empty(&self) -> bool {
        self.symbols.is_empty()
    }

    /// Applies a change: `upserts` stored or changed (each with an id), `removed` ids, and every Value
    /// of the namespace (a Value change recompiles exactly the specs bound to it).
    pub fn apply(&mut self, upserts: Vec<Spec>, removed: &[Uuid], values: &[ValueResource]) {
        let old_targets: HashMap<Uuid, Vec<Uuid>> = self
            .symbols
            .iter()
            .filter_map(|(id, s)| s.installed.as_ref().map(|(_, l)| (*id, Symbol::targets(l))))
            .collect();
        let mut stops: Vec<(Arc<NodeSlot>, BoxedNode, SymbolInfo, Links)> = Vec::new();

        for id in removed {
            if let Some(sym) = self.symbols.shift_remove(id) {
                if let (Some((_, links)), Ok(node)) = (sym.installed.clone(), sym.node.clone()) {
                    stops.push((sym.slot.clone(), node, sym.info(), links));
                }
            }
        }

        // Recompile what changed: new specs, changed specs, and specs whose bound env changed.
        let mut by_id: HashMap<Uuid, Spec> = HashMap::new();
        for mut spec in upserts {
            let id = spec.ensure_id();
            spec.namespace.clone_from(&self.namespace);
            by_id.insert(id, spec);
        }
        let mut changed_nodes: Vec<(Uuid, Option<BoxedNode>)> = Vec::new();
        let ids: Vec<Uuid> = self
            .symbols
            .keys()
            .copied()
            .chain(by_id.keys().copied())
            .collect();
        let mut seen = HashSet::new();
        for id in ids {
            if !seen.insert(id) {
                continue;
            }
            // A spec not in this change is only re-read when its bound env changed (no clone of
            // every spec per apply: a namespace may hold thousands).
            let new_spec = by_id.remove(&id);
            let env = match (&new_spec, self.symbols.get(&id)) {
                (Some(spec), _) => bind_env(spec, values, &self.host),
                (None, Some(sym)) => bind_env(&sym.spec, values, &self.host),
                (None, None) => continue,
            };
            match self.symbols.get_mut(&id) {
                Some(sym) if new_spec.as_ref().is_none_or(|s| *s == sym.spec) && sym.env == env => {}
                Some(sym) => {
                    let spec = new_spec.unwrap_or_else(|| sym.spec.clone());
                    let node = match &env {
                        Ok(env) => compile(&spec, env, &self.scheme),
                        Err(e) => Err(e.clone()),
                    };
                    let old = sym.node.clone().ok().filter(|_| sym.installed.is_some());
                    sym.spec = spec;
                    sym.env = env;
                    sym.node = node;
                    sym.generation += 1;
                    changed_nodes.push((id, old));
                }
                None => {
                    let Some(spec) = new_spec else { continue };
                    let node = match &env {
                        Ok(env) => compile(&spec, env, &self.scheme),
                        Err(e) => Err(e.clone()),
                    };
                    let slot = NodeSlot::new(spec.name_or_id());
                    self.symbols.insert(
                        id,
                        Symbol {
                            spec,
                            env,
                            slot,
                            node,
                            generation: 0,
                            links: Vec::new(),
                            link_error: None,
                            installed: None,
                            status: Status::Inactive("not loaded yet".into()),
                        },
                    );
                }
            }
        }

        self.resolve_links();
        let candidates: HashSet<Uuid> = self
            .symbols
            .iter()
            .filter(|(_, s)| s.node.is_ok() && s.link_error.is_none())
            .map(|(id, _)| *id)
            .collect();
        let targets: HashMap<Uuid, Vec<Uuid>> = self
            .symbols
            .iter()
            .map(|(id, s)| (*id, Symbol::targets(&s.links)))
            .collect();
        let active = active_set(&candidates, &targets);

        // Stop what is no longer active, upstream first.
        let going: Vec<Uuid> = self
            .symbols
            .iter()
            .filter(|(id, s)| s.installed.is_some() && !active.contains(id))
            .map(|(id, _)| *id)
            .collect();
        let mut stop_ids: Vec<Uuid> = going.clone();
        stop_ids.extend(stops.iter().map(|(_, _, info, _)| info.id));
        let mut order = downstream_first(&stop_ids, &old_targets);
        order.reverse();
        let changed_old: HashMap<Uuid, Option<BoxedNode>> = changed_nodes.into_iter().collect();
        for id in order {
            if let Some(pos) = stops.iter().position(|(_, _, info, _)| info.id == id) {
                let (slot, node, info, links) = stops.remove(pos);
                self.stop(&slot, &node, &info, &links);
            } else if let Some(sym) = self.symbols.get(&id) {
                let node = changed_old
                    .get(&id)
                    .cloned()
                    .flatten()
                    .or_else(|| sym.node.clone().ok());
                if let (Some(node), Some((_, links))) = (node, sym.installed.clone()) {
                    let (slot, info) = (sym.slot.clone(), sym.info());
                    self.stop(&slot, &node, &info, &links);
                }
                if let Some(sym) = self.symbols.get_mut(&id) {
                    sym.installed = None;
                }
            }
        }

        // Start, swap or relink what is active, downstream first.
        let active_ids: Vec<Uuid> = self
            .symbols
            .keys()
            .copied()
            .filter(|id| active.contains(id))
            .collect();
        for id in downstream_first(&active_ids, &targets) {
            self.start(id, changed_old.get(&id).cloned().flatten());
        }

        for id in self.symbols.keys().copied().collect::<Vec<_>>() {
            let status = if active.contains(&id) {
                Status::Active
            } else {
                self.why_inactive(id, &active)
            };
            if let Some(sym) = self.symbols.get_mut(&id) {
                if let Status::Inactive(reason) = &status {
                    if sym.status != status {
                        tracing::warn!(namespace = %self.namespace, spec = %sym.spec.name_or_id(), "inactive: {reason}");
                    }
                }
                sym.status = status;
            }
        }
    }

    /// Stops and unloads every symbol (host shutdown), upstream first.
    pub fn close(&mut self) {
        let ids: Vec<Uuid> = self.symbols.keys().copied().collect();
        self.apply(Vec::new(), &ids, &[]);
    }

    fn why_inactive(&self, id: Uuid, active: &HashSet<Uuid>) -> Status {
        let Some(sym) = self.symbols.get(&id) else {
            return Status::Inactive("removed".into());
        };
        if let Err(e) = &sym.node {
            return Status::Inactive(e.clone());
        }
        if let Some(e) = &sym.link_error {
            return Status::Inactive(e.clone());
        }
        for (tid, _) in sym.links.iter().flat_map(|(_, ts)| ts.iter()) {
            if !active.contains(tid) {
                let name = self
                    .symbols
                    .get(tid)
                    .map(|s| s.spec.name_or_id())
                    .unwrap_or_default();
                return Status::Inactive(format!(
                    "namespace \"{}\": spec \"{}\": downstream spec \"{name}\" is inactive",
                    self.namespace,
                    sym.spec.name_or_id()
                ));
            }
        }
        Status::Inactive("inactive".into())
    }

    fn resolve_links(&mut self) {
        let by_name: HashMap<String, Uuid> = self
            .symbols
            .iter()
            .filter_map(|(id, s)| s.spec.name.clone().map(|n| (n, *id)))
            .collect();
        let ids: HashSet<Uuid> = self.symbols.keys().copied().collect();
        for sym in self.symbols.values_mut() {
            let mut links: Links = Vec::new();
            let mut errors = Vec::new();
            for (port, refs) in &sym.spec.ports {
                let source = match source_port(port) {
                    Ok(s) => s,
                    Err(e) => {
                        errors.push(
                            FieldError::for_spec(&sym.spec, FieldIssue::new(format!("ports.{port}"), e))
                                .to_string(),
                        );
                        continue;
                    }
                };
                let mut resolved = Vec::new();
                for (i, r) in refs.iter().enumerate() {
                    let target =
                        r.id.filter(|id| ids.contains(id))
                            .or_else(|| r.name.as_ref().and_then(|n| by_name.get(n).copied()));
                    let in_port = target_port(&r.port);
                    match (target, in_port) {
                        (Some(t), Ok(p)) => resolved.push((t, p)),
                        (None, _) => errors.push(
                            FieldError::for_spec(
                                &sym.spec,
                                FieldIssue::new(
                                    format!("ports.{port}[{i}]"),
                                    format!("spec {} not found in this namespace", describe(r)),
                                ),
                            )
                            .to_string(),
                        ),
                        (_, Err(e)) => errors.push(
                            FieldError::for_spec(
                                &sym.spec,
                                FieldIssue::new(format!("ports.{port}[{i}].port"), e),
                            )
                            .to_string(),
                        ),
                    }
                }
                links.push((source, resolved));
            }
            sym.links = links;
            sym.link_error = if errors.is_empty() {
                None
            } else {
                Some(errors.join("; "))
            };
        }
    }

    fn runtime(&self, sym: &Symbol, node: BoxedNode) -> NodeRuntime {
        let mut rt = NodeRuntime::from_boxed(sym.spec.name_or_id(), node);
        for (source, targets) in &sym.links {
            if let Source::Out(port) = source {
                for (tid, in_port) in targets {
                    if let Some(t) = self.symbols.get(tid) {
                        rt = rt.link(*port, &t.slot, *in_port);
                    }
                }
            }
        }
        rt
    }

    fn start(&mut self, id: Uuid, old_node: Option<BoxedNode>) {
        let Some(sym) = self.symbols.get(&id) else { return };
        let Ok(node) = sym.node.clone() else { return };
        let want = (sym.generation, sym.links.clone());
        match &sym.installed {
            Some((generation, links)) if *generation == want.0 && *links == want.1 => {}
            Some((generation, _)) if *generation == want.0 => {
                // Same node, other links: relink without restarting it.
                let rt = self.runtime(sym, node);
                sym.slot.install(rt);
            }
            installed => {
                let swap = installed.is_some();
                if let Some(old) = old_node.filter(|_| swap) {
                    old.unload();
                    for h in &self.hooks {
                        h.unload(&sym.info());
                    }
                }
                let rt = self.runtime(sym, node.clone());
                sym.slot.install(rt);
                if let Err(e) = node.load(&sym.slot) {
                    tracing::error!(namespace = %self.namespace, spec = %sym.spec.name_or_id(), "load failed: {e}");
                }
                for h in &self.hooks {
                    h.load(&sym.info());
                }
                self.send_lifecycle(&sym.links, Source::Init, &sym.info());
            }
        }
        if let Some(sym) = self.symbols.get_mut(&id) {
            sym.installed = Some(want);
        }
    }

    fn stop(&self, slot: &Arc<NodeSlot>, node: &BoxedNode, info: &SymbolInfo, links: &Links) {
        for h in &self.hooks {
            h.unload(info);
        }
        self.send_lifecycle(links, Source::Term, info);
        node.unload();
        slot.uninstall();
    }

    /// Writes the symbol's description into the targets of its `init` or `term` port, in a process of
    /// its own, without waiting.
    fn send_lifecycle(&self, links: &Links, which: Source, info: &SymbolInfo) {
        if which == Source::Term && self.term_sent {
            return;
        }
        let Some(call) = self.lifecycle_call(links, which, info) else {
            return;
        };
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(call);
        }
    }

    /// The writes of the symbol's description into the targets of its `init` or `term` port, in a
    /// process of its own.
    fn lifecycle_call(
        &self,
        links: &Links,
        which: Source,
        info: &SymbolInfo,
    ) -> Option<Pin<Box<dyn Future<Output = ()> + Send>>> {
        let targets: Vec<(Arc<NodeSlot>, usize)> = links
            .iter()
            .filter(|(s, _)| *s == which)
            .flat_map(|(_, ts)| ts.iter())
            .filter_map(|(tid, p)| self.symbols.get(tid).map(|t| (t.slot.clone(), *p)))
            .collect();
        if targets.is_empty() {
            return None;
        }
        let value = Value::map([
            ("id", Value::from(info.id.to_string())),
            ("namespace", Value::from(info.namespace.clone())),
            ("name", info.name.clone().map(Value::from).unwrap_or_default()),
            ("kind", Value::from(info.kind.clone())),
        ]);
        Some(Box::pin(async move {
            let p = Process::new();
            for (slot, port) in targets {
                if let Err(e) = weir_engine::call(&slot, &p, port, value.clone()).await {
                    tracing::warn!("lifecycle packet failed: {e}");
                }
            }
            p.exit(None);
        }))
    }

    /// Host shutdown: runs every active symbol's `term` port and waits for it (at most `within`)
    /// while everything is still loaded; then stops the sources (what nothing links to: listeners),
    /// lets them drain their in-flight work through the rest of the graph (at most `within`), and
    /// stops every other symbol, upstream first.
    pub async fn shutdown(&mut self, within: Duration) {
        let calls: Vec<_> = self
            .symbols
            .values()
            .filter(|s| s.installed.is_some())
            .filter_map(|s| self.lifecycle_call(&s.links, Source::Term, &s.info()))
            .collect();
        if tokio::time::timeout(within, async {
            for c in calls {
                c.await;
            }
        })
        .await
        .is_err()
        {
            tracing::warn!(namespace = %self.namespace, "term ports did not finish within {within:?}");
        }
        self.term_sent = true;
        let targets: HashSet<Uuid> = self
            .symbols
            .values()
            .flat_map(|s| s.links.iter().flat_map(|(_, ts)| ts.iter().map(|(t, _)| *t)))
            .collect();
        let sources: Vec<Uuid> = self
            .symbols
            .keys()
            .filter(|id| !targets.contains(id))
            .copied()
            .collect();
        self.apply(Vec::new(), &sources, &[]);
        let left = weir_engine::drain::wait(within).await;
        if left > 0 {
            tracing::warn!(namespace = %self.namespace, "{left} listener(s) still draining after {within:?}");
        }
        self.close();
    }
}

impl Drop for Table {
    fn drop(&mut self) {
        for sym in self.symbols.values() {
            if sym.installed.is_some() {
                if let Ok(node) = &sym.node {
                    node.unload();
                }
            }
            sym.slot.uninstall();
        }
    }
}
