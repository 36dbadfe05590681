//! The loader: keeps one namespace's symbol table in step with the store. It subscribes to the change
//! stream first, then loads the namespace (a diff from empty), then applies each batch of events as a
//! diff: specs stored or swapped are re-read and upserted, deleted ones freed, and any Value change
//! re-binds the namespace's env (the table restarts exactly the specs whose bound data changed).

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Mutex;
use uuid::Uuid;
use weir_symbols::Table;

use crate::store::{Event, Op, Resource, Store, StoreError};

/// Drives one namespace's table from a store.
pub struct Loader {
    store: Arc<dyn Store>,
    table: Arc<Mutex<Table>>,
}

impl Loader {
    pub fn new(store: Arc<dyn Store>, table: Arc<Mutex<Table>>) -> Self {
        Loader { store, table }
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
        let present: HashSet<Uuid> = specs.iter().filter_map(|s| s.id).collect();
        let gone: Vec<Uuid> = table
            .statuses()
            .into_iter()
            .map(|(id, _, _)| id)
            .filter(|id| !present.contains(id))
            .collect();
        table.apply(specs, &gone, &values);
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
        let specs = self.store.specs(Some(&ns))?;
        let values = self.store.values(Some(&ns))?;
        let upserts: Vec<_> = specs
            .into_iter()
            .filter(|s| s.id.is_some_and(|id| touched.contains(&id)))
            .collect();
        let present: HashSet<Uuid> = upserts.iter().filter_map(|s| s.id).collect();
        let removed: Vec<Uuid> = mine
            .iter()
            .filter(|e| e.resource == Resource::Specs && e.op == Op::Delete && !present.contains(&e.id))
            .map(|e| e.id)
            .collect();
        table.apply(upserts, &removed, &values);
        Ok(())
    }
}
