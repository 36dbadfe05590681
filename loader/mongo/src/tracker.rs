//! The change-stream bookkeeping, apart from any connection: turns MongoDB change events into store
//! [`Event`]s, keeps the id → namespace map a delete needs (a delete event carries only the
//! `documentKey`), remembers the resume token of the last event handled (or the latest
//! post-batch token), and numbers events with a revision of its own.
//!
//! The map is seeded from the collections right after the change stream opened at open time; every
//! later insert, replace or update passes through [`Tracker::on_event`] before its delete can, so a
//! delete of an unknown id can only be of a resource deleted before the store finished opening —
//! which every watcher's first read (after subscribing) already misses — and is skipped.

use std::collections::HashMap;

use bson::Document;
use mongodb::change_stream::event::{ChangeStreamEvent, OperationType, ResumeToken};
use uuid::Uuid;
use weir_loader::{Event, Op, Resource};

use crate::convert::{id_of, namespace_of};

/// The collections whose changes are events.
pub const WATCHED: [(&str, Resource); 3] = [
    ("specs", Resource::Specs),
    ("values", Resource::Values),
    ("charts", Resource::Charts),
];

/// The resource a collection holds, if it is one of [`WATCHED`].
pub fn resource_of(collection: &str) -> Option<Resource> {
    WATCHED
        .iter()
        .find(|(name, _)| *name == collection)
        .map(|(_, r)| *r)
}

/// Where a (re)opened change stream starts.
#[derive(Clone, Debug, PartialEq)]
pub enum Position {
    /// From now (the first open, or after the history was lost).
    Now,
    /// Right after this token (`resumeAfter`).
    ResumeAfter(ResumeToken),
    /// Right after this invalidate event (`startAfter`: `resumeAfter` refuses an invalidate).
    StartAfter(ResumeToken),
}

/// What one change event means.
#[derive(Debug, Default, PartialEq)]
pub struct Reaction {
    /// The store events to publish, in order.
    pub events: Vec<Event>,
    /// The stream ended (the database was dropped): reopen it from [`Tracker::position`].
    pub invalidated: bool,
}

/// Where the stream is, and which namespace each known resource is in.
#[derive(Debug, Default)]
pub struct Tracker {
    namespaces: HashMap<(Resource, Uuid), String>,
    position: Option<Position>,
    revision: u64,
}

impl Tracker {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records where resources are (from reading the collections); later events take precedence
    /// over nothing here, as they are newer.
    pub fn seed(&mut self, resource: Resource, entries: impl IntoIterator<Item = (Uuid, String)>) {
        for (id, ns) in entries {
            self.namespaces.insert((resource, id), ns);
        }
    }

    /// The namespace `id` is known to be in.
    #[cfg(test)]
    pub fn namespace(&self, resource: Resource, id: Uuid) -> Option<&str> {
        self.namespaces.get(&(resource, id)).map(String::as_str)
    }

    /// How many resources the map knows.
    #[cfg(test)]
    pub fn known(&self) -> usize {
        self.namespaces.len()
    }

    /// Where a reopened stream must start.
    pub fn position(&self) -> Position {
        self.position.clone().unwrap_or(Position::Now)
    }

    /// The last revision given out.
    #[cfg(test)]
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// A batch ended with `token` (the post-batch resume token): the stream is past it even if no
    /// event came, so a resume does not rescan what was already filtered out.
    /// After an invalidate the stream is over and only `startAfter` its token may reopen it.
    pub fn batch_end(&mut self, token: Option<ResumeToken>) {
        if matches!(self.position, Some(Position::StartAfter(_))) {
            return;
        }
        if let Some(token) = token {
            self.position = Some(Position::ResumeAfter(token));
        }
    }

    /// A stream was (re)opened at `token` (its initial post-batch token), if it gave one.
    pub fn opened_at(&mut self, token: Option<ResumeToken>) {
        if let Some(token) = token {
            self.position = Some(Position::ResumeAfter(token));
        }
    }

    fn position_token(&self) -> Option<&ResumeToken> {
        match &self.position {
            Some(Position::ResumeAfter(t) | Position::StartAfter(t)) => Some(t),
            _ => None,
        }
    }

    fn event(&mut self, resource: Resource, op: Op, id: Uuid, namespace: String) -> Event {
        self.revision += 1;
        Event {
            revision: self.revision,
            resource,
            op,
            id,
            namespace,
        }
    }

    /// Handles one change event: the store events it means, and the position after it.
    pub fn on_event(&mut self, change: &ChangeStreamEvent<Document>) -> Reaction {
        if self.position_token() == Some(&change.id) {
            tracing::debug!("mongodb store: change event seen twice, skipped");
            return Reaction::default();
        }
        let mut reaction = Reaction::default();
        match &change.operation_type {
            OperationType::Invalidate => {
                self.position = Some(Position::StartAfter(change.id.clone()));
                reaction.invalidated = true;
                return reaction;
            }
            OperationType::DropDatabase => reaction.events = self.forget_all(None),
            OperationType::Drop | OperationType::Rename => {
                if let Some(resource) = self.resource(change) {
                    reaction.events = self.forget_all(Some(resource));
                }
            }
            OperationType::Insert
            | OperationType::Replace
            | OperationType::Update
            | OperationType::Delete => {
                if let Some(e) = self.document_event(change) {
                    reaction.events.push(e);
                }
            }
            other => tracing::debug!("mongodb store: change event {other:?} ignored"),
        }
        self.position = Some(Position::ResumeAfter(change.id.clone()));
        reaction
    }

    fn resource(&self, change: &ChangeStreamEvent<Document>) -> Option<Resource> {
        change
            .ns
            .as_ref()
            .and_then(|ns| ns.coll.as_deref())
            .and_then(resource_of)
    }

    /// The event for an insert, replace, update or delete of one resource.
    fn document_event(&mut self, change: &ChangeStreamEvent<Document>) -> Option<Event> {
        let resource = self.resource(change)?;
        let Some(id) = change.document_key.as_ref().and_then(id_of) else {
            tracing::warn!(
                "mongodb store: a change in {} of a document whose _id is no UUID string, skipped",
                resource.as_str()
            );
            return None;
        };
        let key = (resource, id);
        let (op, namespace) = match change.operation_type {
            OperationType::Delete => {
                let Some(ns) = self.namespaces.remove(&key) else {
                    tracing::debug!(%id, "mongodb store: delete of a {} unknown here (deleted before this store opened), skipped", resource.as_str());
                    return None;
                };
                (Op::Delete, ns)
            }
            ref op => {
                // An update's full document is looked up later and may be gone (deleted since):
                // the map still knows where it was.
                let ns = change
                    .full_document
                    .as_ref()
                    .and_then(namespace_of)
                    .map(str::to_string)
                    .or_else(|| self.namespaces.get(&key).cloned());
                let Some(ns) = ns else {
                    tracing::warn!(%id, "mongodb store: a change of a {} with no namespace, skipped", resource.as_str());
                    return None;
                };
                self.namespaces.insert(key, ns.clone());
                let op = if *op == OperationType::Insert {
                    Op::Store
                } else {
                    Op::Swap
                };
                (op, ns)
            }
        };
        Some(self.event(resource, op, id, namespace))
    }

    /// Deletes for every known resource (of one collection, or all), in a stable order.
    fn forget_all(&mut self, resource: Option<Resource>) -> Vec<Event> {
        let mut gone: Vec<((Resource, Uuid), String)> = self
            .namespaces
            .iter()
            .filter(|((r, _), _)| resource.is_none_or(|x| x == *r))
            .map(|(k, ns)| (*k, ns.clone()))
            .collect();
        gone.sort_by_key(|((r, id), _)| (r.as_str(), *id));
        gone.into_iter()
            .map(|((r, id), ns)| {
                self.namespaces.remove(&(r, id));
                self.event(r, Op::Delete, id, ns)
            })
            .collect()
    }

    /// After the stream's history was lost (the resume token fell off the oplog): replaces the map
    /// with `fresh` (read after a new stream opened) and returns the events that bring a watcher up
    /// to date — a delete for each resource gone, a store for each new one, and a swap for each one
    /// still there (it may have changed; re-reading an unchanged spec restarts nothing).
    pub fn resync(&mut self, fresh: HashMap<(Resource, Uuid), String>) -> Vec<Event> {
        let mut old = std::mem::take(&mut self.namespaces);
        let mut keys: Vec<(Resource, Uuid)> = old.keys().chain(fresh.keys()).copied().collect();
        keys.sort_by_key(|(r, id)| (r.as_str(), *id));
        keys.dedup();
        let mut events = Vec::new();
        for (r, id) in keys {
            let (op, ns) = match (old.remove(&(r, id)), fresh.get(&(r, id))) {
                (Some(ns), None) => (Op::Delete, ns),
                (None, Some(ns)) => (Op::Store, ns.clone()),
                (Some(_), Some(ns)) => (Op::Swap, ns.clone()),
                (None, None) => continue,
            };
            events.push(self.event(r, op, id, ns));
        }
        self.namespaces = fresh;
        self.position = None;
        events
    }
}

#[cfg(test)]
#[path = "tracker_tests.rs"]
mod tests;
