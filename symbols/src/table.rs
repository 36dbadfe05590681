//! The symbol table of one namespace and its `apply`: the one path for the first load (a diff from
//! empty) and every hot reload. `apply` takes the specs that were stored or changed, the ids removed,
//! and the namespace's Values; it recompiles only what changed (a spec's content, the data of a Value
//! it binds, the chart of its kind), relinks what changed and what refers to it, recomputes which
//! symbols are active where that can change (the changed ones and what is upstream of them), then
//! stops (upstream first), swaps and starts (downstream first): work in proportion to the change, not
//! to the namespace. A swapped node keeps its slot, so packets waiting for it are not lost and
//! processes already running finish on the old node. An unchanged re-apply touches nothing.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use uuid::Uuid;
use weir_codecs::codec::Scheme;
use weir_codecs::resource::{Chart, FieldError, FieldIssue, Spec, ValueResource};
use weir_engine::{BoxedNode, NodeRuntime, NodeSlot, Process, Value};

use crate::activate::{active_set, downstream_first};
use crate::charts::Charts;
use crate::compile::{bind_env, compile, host_env, BoundEnv, HostEnv};
use crate::graph::{Graph, RefKey};
use crate::links::{resolve, targets, Links, Source};

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

struct Symbol {
    spec: Spec,
    env: Result<BoundEnv, String>,
    slot: Arc<NodeSlot>,
    node: Result<BoxedNode, String>,
    /// Bumped whenever the node is recompiled.
    generation: u64,
    links: Links,
    link_error: Option<String>,
    /// The names and ids its `ports` refer to.
    refs: Vec<RefKey>,
    /// What is loaded in the slot now: the node generation and the links it was built with.
    installed: Option<(u64, Links)>,
    /// Why the installed node's load hook failed (a listener's busy port): shown as its status.
    load_error: Option<String>,
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
}

/// The symbols of one namespace.
pub struct Table {
    namespace: String,
    /// The built-in kinds.
    base: Arc<Scheme>,
    /// The namespace's scheme: `base` and its charts.
    scheme: Arc<Scheme>,
    /// The host's `--env`, as template data.
    host: BoundEnv,
    symbols: IndexMap<Uuid, Symbol>,
    hooks: Vec<Arc<dyn Hook>>,
    /// Set by `shutdown`, which has already run the `term` ports.
    term_sent: bool,
    graph: Graph,
    active: HashSet<Uuid>,
    /// The Values of the last apply.
    values: Vec<ValueResource>,
    charts: Charts,
    status_changes: HashSet<Uuid>,
}

impl Table {
    pub fn new(namespace: impl Into<String>, scheme: Arc<Scheme>, host: HostEnv) -> Self {
        Table {
            namespace: namespace.into(),
            base: scheme.clone(),
            scheme,
            host: host_env(&host),
            symbols: IndexMap::new(),
            hooks: Vec::new(),
            term_sent: false,
            graph: Graph::default(),
            active: HashSet::new(),
            values: Vec::new(),
            charts: Charts::default(),
            status_changes: HashSet::new(),
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
        self.named(name).map(|s| s.slot.clone())
    }

    fn named(&self, name: &str) -> Option<&Symbol> {
        self.graph.named(name).and_then(|id| self.symbols.get(&id))
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
        self.named(name).map(|s| s.status.clone())
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
        self.apply_changes(upserts, removed, Some(values));
    }

    /// Replaces the namespace's charts (each `name` a kind here); the next apply recompiles exactly
    /// the specs of the kinds whose chart was stored, swapped or deleted. A spec whose kind is a chart
    /// not there yet is an inactive placeholder until it arrives.
    pub fn set_charts(&mut self, charts: Vec<Chart>) {
        self.charts.set(charts);
    }

    /// The charts refused (named like a built-in kind), one sentence each.
    pub fn chart_errors(&self) -> &[String] {
        self.charts.refused()
    }

    /// The namespace's scheme: the built-in kinds and its charts.
    pub fn scheme(&self) -> &Arc<Scheme> {
        &self.scheme
    }

    /// As [`Table::apply`]; `values: None` keeps the Values of the last apply.
    ///
    /// The work is in proportion to the change, not to the namespace: only changed specs are
    /// recompiled, only they and the specs referring to their names or ids are relinked, and only
    /// they and what is upstream of them (linked to them, directly or not) may change activity, so
    /// only those are stopped, started or relinked.
    pub fn apply_changes(&mut self, upserts: Vec<Spec>, removed: &[Uuid], values: Option<&[ValueResource]>) {
        // Symbols whose node or links may have changed: the region to recompute starts from them.
        let mut seeds: HashSet<Uuid> = HashSet::new();
        let mut relink: HashSet<Uuid> = HashSet::new();
        let mut stops: Vec<(Arc<NodeSlot>, BoxedNode, SymbolInfo, Links)> = Vec::new();

        let removed: HashSet<Uuid> = removed.iter().copied().collect();
        for (id, sym) in self.take_symbols(&removed) {
            self.active.remove(&id);
            self.status_changes.insert(id);
            if let Some(n) = &sym.spec.name {
                self.graph.remove_name(n, id);
                relink.extend(self.graph.referrers(&RefKey::Name(n.clone())));
            }
            relink.extend(self.graph.referrers(&RefKey::Id(id)));
            self.graph.set_refs(id, &sym.refs, &[]);
            self.graph.set_targets(id, &targets(&sym.links), &[]);
            if let (Some((_, links)), Ok(node)) = (sym.installed.clone(), sym.node.clone()) {
                stops.push((sym.slot.clone(), node, sym.info(), links));
            }
        }

        // Values and charts: what they change is recompiled even when its spec did not change.
        let values_changed = match values {
            Some(v) if v != self.values.as_slice() => {
                self.values = v.to_vec();
                true
            }
            _ => false,
        };
        let mut recompile: HashSet<Uuid> = HashSet::new();
        if let Some((scheme, kinds)) =
            self.charts
                .update(&self.namespace, &self.base, &self.values, values_changed)
        {
            self.scheme = Arc::new(scheme);
            recompile.extend(
                self.symbols
                    .iter()
                    .filter(|(_, s)| kinds.contains(&s.spec.kind))
                    .map(|(id, _)| *id),
            );
        }
        let mut work: Vec<Uuid> = Vec::new();
        let mut by_id: HashMap<Uuid, Spec> = HashMap::new();
        for mut spec in upserts {
            let id = spec.ensure_id();
            spec.namespace.clone_from(&self.namespace);
            if by_id.insert(id, spec).is_none() {
                work.push(id);
            }
        }
        let rebind: Vec<Uuid> = if values_changed {
            // Only a spec with env entries can bind a Value.
            self.symbols
                .iter()
                .filter(|(_, s)| !s.spec.env.is_empty())
                .map(|(id, _)| *id)
                .collect()
        } else {
            Vec::new()
        };
        let mut queued: HashSet<Uuid> = work.iter().copied().collect();
        for id in self
            .symbols
            .keys()
            .filter(|id| recompile.contains(id))
            .chain(&rebind)
        {
            if queued.insert(*id) {
                work.push(*id);
            }
        }

        let mut changed_old: HashMap<Uuid, Option<BoxedNode>> = HashMap::new();
        for id in work {
            let new_spec = by_id.remove(&id);
            let env = match (&new_spec, self.symbols.get(&id)) {
                (Some(spec), _) => bind_env(spec, &self.values, &self.host),
                (None, Some(sym)) => bind_env(&sym.spec, &self.values, &self.host),
                (None, None) => continue,
            };
            match self.symbols.get_mut(&id) {
                Some(sym)
                    if new_spec.as_ref().is_none_or(|s| *s == sym.spec)
                        && sym.env == env
                        && !recompile.contains(&id) => {}
                Some(sym) => {
                    let spec = match new_spec {
                        Some(spec) if spec != sym.spec => {
                            if spec.name != sym.spec.name {
                                if let Some(old) = &sym.spec.name {
                                    self.graph.remove_name(old, id);
                                    relink.extend(self.graph.referrers(&RefKey::Name(old.clone())));
                                }
                                if let Some(new) = &spec.name {
                                    self.graph.add_name(new, id);
                                    relink.extend(self.graph.referrers(&RefKey::Name(new.clone())));
                                }
                            }
                            relink.insert(id);
                            spec
                        }
                        _ => sym.spec.clone(),
                    };
                    let node = match &env {
                        Ok(env) => compile(&spec, env, &self.scheme),
                        Err(e) => Err(e.clone()),
                    };
                    let old = sym.node.clone().ok().filter(|_| sym.installed.is_some());
                    sym.spec = spec;
                    sym.env = env;
                    sym.node = node;
                    sym.generation += 1;
                    changed_old.insert(id, old);
                    seeds.insert(id);
                }
                None => {
                    let Some(spec) = new_spec else { continue };
                    let node = match &env {
                        Ok(env) => compile(&spec, env, &self.scheme),
                        Err(e) => Err(e.clone()),
                    };
                    if let Some(n) = &spec.name {
                        self.graph.add_name(n, id);
                        relink.extend(self.graph.referrers(&RefKey::Name(n.clone())));
                    }
                    relink.extend(self.graph.referrers(&RefKey::Id(id)));
                    relink.insert(id);
                    seeds.insert(id);
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
                            refs: Vec::new(),
                            installed: None,
                            load_error: None,
                            status: Status::Inactive("not loaded yet".into()),
                        },
                    );
                }
            }
        }

        // Relink what changed and what refers to a name or id that appeared or went away.
        for id in relink {
            let Some(sym) = self.symbols.get(&id) else {
                continue;
            };
            let symbols = &self.symbols;
            let r = resolve(&sym.spec, &self.graph, |t| symbols.contains_key(t));
            let (old_refs, old_targets) = (sym.refs.clone(), targets(&sym.links));
            self.graph.set_refs(id, &old_refs, &r.refs);
            self.graph.set_targets(id, &old_targets, &targets(&r.links));
            if let Some(sym) = self.symbols.get_mut(&id) {
                sym.links = r.links;
                sym.link_error = r.error;
                sym.refs = r.refs;
            }
            seeds.insert(id);
        }

        // Activity can only change in the region: the seeds and what is upstream of them.
        let region: HashSet<Uuid> = self.graph.upstream(seeds);
        let mut region_order: Vec<Uuid> = region
            .iter()
            .copied()
            .filter(|id| self.symbols.contains_key(id))
            .collect();
        region_order.sort_by_key(|id| self.symbols.get_index_of(id));
        let candidates: HashSet<Uuid> = region_order
            .iter()
            .filter(|id| {
                self.symbols
                    .get(*id)
                    .is_some_and(|s| s.node.is_ok() && s.link_error.is_none())
            })
            .copied()
            .collect();
        let symbols = &self.symbols;
        let was_active = &self.active;
        let now_active = active_set(
            &candidates,
            &region,
            |id| symbols.get(id).map(|s| targets(&s.links)).unwrap_or_default(),
            |id| was_active.contains(id),
        );

        // Stop what is no longer active, upstream first.
        let going: Vec<Uuid> = region_order
            .iter()
            .filter(|id| {
                !now_active.contains(id) && self.symbols.get(*id).is_some_and(|s| s.installed.is_some())
            })
            .copied()
            .collect();
        let mut stop_ids: Vec<Uuid> = going.clone();
        stop_ids.extend(stops.iter().map(|(_, _, info, _)| info.id));
        let mut old_targets: HashMap<Uuid, Vec<Uuid>> = stops
            .iter()
            .map(|(_, _, info, links)| (info.id, targets(links)))
            .collect();
        for id in &going {
            if let Some((_, links)) = self.symbols.get(id).and_then(|s| s.installed.as_ref()) {
                old_targets.insert(*id, targets(links));
            }
        }
        let mut order = downstream_first(&stop_ids, &old_targets);
        order.reverse();
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
                    sym.load_error = None;
                }
            }
        }
        for id in &region_order {
            if now_active.contains(id) {
                self.active.insert(*id);
            } else {
                self.active.remove(id);
            }
        }

        // Start, swap or relink what is active in the region, downstream first.
        let active_ids: Vec<Uuid> = region_order
            .iter()
            .copied()
            .filter(|id| now_active.contains(id))
            .collect();
        let current: HashMap<Uuid, Vec<Uuid>> = active_ids
            .iter()
            .filter_map(|id| self.symbols.get(id).map(|s| (*id, targets(&s.links))))
            .collect();
        for id in downstream_first(&active_ids, &current) {
            self.start(id, changed_old.get(&id).cloned().flatten());
        }

        for id in region_order {
            let status = if self.active.contains(&id) {
                match self.symbols.get(&id).and_then(|s| s.load_error.clone()) {
                    Some(e) => Status::Inactive(e),
                    None => Status::Active,
                }
            } else {
                self.why_inactive(id)
            };
            if let Some(sym) = self.symbols.get_mut(&id) {
                if sym.status != status {
                    if let Status::Inactive(reason) = &status {
                        tracing::warn!(namespace = %self.namespace, spec = %sym.spec.name_or_id(), "inactive: {reason}");
                    }
                    self.status_changes.insert(id);
                }
                sym.status = status;
            }
        }
    }

    /// Takes the symbols `ids` out of the table (in one pass when there are many).
    fn take_symbols(&mut self, ids: &HashSet<Uuid>) -> Vec<(Uuid, Symbol)> {
        match ids.len() {
            0 => Vec::new(),
            1 => ids
                .iter()
                .filter_map(|id| self.symbols.shift_remove(id).map(|s| (*id, s)))
                .collect(),
            _ => {
                let mut taken = Vec::new();
                for (id, sym) in std::mem::take(&mut self.symbols) {
                    if ids.contains(&id) {
                        taken.push((id, sym));
                    } else {
                        self.symbols.insert(id, sym);
                    }
                }
                taken
            }
        }
    }

    /// The ids whose status changed (or that were removed) since the last call, with their status
    /// now (`None`: removed).
    pub fn take_status_changes(&mut self) -> Vec<(Uuid, Option<Status>)> {
        std::mem::take(&mut self.status_changes)
            .into_iter()
            .map(|id| (id, self.symbols.get(&id).map(|s| s.status.clone())))
            .collect()
    }

    /// Stops and unloads every symbol (host shutdown), upstream first.
    pub fn close(&mut self) {
        let ids: Vec<Uuid> = self.symbols.keys().copied().collect();
        self.apply_changes(Vec::new(), &ids, None);
    }

    fn why_inactive(&self, id: Uuid) -> Status {
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
            if !self.active.contains(tid) {
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
        // `None`: the node was not (re)loaded, so its load outcome stands.
        let mut loaded: Option<Option<String>> = None;
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
                loaded = Some(match node.load(&sym.slot) {
                    Ok(()) => None,
                    Err(e) => {
                        tracing::error!(namespace = %self.namespace, spec = %sym.spec.name_or_id(), "load failed: {e}");
                        Some(
                            FieldError::for_spec(&sym.spec, FieldIssue::new("", format!("load failed: {e}")))
                                .to_string(),
                        )
                    }
                });
                for h in &self.hooks {
                    h.load(&sym.info());
                }
                self.send_lifecycle(&sym.links, Source::Init, &sym.info());
            }
        }
        if let Some(sym) = self.symbols.get_mut(&id) {
            sym.installed = Some(want);
            if let Some(outcome) = loaded {
                sym.load_error = outcome;
            }
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
        self.apply_changes(Vec::new(), &sources, None);
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
