//! The in-memory store (`memory://`): a process-local store with the full contract, for tests and for
//! running specs straight from files.

use indexmap::IndexMap;
use parking_lot::Mutex;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_codecs::resource::{Spec, ValueResource};

use crate::keyed::{resolve_id, Keyed};
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
        let (next, changes) = upsert(&s.specs, specs)?;
        s.specs = next;
        self.publish(&mut s, Resource::Specs, &changes);
        Ok(changes)
    }

    fn apply_values(&self, values: Vec<ValueResource>) -> Result<Vec<Change>, StoreError> {
        let mut s = self.state.lock();
        let (next, changes) = upsert(&s.values, values)?;
        s.values = next;
        self.publish(&mut s, Resource::Values, &changes);
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
        self.publish(&mut s, Resource::Specs, &changes);
        Ok(changes)
    }

    fn watch(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}
