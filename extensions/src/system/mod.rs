//! The `system` family: the kinds the `system` namespace builds its management API from (DESIGN.md,
//! Interfaces), as uniflow's `syscall` and `signal`:
//! - `syscall` (`syscall.rs`): one store or host operation per packet (`specs.create`, `kinds.read`,
//!   `auth.check`, …); the resource operations are in `ops.rs`, reads of namespaces and kinds in
//!   `info.rs`, access tokens in `auth.rs`, the watch check in `watch.rs`, `/metrics` in
//!   `metrics.rs`;
//! - `signal` (`signal.rs`): subscribes to a channel topic (the store topics `specs`, `values`,
//!   `charts` among them) and emits each event in a new process;
//! - `publish` (`publish.rs`) and `subscribe` (`subscribe.rs`, `signal`'s node under the channels'
//!   name): a namespace's own publish/subscribe topics;
//! - `job` (`jobs.rs`): starts, reads and cancels the host's jobs and streams their events; also
//!   NodeTool's run endpoint (`jobs_run.rs`) and WebSocket protocol (`jobs_ws.rs`).
//!
//! These kinds need the host's services (the store, the channels hub, the scheme). They hold them
//! ([`SystemServices`]) and the host registers them with [`register`]; a scheme without them (`weir
//! apply`'s validation) simply lacks these kinds' codecs unless it registers them too.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use weir_codecs::codec::Scheme;
use weir_engine::channel::Channels;
use weir_engine::job::Jobs;
use weir_loader::Store;
use weir_symbols::Table;

mod auth;
#[cfg(test)]
mod channel_tests;
mod info;
mod jobs;
mod jobs_run;
mod jobs_ws;
mod metrics;
mod ops;
mod publish;
mod resource;
mod signal;
mod subscribe;
mod syscall;
#[cfg(test)]
mod test_host;
#[cfg(test)]
mod tests;
mod watch;

pub use auth::{check_token, token_required, TOKEN_PREFIX};
pub use jobs::{JobFields, JobKind};
pub use publish::{PublishFields, PublishKind, STORE_TOPICS};
pub use resource::MASK;
pub use signal::{SignalFields, SignalKind};
pub use subscribe::SubscribeKind;
pub use syscall::{SyscallFields, SyscallKind, OPCODES, SCOPE_KEY};
pub use watch::REACH_KEY;

/// What the system kinds reach: the store, the host's channels, and the scheme (set once built,
/// held weakly, since the scheme holds these kinds).
pub struct SystemServices {
    pub store: Arc<dyn Store>,
    pub channels: Channels,
    pub jobs: Jobs,
    scheme: OnceLock<Weak<Scheme>>,
    /// The symbol tables of the namespaces this host runs, for jobs to find their entry nodes.
    tables: parking_lot::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Table>>>>,
}

impl std::fmt::Debug for SystemServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SystemServices").finish_non_exhaustive()
    }
}

impl SystemServices {
    pub fn new(store: Arc<dyn Store>, channels: Channels) -> Arc<Self> {
        Arc::new(SystemServices {
            store,
            channels,
            jobs: Jobs::default(),
            scheme: OnceLock::new(),
            tables: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    /// Tells the services that `namespace` runs here, with `table`.
    pub fn add_table(&self, namespace: &str, table: Arc<tokio::sync::Mutex<Table>>) {
        self.tables.lock().insert(namespace.to_string(), table);
    }

    /// Tells the services that `namespace` stopped running here.
    pub fn remove_table(&self, namespace: &str) {
        self.tables.lock().remove(namespace);
    }

    /// The table of `namespace` if it runs here.
    pub fn table(&self, namespace: &str) -> Option<Arc<tokio::sync::Mutex<Table>>> {
        self.tables.lock().get(namespace).cloned()
    }

    /// Tells the services the scheme the host runs with (for validation and `kinds.read`).
    pub fn set_scheme(&self, scheme: &Arc<Scheme>) {
        let _ = self.scheme.set(Arc::downgrade(scheme));
    }

    /// The host's scheme, once set and while it lives.
    pub fn scheme(&self) -> Option<Arc<Scheme>> {
        self.scheme.get().and_then(Weak::upgrade)
    }
}

/// Registers `syscall`, `signal`, `publish`, `subscribe` and `job`, holding `services`.
pub fn register(scheme: &mut Scheme, services: Arc<SystemServices>) {
    scheme.register(SyscallKind {
        services: services.clone(),
    });
    scheme.register(syscall::NativeKind(SyscallKind {
        services: services.clone(),
    }));
    scheme.register(JobKind {
        services: services.clone(),
    });
    scheme.register(PublishKind {
        services: services.clone(),
    });
    scheme.register(SubscribeKind {
        services: services.clone(),
    });
    scheme.register(SignalKind { services });
}

/// The store event `{op, id, namespace}` (plus `resource`, the topic's name) as a packet value.
pub fn event_value(event: &weir_loader::Event) -> weir_engine::Value {
    weir_engine::Value::map([
        ("op", weir_engine::Value::from(op_name(event.op))),
        ("id", weir_engine::Value::from(event.id.to_string())),
        ("namespace", weir_engine::Value::from(event.namespace.as_str())),
        ("resource", weir_engine::Value::from(event.resource.as_str())),
    ])
}

fn op_name(op: weir_loader::Op) -> &'static str {
    match op {
        weir_loader::Op::Store => "store",
        weir_loader::Op::Swap => "swap",
        weir_loader::Op::Delete => "delete",
    }
}

/// Offers a store event to the channels: on the topic named after its resource (`specs`, `values`,
/// `charts`) in its own namespace, and in `system`, which sees every namespace. Never waits: a
/// subscriber that fell behind is cut off (see [`weir_engine::channel::Topic::offer`]).
pub fn offer_event(channels: &Channels, event: &weir_loader::Event) {
    let value = event_value(event);
    let topic = event.resource.as_str();
    if let Some(t) = channels.existing(&event.namespace, topic) {
        t.offer(&value);
    }
    if event.namespace != weir_engine::channel::SYSTEM {
        if let Some(t) = channels.existing(weir_engine::channel::SYSTEM, topic) {
            t.offer(&value);
        }
    }
}
