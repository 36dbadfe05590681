//! The in-memory store (`memory://`): a process-local store with the full contract, for tests and for
//! running specs straight from files.

use indexmap::IndexMap;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_codecs::resource::{Spec, ValueResource};

use crate::store::{Change, Event, Op, Resource, Store, StoreError};

#[derive(Default)]
struct State {
    specs: IndexMap<Uuid, Spec>,
    values: IndexMap<Uuid, ValueResource>,
    revision: u64,
}

/// A store that lives in this process.
pub struct MemoryStore {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore {
            state: Mutex::new(State::default()),
            events: broadcast::channel(4096).0,
        }
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

/// Finds the id an entry upserts: its own id, else the id of the same (namespace, name).
fn resolve<'a, T>(
    existing: impl Iterator<Item = (&'a Uuid, &'a T)>,
    id: Option<Uuid>,
    namespace: &str,
    name: Option<&str>,
    key: impl Fn(&T) -> (&str, Option<&str>),
) -> (Option<Uuid>, Option<Uuid>)
where
    T: 'a,
{
    let mut same_name = None;
    for (eid, e) in existing {
        let (ens, ename) = key(e);
        if ens == namespace && name.is_some() && ename == name {
            same_name = Some(*eid);
        }
    }
    (id, same_name)
}

impl Store for MemoryStore {
    fn specs(&self, namespace: Option<&str>) -> Result<Vec<Spec>, StoreError> {
        let s = self.state.lock();
        Ok(s.specs
            .values()
            .filter(|x| namespace.is_none_or(|n| x.namespace == n))
            .cloned()
            .collect())
    }

    fn values(&self, namespace: Option<&str>) -> Result<Vec<ValueResource>, StoreError> {
        let s = self.state.lock();
        Ok(s.values
            .values()
            .filter(|x| namespace.is_none_or(|n| x.namespace == n))
            .cloned()
            .collect())
    }

    fn apply_specs(&self, specs: Vec<Spec>) -> Result<Vec<Change>, StoreError> {
        let mut s = self.state.lock();
        let mut next = s.specs.clone();
        let mut changes = Vec::new();
        for (index, mut spec) in specs.into_iter().enumerate() {
            if spec.id.is_none() && spec.name.is_none() {
                return Err(StoreError::Unidentified {
                    namespace: spec.namespace,
                    resource: "spec",
                    index: index + 1,
                });
            }
            let (id, same) = resolve(
                next.iter(),
                spec.id,
                &spec.namespace,
                spec.name.as_deref(),
                |e: &Spec| (e.namespace.as_str(), e.name.as_deref()),
            );
            let id = match (id, same) {
                (Some(id), Some(other)) if other != id => {
                    return Err(StoreError::Duplicate {
                        namespace: spec.namespace,
                        resource: "spec",
                        name: spec.name.unwrap_or_default(),
                        other,
                    })
                }
                (Some(id), _) => id,
                (None, Some(other)) => other,
                (None, None) => Uuid::now_v7(),
            };
            spec.id = Some(id);
            let op = match next.get(&id) {
                Some(old) if *old == spec => continue,
                Some(_) => Op::Swap,
                None => Op::Store,
            };
            changes.push(Change {
                op,
                id,
                namespace: spec.namespace.clone(),
                name: spec.name.clone(),
            });
            next.insert(id, spec);
        }
        s.specs = next;
        for c in &changes {
            s.revision += 1;
            let _ = self.events.send(Event {
                revision: s.revision,
                resource: Resource::Specs,
                op: c.op,
                id: c.id,
                namespace: c.namespace.clone(),
            });
        }
        Ok(changes)
    }

    fn apply_values(&self, values: Vec<ValueResource>) -> Result<Vec<Change>, StoreError> {
        let mut s = self.state.lock();
        let mut next = s.values.clone();
        let mut changes = Vec::new();
        for (index, mut value) in values.into_iter().enumerate() {
            if value.id.is_none() && value.name.is_none() {
                return Err(StoreError::Unidentified {
                    namespace: value.namespace,
                    resource: "value",
                    index: index + 1,
                });
            }
            let (id, same) = resolve(
                next.iter(),
                value.id,
                &value.namespace,
                value.name.as_deref(),
                |e: &ValueResource| (e.namespace.as_str(), e.name.as_deref()),
            );
            let id = match (id, same) {
                (Some(id), Some(other)) if other != id => {
                    return Err(StoreError::Duplicate {
                        namespace: value.namespace,
                        resource: "value",
                        name: value.name.unwrap_or_default(),
                        other,
                    })
                }
                (Some(id), _) => id,
                (None, Some(other)) => other,
                (None, None) => Uuid::now_v7(),
            };
            value.id = Some(id);
            let op = match next.get(&id) {
                Some(old) if *old == value => continue,
                Some(_) => Op::Swap,
                None => Op::Store,
            };
            changes.push(Change {
                op,
                id,
                namespace: value.namespace.clone(),
                name: value.name.clone(),
            });
            next.insert(id, value);
        }
        s.values = next;
        for c in &changes {
            s.revision += 1;
            let _ = self.events.send(Event {
                revision: s.revision,
                resource: Resource::Values,
                op: c.op,
                id: c.id,
                namespace: c.namespace.clone(),
            });
        }
        Ok(changes)
    }

    fn delete_specs(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        let mut s = self.state.lock();
        let mut changes = Vec::new();
        for id in ids {
            if let Some(spec) = s.specs.shift_remove(id) {
                changes.push(Change {
                    op: Op::Delete,
                    id: *id,
                    namespace: spec.namespace,
                    name: spec.name,
                });
            }
        }
        for c in &changes {
            s.revision += 1;
            let _ = self.events.send(Event {
                revision: s.revision,
                resource: Resource::Specs,
                op: Op::Delete,
                id: c.id,
                namespace: c.namespace.clone(),
            });
        }
        Ok(changes)
    }

    fn watch(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}
