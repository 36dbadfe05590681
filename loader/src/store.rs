//! The store contract: specs and values by namespace, atomic batches, and a change stream of
//! `{op, id, namespace}` events with a revision each, so a watcher can resume without missing or
//! repeating an event.

use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_codecs::resource::{Spec, ValueResource};

/// Which collection an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Specs,
    Values,
}

/// What happened to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Store,
    Swap,
    Delete,
}

/// One change, as the change stream carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub revision: u64,
    pub resource: Resource,
    pub op: Op,
    pub id: Uuid,
    pub namespace: String,
}

/// What a write changed, for the CLI to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub op: Op,
    pub id: Uuid,
    pub namespace: String,
    pub name: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    #[error("namespace \"{namespace}\": {resource} \"{name}\": field \"name\": already used by {other}")]
    Duplicate {
        namespace: String,
        resource: &'static str,
        name: String,
        other: Uuid,
    },
    #[error(
        "namespace \"{namespace}\": {resource} entry {index}: field \"name\": an entry needs a name or an id"
    )]
    Unidentified {
        namespace: String,
        resource: &'static str,
        index: usize,
    },
    #[error("store: {0}")]
    Backend(String),
}

/// A store of resources with a change stream.
pub trait Store: Send + Sync {
    /// Specs of one namespace, or of all when `None`.
    fn specs(&self, namespace: Option<&str>) -> Result<Vec<Spec>, StoreError>;
    fn values(&self, namespace: Option<&str>) -> Result<Vec<ValueResource>, StoreError>;
    /// Upserts specs by id or (namespace, name), all or none.
    fn apply_specs(&self, specs: Vec<Spec>) -> Result<Vec<Change>, StoreError>;
    fn apply_values(&self, values: Vec<ValueResource>) -> Result<Vec<Change>, StoreError>;
    fn delete_specs(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError>;
    /// Every namespace with at least one spec.
    fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        let mut ns: Vec<String> = self.specs(None)?.into_iter().map(|s| s.namespace).collect();
        ns.sort();
        ns.dedup();
        Ok(ns)
    }
    /// Events after the current revision.
    fn watch(&self) -> broadcast::Receiver<Event>;
}
