//! The loader: keeps one namespace's symbol table in step with the store. It subscribes to the change
//! stream first, then loads the namespace (a diff from empty), then applies each batch of events as a
//! diff: specs stored or swapped are re-read and upserted, deleted ones freed, any Value change
//! re-binds the namespace's env (the table restarts exactly the specs whose bound data changed), and
//! any chart change re-reads the namespace's charts (the table recompiles exactly the specs of the
//! kinds whose chart changed).
//! After each load it records in the store the statuses that changed (active, or inactive with its
//! error), for `weir get specs` to show; [`Loader::forget`] clears them when the host stops.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Mutex;
use uuid::Uuid;
use weir_symbols::{Status, Table};

use crate::store::{Event, Op, Resource, SpecStatus, Store, StoreError};

/// Drives one namespace's table from a store.
pub struct Loader {
    store: Arc<dyn Store>,
    table: Arc<Mutex<Table>>,
    host: String,
    /// What this loader last recorded: spec id → error (`None` when active).
    recorded: parking_lot::Mutex<HashMap<Uuid, Option<String>>>,
    /// Status changes not recorded yet (`None`: the spec is gone).
    unrecorded: parking_lot::Mutex<HashMap<Uuid, Option<Option<String>>>>,
}

/// This host's name in status records: `HOSTNAME pid N`.
pub fn host_name() -> String {
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{name} pid {}", std::process::id())
}

impl Loader {
    pub fn new(store: Arc<dyn Store>, table: Arc<Mutex<Table>>) -> Self {
        Loader {
            store,
            table,
            host: host_name(),
            recorded: parking_lot::Mutex::new(HashMap::new()),
            unrecorded: parking_lot::Mutex::new(HashMap::new()),
        }
    }

    /// Records statuses under `host` instead of [`host_name`].
    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// Clears the statuses this loader recorded (the host stops running the namespace).
    pub async fn forget(&self) {
        let ns = self.table.lock().await.namespace().to_string();
        self.recorded.lock().clear();
        self.unrecorded.lock().clear();
        if let Err(e) = self.store.clear_statuses(&self.host, &ns) {
            tracing::warn!(namespace = %ns, "clearing spec statuses: {e}");
        }
    }

    /// Writes the statuses that changed since the last record (those the table reports changed,
    /// and those a failed write left behind).
    fn record(&self, table: &mut Table) {
        let ns = table.namespace().to_string();
        let mut recorded = self.recorded.lock();
        let mut pending = self.unrecorded.lock();
        for (id, status) in table.take_status_changes() {
            pending.insert(
                id,
                status.map(|st| match st {
                    Status::Active => None,
                    Status::Inactive(e) => Some(e),
                }),
            );
        }
        let mut set = Vec::new();
        let mut forget = Vec::new();
        for (id, now) in pending.iter() {
            match now {
                Some(e) if recorded.get(id) != Some(e) => set.push(SpecStatus {
                    id: *id,
                    namespace: ns.clone(),
                    host: self.host.clone(),
                    error: e.clone(),
                }),
                None if recorded.contains_key(id) => forget.push(*id),
                _ => {}
            }
        }
        if set.is_empty() && forget.is_empty() {
            pending.clear();
            return;
        }
        match self.store.record_statuses(set, &forget) {
            Ok(()) => {
                for (id, now) in pending.drain() {
                    match now {
                        Some(e) => {
                            recorded.insert(id, e);
                        }
                        None => {
                            recorded.remove(&id);
                        }
                    }
                }
            }
            Err(e) => tracing::warn!(namespace = %ns, "recording spec statuses: {e}"),
        }
    }

    /// Loads the namespace, then follows the change stream until it closes.
    pub async fn run(self) -> Result<(), StoreError> {
        let mut events = self.store.watch();
        self.reload().await?;
        loop {
            let first = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(n)) => {
                    tracing::warn!("loader fell {n} events behind; reloading the namespace");
                    self.reload().await?;
                    continue;
                }
                Err(RecvError::Closed) => return Ok(()),
            };
            let mut batch = vec![first];
            let mut lagged = false;
            loop {
                match events.try_recv() {
                    Ok(e) => batch.push(e),
                    Err(tokio::sync::broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                    Err(_) => break,
                }
            }
            if lagged {
                self.reload().await?;
            } else {
                self.apply(&batch).await?;
            }
        }
    }

    /// The whole namespace as a diff against what the table has.
    pub async fn reload(&self) -> Result<(), StoreError> {
        let mut table = self.table.lock().await;
        let ns = table.namespace().to_string();
        let specs = self.store.specs(Some(&ns))?;
        let values = self.store.values(Some(&ns))?;
        table.set_charts(self.store.charts(Some(&ns))?);
        let present: HashSet<Uuid> = specs.iter().filter_map(|s| s.id).collect();
        let gone: Vec<Uuid> = table
            .statuses()
            .into_iter()
            .map(|(id, _, _)| id)
            .filter(|id| !present.contains(id))
            .collect();
        table.apply(specs, &gone, &values);
        self.record(&mut table);
        Ok(())
    }

    async fn apply(&self, batch: &[Event]) -> Result<(), StoreError> {
        let mut table = self.table.lock().await;
        let ns = table.namespace().to_string();
        let mine: Vec<&Event> = batch.iter().filter(|e| e.namespace == ns).collect();
        if mine.is_empty() {
            return Ok(());
        }
        let touched: HashSet<Uuid> = mine
            .iter()
            .filter(|e| e.resource == Resource::Specs)
            .map(|e| e.id)
            .collect();
        let touched: Vec<Uuid> = touched.into_iter().collect();
        let upserts = self.store.specs_by_id(&ns, &touched)?;
        // Values and charts are re-read only when one of them changed.
        let values = if mine.iter().any(|e| e.resource == Resource::Values) {
            Some(self.store.values(Some(&ns))?)
        } else {
            None
        };
        if mine.iter().any(|e| e.resource == Resource::Charts) {
            table.set_charts(self.store.charts(Some(&ns))?);
        }
        let present: HashSet<Uuid> = upserts.iter().filter_map(|s| s.id).collect();
        let removed: Vec<Uuid> = mine
            .iter()
            .filter(|e| e.resource == Resource::Specs && e.op == Op::Delete && !present.contains(&e.id))
            .map(|e| e.id)
            .collect();
        table.apply_changes(upserts, &removed, values.as_deref());
        self.record(&mut table);
        Ok(())
    }
}
