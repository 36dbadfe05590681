//! Channels (DESIGN.md, Semantics): named publish/subscribe topics per namespace, each subscriber with
//! its own bounded queue.
//!
//! A [`Channels`] hub belongs to the host. Code of one namespace reaches it through
//! [`Channels::scope`], which hands out topics of that namespace only (the `system` namespace may name
//! any). Two ways to publish:
//! - [`Topic::publish`] waits for room in every subscriber's queue: a slow subscriber slows the
//!   publisher (backpressure), nothing is dropped;
//! - [`Topic::offer`] never waits: a subscriber whose queue is full is cut off, and its stream ends with
//!   [`Lagged`] after the events it already has, so it knows to resume from a position of its own (the
//!   store topics are published this way, so a stuck watcher never holds up the loader).
//!
//! A subscription may carry a filter (what its subscriber may see); events it rejects are not queued.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::Value;

/// The namespace whose code may use every namespace's topics.
pub const SYSTEM: &str = "system";

/// Why a subscription's stream ended early: its queue was full when an event was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the subscriber fell behind and was cut off; resume from its last position")]
pub struct Lagged;

/// A topic name outside the caller's namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("namespace {namespace}: topic {topic:?} of namespace {other} is out of reach; only the system namespace may use other namespaces' topics")]
pub struct OutOfReach {
    pub namespace: String,
    pub other: String,
    pub topic: String,
}

/// (namespace, topic name).
type TopicKey = (Arc<str>, Arc<str>);

type Filter = Arc<dyn Fn(&Value) -> bool + Send + Sync>;

struct Subscriber {
    tx: mpsc::Sender<Value>,
    filter: Option<Filter>,
    lagged: Arc<AtomicBool>,
}

/// One named topic of one namespace.
pub struct Topic {
    namespace: Arc<str>,
    name: Arc<str>,
    capacity: usize,
    subscribers: Mutex<Vec<Subscriber>>,
}

impl std::fmt::Debug for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Topic")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .field("subscribers", &self.subscribers.lock().len())
            .finish()
    }
}

/// A subscriber's end: events in publish order.
#[derive(Debug)]
pub struct Subscription {
    rx: mpsc::Receiver<Value>,
    lagged: Arc<AtomicBool>,
    /// Keeps the topic alive for later publishers while someone listens.
    topic: Arc<Topic>,
}

impl Subscription {
    /// The next event; after the events already queued, `Some(Err(Lagged))` once if the subscriber
    /// was cut off, then `None` (also when the topic is gone).
    pub async fn recv(&mut self) -> Option<Result<Value, Lagged>> {
        match self.rx.recv().await {
            Some(v) => Some(Ok(v)),
            None => self.lag(),
        }
    }

    /// The next event if one is ready, with the same end as [`Subscription::recv`].
    pub fn try_recv(&mut self) -> Option<Result<Value, Lagged>> {
        match self.rx.try_recv() {
            Ok(v) => Some(Ok(v)),
            Err(mpsc::error::TryRecvError::Empty) => None,
            Err(mpsc::error::TryRecvError::Disconnected) => self.lag(),
        }
    }

    /// The topic subscribed to.
    pub fn topic(&self) -> &Arc<Topic> {
        &self.topic
    }

    fn lag(&self) -> Option<Result<Value, Lagged>> {
        self.lagged.swap(false, Ordering::AcqRel).then_some(Err(Lagged))
    }
}

impl Topic {
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A new subscriber that sees every event published from now on.
    pub fn subscribe(self: &Arc<Self>) -> Subscription {
        self.subscribe_with(None)
    }

    /// A new subscriber that sees the events `filter` accepts.
    pub fn subscribe_filtered(
        self: &Arc<Self>,
        filter: impl Fn(&Value) -> bool + Send + Sync + 'static,
    ) -> Subscription {
        self.subscribe_with(Some(Arc::new(filter)))
    }

    fn subscribe_with(self: &Arc<Self>, filter: Option<Filter>) -> Subscription {
        let (tx, rx) = mpsc::channel(self.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        self.subscribers.lock().push(Subscriber {
            tx,
            filter,
            lagged: lagged.clone(),
        });
        Subscription {
            rx,
            lagged,
            topic: self.clone(),
        }
    }

    /// Live subscribers (those whose `Subscription` is still held).
    pub fn subscribers(&self) -> usize {
        let mut subs = self.subscribers.lock();
        subs.retain(|s| !s.tx.is_closed());
        subs.len()
    }

    /// Delivers `value` to every subscriber that accepts it, waiting for room in each queue in turn.
    /// Returns how many received it.
    pub async fn publish(&self, value: Value) -> usize {
        let targets: Vec<_> = {
            let mut subs = self.subscribers.lock();
            subs.retain(|s| !s.tx.is_closed());
            subs.iter()
                .filter(|s| s.filter.as_ref().is_none_or(|f| f(&value)))
                .map(|s| s.tx.clone())
                .collect()
        };
        let mut delivered = 0;
        for tx in targets {
            if tx.send(value.clone()).await.is_ok() {
                delivered += 1;
            }
        }
        delivered
    }

    /// Delivers `value` to every subscriber that accepts it without waiting: a subscriber with a full
    /// queue gets [`Lagged`] and is dropped. Returns how many received it.
    pub fn offer(&self, value: &Value) -> usize {
        let mut subs = self.subscribers.lock();
        let mut delivered = 0;
        subs.retain(|s| {
            if s.tx.is_closed() {
                return false;
            }
            if !s.filter.as_ref().is_none_or(|f| f(value)) {
                return true;
            }
            match s.tx.try_send(value.clone()) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    s.lagged.store(true, Ordering::Release);
                    false
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        });
        delivered
    }
}

/// The host's hub of topics, keyed by namespace and name.
#[derive(Debug, Clone)]
pub struct Channels {
    inner: Arc<Hub>,
}

#[derive(Debug)]
struct Hub {
    capacity: usize,
    topics: Mutex<HashMap<TopicKey, Weak<Topic>>>,
}

impl Channels {
    /// A hub whose subscribers each queue up to `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Channels {
            inner: Arc::new(Hub {
                capacity: capacity.max(1),
                topics: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The topic `name` of `namespace`, made on first use and kept while anyone holds it or listens to
    /// it.
    pub fn topic(&self, namespace: &str, name: &str) -> Arc<Topic> {
        let mut topics = self.inner.topics.lock();
        let key: TopicKey = (namespace.into(), name.into());
        if let Some(t) = topics.get(&key).and_then(Weak::upgrade) {
            return t;
        }
        topics.retain(|_, t| t.strong_count() > 0);
        let t = Arc::new(Topic {
            namespace: key.0.clone(),
            name: key.1.clone(),
            capacity: self.inner.capacity,
            subscribers: Mutex::new(Vec::new()),
        });
        topics.insert(key, Arc::downgrade(&t));
        t
    }

    /// The topic if it exists now (someone holds it).
    pub fn existing(&self, namespace: &str, name: &str) -> Option<Arc<Topic>> {
        let topics = self.inner.topics.lock();
        topics
            .get(&(Arc::<str>::from(namespace), Arc::<str>::from(name)))
            .and_then(Weak::upgrade)
    }

    /// The view of the hub that code running in `namespace` gets.
    pub fn scope(&self, namespace: &str) -> Scope {
        Scope {
            channels: self.clone(),
            namespace: namespace.into(),
        }
    }
}

/// The topics one namespace can reach: its own, or any when it is `system`.
#[derive(Debug, Clone)]
pub struct Scope {
    channels: Channels,
    namespace: Arc<str>,
}

impl Scope {
    /// The topic `name` of this namespace.
    pub fn topic(&self, name: &str) -> Arc<Topic> {
        self.channels.topic(&self.namespace, name)
    }

    /// The topic `name` of `namespace`: refused unless it is this namespace or this is `system`.
    pub fn topic_in(&self, namespace: &str, name: &str) -> Result<Arc<Topic>, OutOfReach> {
        if namespace != &*self.namespace && &*self.namespace != SYSTEM {
            return Err(OutOfReach {
                namespace: self.namespace.to_string(),
                other: namespace.to_string(),
                topic: name.to_string(),
            });
        }
        Ok(self.channels.topic(namespace, name))
    }
}

#[cfg(test)]
#[path = "channel_tests.rs"]
mod tests;
