//! The namespaces a host runs, each a runtime (a symbol table and the loader keeping it in step with
//! the store). With `-n` the host runs just those; without, [`Runtimes::follow`] watches the store's
//! change stream and starts a runtime when a namespace gets its first spec and stops it (running its
//! `term` ports, letting listeners drain) when its last spec is deleted.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use weir_codecs::codec::Scheme;
use weir_loader::{Event, Loader, Op, Resource, Store};
use weir_symbols::{HostEnv, Table};

/// How long a stopping namespace's `term` ports may take.
const TERM_WITHIN: Duration = Duration::from_secs(10);

struct Runtime {
    table: Arc<Mutex<Table>>,
    loader: JoinHandle<()>,
}

/// The running namespaces of one host.
pub struct Runtimes {
    store: Arc<dyn Store>,
    scheme: Arc<Scheme>,
    env: HostEnv,
    host: String,
    running: BTreeMap<String, Runtime>,
    /// Namespaces run elsewhere (`system`), never started here.
    excluded: HashSet<String>,
    /// Told which tables run here (for jobs).
    services: Option<Arc<weir_extensions::system::SystemServices>>,
}

impl Runtimes {
    pub fn new(store: Arc<dyn Store>, scheme: Arc<Scheme>, env: HostEnv) -> Self {
        Runtimes {
            store,
            scheme,
            env,
            host: weir_loader::host_name(),
            running: BTreeMap::new(),
            excluded: HashSet::new(),
            services: None,
        }
    }

    /// Tells `services` which namespaces run here, so the job API finds their nodes.
    pub fn with_services(mut self, services: Arc<weir_extensions::system::SystemServices>) -> Self {
        self.services = Some(services);
        self
    }

    /// Never runs `namespace` (it is run apart, as `system` is).
    pub fn excluding(mut self, namespace: &str) -> Self {
        self.excluded.insert(namespace.to_string());
        self
    }

    /// Loads `namespace` (errors reading the store are returned) and follows its changes.
    pub async fn start(&mut self, namespace: &str) -> anyhow::Result<()> {
        if self.running.contains_key(namespace) || self.excluded.contains(namespace) {
            return Ok(());
        }
        let table = Arc::new(Mutex::new(Table::new(
            namespace.to_string(),
            self.scheme.clone(),
            self.env.clone(),
        )));
        let loader = Loader::new(self.store.clone(), table.clone()).with_host(self.host.clone());
        loader.reload().await?;
        for (_, name, status) in table.lock().await.statuses() {
            tracing::info!(namespace = %namespace, spec = %name, "{status:?}");
        }
        let ns = namespace.to_string();
        let loader = tokio::spawn(async move {
            if let Err(e) = loader.run().await {
                tracing::error!(namespace = %ns, "loader stopped: {e}");
            }
        });
        if let Some(services) = &self.services {
            services.add_table(namespace, table.clone());
        }
        tracing::info!(namespace = %namespace, "namespace started");
        self.running
            .insert(namespace.to_string(), Runtime { table, loader });
        Ok(())
    }

    /// Stops `namespace`: its loader, then its nodes (upstream first, `term` ports run), and forgets
    /// the statuses this host recorded for it.
    pub async fn stop(&mut self, namespace: &str) {
        let Some(rt) = self.running.remove(namespace) else {
            return;
        };
        rt.loader.abort();
        if let Some(services) = &self.services {
            services.remove_table(namespace);
        }
        rt.table.lock().await.shutdown(TERM_WITHIN).await;
        if let Err(e) = self.store.clear_statuses(&self.host, namespace) {
            tracing::warn!(namespace = %namespace, "clearing spec statuses: {e}");
        }
        tracing::info!(namespace = %namespace, "namespace stopped");
    }

    /// Stops every namespace.
    pub async fn stop_all(&mut self) {
        let names: Vec<String> = self.running.keys().cloned().collect();
        for ns in names {
            self.stop(&ns).await;
        }
    }

    /// Starts and stops namespaces as the store gains and loses them, until `until` completes.
    pub async fn follow(&mut self, until: impl std::future::Future<Output = ()>) {
        let mut events = self.store.watch();
        // Namespaces that appeared between the first listing and the subscription.
        self.rescan().await;
        tokio::pin!(until);
        loop {
            let first = tokio::select! {
                () = &mut until => return,
                e = events.recv() => e,
            };
            let mut batch = Vec::new();
            let mut lagged = false;
            match first {
                Ok(e) => batch.push(e),
                Err(RecvError::Lagged(_)) => lagged = true,
                Err(RecvError::Closed) => {
                    until.await;
                    return;
                }
            }
            loop {
                match events.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(TryRecvError::Lagged(_)) => lagged = true,
                    Err(_) => break,
                }
            }
            if lagged {
                self.rescan().await;
            } else {
                self.react(&batch).await;
            }
        }
    }

    /// Starts namespaces new to this host and stops those gone from the store, judging by `batch`.
    async fn react(&mut self, batch: &[Event]) {
        let specs = batch.iter().filter(|e| e.resource == Resource::Specs);
        let mut maybe_new = HashSet::new();
        let mut maybe_gone = HashSet::new();
        for e in specs {
            if !self.running.contains_key(&e.namespace) {
                maybe_new.insert(e.namespace.clone());
            } else if e.op == Op::Delete {
                maybe_gone.insert(e.namespace.clone());
            }
        }
        if maybe_new.is_empty() && maybe_gone.is_empty() {
            return;
        }
        let present: HashSet<String> = match self.store.namespaces() {
            Ok(ns) => ns.into_iter().collect(),
            Err(e) => {
                tracing::warn!("listing namespaces: {e}");
                return;
            }
        };
        for ns in maybe_gone.iter().filter(|ns| !present.contains(*ns)) {
            self.stop(ns).await;
        }
        for ns in maybe_new.iter().filter(|ns| present.contains(*ns)) {
            if let Err(e) = self.start(ns).await {
                tracing::error!(namespace = %ns, "cannot start: {e:#}");
            }
        }
    }

    /// Brings the running set in line with the store's namespaces.
    async fn rescan(&mut self) {
        let present: Vec<String> = match self.store.namespaces() {
            Ok(ns) => ns,
            Err(e) => {
                tracing::warn!("listing namespaces: {e}");
                return;
            }
        };
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|ns| !present.contains(ns))
            .cloned()
            .collect();
        for ns in gone {
            self.stop(&ns).await;
        }
        for ns in present {
            if let Err(e) = self.start(&ns).await {
                tracing::error!(namespace = %ns, "cannot start: {e:#}");
            }
        }
    }
}
