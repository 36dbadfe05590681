//! `cache`: answers repeated payloads from a least-recently-used cache (uniflow's cache node). A
//! payload seen before (and not expired) is answered with the stored reply at once, without calling
//! downstream; a new one is sent on `out`, and downstream's whole reply is stored under the payload
//! and becomes the answer. Errors are not stored. The cache belongs to the node: every process sees
//! it.
//!
//! Concurrent misses for one payload call downstream once: the first caller leads, the others wait
//! for its reply. A leader that fails (or whose process ends) stores nothing, and the next waiter
//! calls downstream itself.
//!
//! Fields: `capacity` (entries kept, least recently used evicted first; default 1024, `0` for no
//! bound) and `ttl` (how long an entry lives; uniflow's name `interval` is accepted too; default:
//! for ever). Ports: `in` → `out`, `error`. With `out` unconnected the payload is its own answer and
//! nothing is stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::watch;
use tokio::time::Instant;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result, Value};

use super::downstream::call_targets;
use super::snippet::duration_schema;

/// Entries kept when a spec sets no `capacity`.
pub const DEFAULT_CAPACITY: usize = 1024;

/// The fields of a `cache` spec.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct CacheFields {
    /// The most entries kept; the least recently used goes first. Default 1024; `0` for no bound.
    #[serde(default)]
    pub capacity: Option<u64>,
    /// How long an entry lives after it is stored (`"10m"`, `"1h"` or milliseconds); default: for
    /// ever. `interval` is uniflow's name for it and is accepted too.
    #[serde(default, alias = "interval")]
    #[schemars(schema_with = "duration_schema")]
    pub ttl: Option<serde_json::Value>,
}

/// The `cache` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheKind;

impl Kind for CacheKind {
    const KIND: &'static str = "cache";
    type Fields = CacheFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Answers repeated payloads from an LRU cache of downstream's replies (capacity, ttl)."
    }

    fn compile(&self, fields: CacheFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let ttl = match &fields.ttl {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => Some(weir_codecs::coerce::to_duration(v, "ttl")?).filter(|d| !d.is_zero()),
        };
        let capacity = match fields.capacity {
            None => DEFAULT_CAPACITY,
            Some(0) => usize::MAX,
            Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        };
        Ok(BoxedNode::new(Cache::new(capacity, ttl)))
    }
}

/// A stored reply.
type Stored = Arc<Vec<Value>>;

/// The node.
pub struct Cache {
    lru: Mutex<Lru>,
    /// Misses being answered now, by key: the leader's reply is sent on the channel.
    inflight: Inflight,
}

/// The channels of the misses being answered, by key.
type Inflight = Arc<Mutex<HashMap<String, Arc<watch::Sender<Option<Stored>>>>>>;

impl Cache {
    /// A cache of at most `capacity` entries, each living `ttl` (for ever when `None`).
    pub fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Cache {
            lru: Mutex::new(Lru::new(capacity, ttl)),
            inflight: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// Entries stored now (expired ones included until they are looked up or evicted).
    pub fn len(&self) -> usize {
        self.lru.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes the in-flight entry when the leader is done or dropped (its process ended).
struct Lead {
    key: String,
    inflight: Inflight,
}

impl Drop for Lead {
    fn drop(&mut self) {
        self.inflight.lock().remove(&self.key);
    }
}

impl Node for Cache {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        if !cx.is_connected(OutPort::OUT) {
            return cx.emit_packet(OutPort::OUT, input.packet).await;
        }
        let value = input.packet.value;
        let key = key_of(&value);
        loop {
            let hit = self.lru.lock().get(&key, Instant::now());
            if let Some(hit) = hit {
                return answer(cx, &hit).await;
            }
            let waiting = {
                let mut inflight = self.inflight.lock();
                match inflight.get(&key) {
                    Some(tx) => Err(tx.subscribe()),
                    None => {
                        let tx = Arc::new(watch::channel(None).0);
                        inflight.insert(key.clone(), tx.clone());
                        Ok(tx)
                    }
                }
            };
            match waiting {
                Ok(tx) => {
                    let _lead = Lead {
                        key: key.clone(),
                        inflight: self.inflight.clone(),
                    };
                    let targets = cx.targets(OutPort::OUT).to_vec();
                    let reply = Arc::new(call_targets(&targets, cx.process(), value).await?);
                    self.lru.lock().put(key, reply.clone(), Instant::now());
                    tx.send_replace(Some(reply.clone()));
                    return answer(cx, &reply).await;
                }
                Err(mut rx) => {
                    let led = rx.wait_for(Option::is_some).await.ok().and_then(|v| v.clone());
                    if let Some(reply) = led {
                        return answer(cx, &reply).await;
                    }
                    // The leader stored nothing: try again (and lead if no one else does).
                }
            }
        }
    }
}

async fn answer(cx: &mut Cx, reply: &[Value]) -> Result<()> {
    for v in reply {
        cx.reply(v.clone()).await?;
    }
    Ok(())
}

/// A key that tells every two different values apart (types included: the string `"1"` is not the
/// number `1`, bytes are not their base64 text).
pub fn key_of(value: &Value) -> String {
    let mut out = String::new();
    write_key(value, &mut out);
    out
}

fn write_key(value: &Value, out: &mut String) {
    use std::fmt::Write;
    match value {
        Value::Null => out.push('n'),
        Value::Bool(b) => out.push(if *b { 't' } else { 'f' }),
        Value::Int(i) => {
            let _ = write!(out, "i{i};");
        }
        Value::Uint(u) => {
            let _ = write!(out, "u{u};");
        }
        Value::Float(f) => {
            let _ = write!(out, "d{:x};", f.to_bits());
        }
        Value::String(s) => {
            let _ = write!(out, "s{}:{s}", s.len());
        }
        Value::Bytes(b) => {
            let _ = write!(out, "b{}:", b.len());
            for byte in b.iter() {
                let _ = write!(out, "{byte:02x}");
            }
        }
        Value::List(items) => {
            let _ = write!(out, "l{}[", items.len());
            for v in items.iter() {
                write_key(v, out);
            }
            out.push(']');
        }
        Value::Map(map) => {
            let _ = write!(out, "m{}{{", map.len());
            for (k, v) in map.iter() {
                let _ = write!(out, "{}:{k}", k.len());
                write_key(v, out);
            }
            out.push('}');
        }
        Value::Time(t) => {
            let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            let _ = write!(out, "T{}.{};", d.as_secs(), d.subsec_nanos());
        }
        Value::Error(e) => {
            let _ = write!(out, "e{}:{}", e.kind(), e.message());
        }
    }
}

/// Least recently used entries with an optional time to live.
struct Lru {
    capacity: usize,
    ttl: Option<Duration>,
    tick: u64,
    map: HashMap<String, Entry>,
    /// Use order: oldest tick first.
    order: BTreeMap<u64, String>,
}

struct Entry {
    reply: Stored,
    expires: Option<Instant>,
    tick: u64,
}

impl Lru {
    fn new(capacity: usize, ttl: Option<Duration>) -> Self {
        Lru {
            capacity: capacity.max(1),
            ttl,
            tick: 0,
            map: HashMap::new(),
            order: BTreeMap::new(),
        }
    }

    fn get(&mut self, key: &str, now: Instant) -> Option<Stored> {
        let entry = self.map.get_mut(key)?;
        if entry.expires.is_some_and(|e| now >= e) {
            let tick = entry.tick;
            self.order.remove(&tick);
            self.map.remove(key);
            return None;
        }
        self.order.remove(&entry.tick);
        self.tick += 1;
        entry.tick = self.tick;
        self.order.insert(self.tick, key.to_string());
        Some(entry.reply.clone())
    }

    fn put(&mut self, key: String, reply: Stored, now: Instant) {
        self.tick += 1;
        let entry = Entry {
            reply,
            expires: self.ttl.map(|t| now + t),
            tick: self.tick,
        };
        if let Some(old) = self.map.insert(key.clone(), entry) {
            self.order.remove(&old.tick);
        }
        self.order.insert(self.tick, key);
        while self.map.len() > self.capacity {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&oldest);
        }
    }
}

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
