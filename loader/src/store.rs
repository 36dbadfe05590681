//! The store contract: specs, values and charts by namespace, atomic batches, and a change stream of
//! `{op, id, namespace}` events with a revision each, so a watcher can resume without missing or
//! repeating an event. Beside the resources, each running host records every spec's status
//! ([`SpecStatus`]) for `weir get` to show; recording one writes no event.

use serde::Serialize;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_codecs::resource::{Chart, Spec, ValueResource};

/// Which collection an event is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Resource {
    Specs,
    Values,
    Charts,
}

impl Resource {
    /// `specs`, `values` or `charts`.
    pub fn as_str(self) -> &'static str {
        match self {
            Resource::Specs => "specs",
            Resource::Values => "values",
            Resource::Charts => "charts",
        }
    }
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

/// A spec's state as a running host last recorded it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpecStatus {
    pub id: Uuid,
    pub namespace: String,
    /// Which host recorded it (`HOSTNAME pid N`).
    pub host: String,
    /// `None` when active, else why it is inactive.
    pub error: Option<String>,
}

impl SpecStatus {
    pub fn is_active(&self) -> bool {
        self.error.is_none()
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
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
    fn charts(&self, namespace: Option<&str>) -> Result<Vec<Chart>, StoreError>;
    fn apply_charts(&self, charts: Vec<Chart>) -> Result<Vec<Change>, StoreError>;
    /// Deletes by id, all in one write; unknown ids are skipped.
    fn delete_specs(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError>;
    fn delete_values(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError>;
    fn delete_charts(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError>;
    /// The specs of `namespace` with these ids (those that exist).
    fn specs_by_id(&self, namespace: &str, ids: &[Uuid]) -> Result<Vec<Spec>, StoreError> {
        let wanted: std::collections::HashSet<&Uuid> = ids.iter().collect();
        Ok(self
            .specs(Some(namespace))?
            .into_iter()
            .filter(|s| s.id.is_some_and(|id| wanted.contains(&id)))
            .collect())
    }
    /// Records statuses written by `host` (replacing earlier records of those specs) and forgets
    /// the records of `forget`, in one write.
    fn record_statuses(&self, set: Vec<SpecStatus>, forget: &[Uuid]) -> Result<(), StoreError>;
    /// Forgets every status `host` recorded in `namespace` (the host stopped running it).
    fn clear_statuses(&self, host: &str, namespace: &str) -> Result<(), StoreError>;
    /// Recorded statuses, of one namespace or of all.
    fn statuses(&self, namespace: Option<&str>) -> Result<Vec<SpecStatus>, StoreError>;
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
