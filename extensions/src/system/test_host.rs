//! A test host for the system kinds: a real `MemoryStore` and channels hub, the full scheme with the
//! system kinds registered, and a graph to load compiled specs into. Shared by `tests.rs` and
//! `channel_tests.rs`.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use weir_codecs::codec::{CompileContext, Scheme};
use weir_engine::channel::Channels;
use weir_engine::testing::{Collect, Graph};
use weir_engine::{BoxedNode, NodeRuntime, NodeSlot, OutPort};
use weir_loader::{MemoryStore, Store};

use super::{register, SystemServices};

pub(super) struct Host {
    pub(super) services: Arc<SystemServices>,
    pub(super) scheme: Arc<Scheme>,
    pub(super) graph: Graph,
    loaded: Vec<BoxedNode>,
    next: usize,
}

impl Drop for Host {
    fn drop(&mut self) {
        for n in &self.loaded {
            n.unload();
        }
        self.graph.clear();
    }
}

/// A host whose subscribers queue up to `queue` messages each.
pub(super) fn host(queue: usize) -> Host {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let services = SystemServices::new(store, Channels::new(queue));
    let mut scheme = crate::scheme();
    register(&mut scheme, services.clone());
    let scheme = Arc::new(scheme);
    services.set_scheme(&scheme);
    Host {
        services,
        scheme,
        graph: Graph::new(),
        loaded: Vec::new(),
        next: 0,
    }
}

impl Host {
    pub(super) fn store(&self) -> &dyn Store {
        self.services.store.as_ref()
    }

    /// Pumps the store's change stream into the channels' store topics, as the host does.
    pub(super) fn pump_store_events(&self) {
        let mut events = self.store().watch();
        let channels = self.services.channels.clone();
        tokio::spawn(async move {
            while let Ok(e) = events.recv().await {
                super::offer_event(&channels, &e);
            }
        });
    }

    /// Compiles and loads a `kind` spec of `namespace`, its `out` and `error` linked as given.
    pub(super) fn load(
        &mut self,
        namespace: &str,
        kind: &str,
        fields: serde_json::Value,
        out: Option<&Arc<NodeSlot>>,
        error: Option<&Arc<NodeSlot>>,
    ) -> Arc<NodeSlot> {
        let name = format!("{kind}{}", self.next);
        self.next += 1;
        let node = self
            .scheme
            .get(kind)
            .unwrap()
            .compile(&fields, &CompileContext::new(namespace, &name))
            .unwrap();
        let mut rt = NodeRuntime::from_boxed(name.as_str(), node.clone());
        if let Some(t) = out {
            rt = rt.link(OutPort::OUT, t, 0);
        }
        if let Some(t) = error {
            rt = rt.link(OutPort::Error, t, 0);
        }
        let slot = self.graph.slot(&name);
        slot.install(rt);
        node.load(&slot).unwrap();
        self.loaded.push(node);
        slot
    }

    /// A node that records what it receives.
    pub(super) fn sink(&mut self) -> (Arc<NodeSlot>, Collect) {
        let c = Collect::default();
        let name = format!("sink{}", self.next);
        self.next += 1;
        (self.graph.add(&name, c.clone(), &[]), c)
    }
}
