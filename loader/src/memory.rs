//! The in-memory store (`memory://`): a process-local store with the full contract, for tests and for
//! running specs straight from files.

use std::collections::HashMap;

use indexmap::IndexMap;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_codecs::resource::{Chart, Spec, ValueResource};

use crate::keyed::{resolve_id, Keyed};
use crate::store::{Change, Event, Op, Resource, SpecStatus, Store, StoreError};

#[derive(Default)]
struct State {
    specs: IndexMap<Uuid, Spec>,
    values: IndexMap<Uuid, ValueResource>,
    charts: IndexMap<Uuid, Chart>,
    statuses: HashMap<Uuid, SpecStatus>,
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

/// Upserts `items` by id or (namespace, name) into a copy of `current`: all or none.
fn upsert<T: Keyed>(
    current: &IndexMap<Uuid, T>,
    items: Vec<T>,
) -> Result<(IndexMap<Uuid, T>, Vec<Change>), StoreError> {
    let mut next = current.clone();
    let mut changes = Vec::new();
    for (index, mut item) in items.into_iter().enumerate() {
        let id = resolve_id(&item, index, |ns, name| {
            Ok(next
                .iter()
                .find(|(_, e)| e.namespace() == ns && e.name() == Some(name))
                .map(|(id, _)| *id))
        })?;
        let namespace = item.namespace().to_string();
        item.set_id(id);
        let op = match next.get(&id) {
            Some(old) if *old == item => continue,
            Some(_) => Op::Swap,
            None => Op::Store,
        };
        changes.push(Change {
            op,
            id,
            namespace,
            name: item.name().map(str::to_string),
        });
        next.insert(id, item);
    }
    Ok((next, changes))
}

/// Removes `ids` from `map`, returning the changes.
fn remove<T: Keyed>(map: &mut IndexMap<Uuid, T>, ids: &[Uuid]) -> Vec<Change> {
    ids.iter()
        .filter_map(|id| {
            map.shift_remove(id).map(|r| Change {
                op: Op::Delete,
                id: *id,
                namespace: r.namespace().to_string(),
                name: r.name().map(str::to_string),
            })
        })
        .collect()
}

fn list<T: Keyed>(map: &IndexMap<Uuid, T>, namespace: Option<&str>) -> Vec<T> {
    map.values()
        .filter(|x| namespace.is_none_or(|n| x.namespace() == n))
        .cloned()
        .collect()
}

impl MemoryStore {
    fn publish(&self, s: &mut State, resource: Resource, changes: &[Change]) {
        for c in changes {
            s.revision += 1;
            let _ = self.events.send(Event {
                revision: s.revision,
                resource,
                op: c.op,
                id: c.id,
                namespace: c.namespace.clone(),
            });
        }
    }

    /// Runs a write on one collection under the lock and publishes what it changed.
    fn write(
        &self,
        resource: Resource,
        f: impl FnOnce(&mut State) -> Result<Vec<Change>, StoreError>,
    ) -> Result<Vec<Change>, StoreError> {
        let mut s = self.state.lock();
        let changes = f(&mut s)?;
        if resource == Resource::Specs {
            for c in changes.iter().filter(|c| c.op == Op::Delete) {
                s.statuses.remove(&c.id);
            }
        }
        self.publish(&mut s, resource, &changes);
        Ok(changes)
    }
}

impl Store for MemoryStore {
    fn specs(&self, namespace: Option<&str>) -> Result<Vec<Spec>, StoreError> {
        Ok(list(&self.state.lock().specs, namespace))
    }

    fn values(&self, namespace: Option<&str>) -> Result<Vec<ValueResource>, StoreError> {
        Ok(list(&self.state.lock().values, namespace))
    }

    fn charts(&self, namespace: Option<&str>) -> Result<Vec<Chart>, StoreError> {
        Ok(list(&self.state.lock().charts, namespace))
    }

    fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        let s = self.state.lock();
        let mut ns: Vec<String> = s.specs.values().map(|x| x.namespace.clone()).collect();
        ns.sort();
        ns.dedup();
        Ok(ns)
    }

    fn specs_by_id(&self, namespace: &str, ids: &[Uuid]) -> Result<Vec<Spec>, StoreError> {
        let s = self.state.lock();
        Ok(ids
            .iter()
            .filter_map(|id| s.specs.get(id))
            .filter(|x| x.namespace == namespace)
            .cloned()
            .collect())
    }

    fn apply_specs(&self, specs: Vec<Spec>) -> Result<Vec<Change>, StoreError> {
        self.write(Resource::Specs, |s| {
            let (next, changes) = upsert(&s.specs, specs)?;
            s.specs = next;
            Ok(changes)
        })
    }

    fn apply_values(&self, values: Vec<ValueResource>) -> Result<Vec<Change>, StoreError> {
        self.write(Resource::Values, |s| {
            let (next, changes) = upsert(&s.values, values)?;
            s.values = next;
            Ok(changes)
        })
    }

    fn apply_charts(&self, charts: Vec<Chart>) -> Result<Vec<Change>, StoreError> {
        self.write(Resource::Charts, |s| {
            let (next, changes) = upsert(&s.charts, charts)?;
            s.charts = next;
            Ok(changes)
        })
    }

    fn delete_specs(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.write(Resource::Specs, |s| Ok(remove(&mut s.specs, ids)))
    }

    fn delete_values(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.write(Resource::Values, |s| Ok(remove(&mut s.values, ids)))
    }

    fn delete_charts(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.write(Resource::Charts, |s| Ok(remove(&mut s.charts, ids)))
    }

    fn record_statuses(&self, set: Vec<SpecStatus>, forget: &[Uuid]) -> Result<(), StoreError> {
        let mut s = self.state.lock();
        for id in forget {
            s.statuses.remove(id);
        }
        for st in set {
            s.statuses.insert(st.id, st);
        }
        Ok(())
    }

    fn clear_statuses(&self, host: &str, namespace: &str) -> Result<(), StoreError> {
        self.state
            .lock()
            .statuses
            .retain(|_, st| !(st.host == host && st.namespace == namespace));
        Ok(())
    }

    fn statuses(&self, namespace: Option<&str>) -> Result<Vec<SpecStatus>, StoreError> {
        let s = self.state.lock();
        Ok(s.statuses
            .values()
            .filter(|st| namespace.is_none_or(|n| st.namespace == n))
            .cloned()
            .collect())
    }

    fn watch(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}
