//! The MongoDB store (`mongodb://…`): the [`Store`] contract over a replica set. Every write is one
//! transaction (all of a batch or none of it, retried by the driver on transient errors); reads go
//! to the primary; events come only from the change stream ([`crate::feed`]), so a write's events
//! reach watchers shortly after the write returns, from this process and any other alike.
//!
//! The [`Store`] trait is synchronous and called from async code, so the store owns a small tokio
//! runtime: each call runs its future there and waits on a plain channel (blocking the caller as the
//! SQLite store's file access does, never nesting runtimes). Dropping the store stops that runtime,
//! and with it the change feed.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use bson::{doc, Bson, Document, RawDocumentBuf};
use futures::future::FutureExt;
use futures::TryStreamExt;
use mongodb::options::{ReadConcern, ReturnDocument, WriteConcern};
use mongodb::{Client, ClientSession, Collection, Database};
use tokio::runtime::Runtime;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_codecs::resource::{Chart, Spec, ValueResource};
use weir_loader::{Change, Event, Keyed, Op, Resource, SpecStatus, Store, StoreError};

use crate::connect::{connect, error, redact};
use crate::convert::{
    from_raw, namespace_of, order_of, status_from_document, status_to_document, to_document,
};
use crate::feed::{open_stream, read_namespaces, Feed};
use crate::plan::{plan, Existing, Order};
use crate::schema::{code, migrate, META, STATUSES};
use crate::tracker::{Position, Tracker};

/// MongoDB's duplicate key error.
const DUPLICATE_KEY: i32 = 11000;

/// The client and database, dropped inside the runtime (the driver spawns its cleanup there).
#[derive(Clone)]
struct Handles {
    client: Client,
    db: Database,
    shown: Arc<str>,
}

/// The store's own runtime: shut down without waiting, so the store may be dropped anywhere.
struct OwnRuntime(Option<Runtime>);

impl Drop for OwnRuntime {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

impl OwnRuntime {
    fn new(shown: &str) -> Result<Self, StoreError> {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("weir-mongodb")
            .enable_all()
            .build()
            .map(|rt| OwnRuntime(Some(rt)))
            .map_err(|e| error(shown, format_args!("starting the store's runtime: {e}")))
    }

    /// Runs `fut` on the runtime and waits for it.
    fn block<T: Send + 'static>(
        &self,
        shown: &str,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Some(rt) = &self.0 else {
            return Err(error(shown, "the store is closed"));
        };
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        rt.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv()
            .map_err(|_| error(shown, "the store's runtime stopped"))?
    }
}

/// A store in a MongoDB replica set.
pub struct MongoStore {
    shown: Arc<str>,
    handles: Option<Handles>,
    events: broadcast::Sender<Event>,
    // Last: dropped after the handles, which need it.
    runtime: OwnRuntime,
}

impl std::fmt::Debug for MongoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MongoStore").field("url", &self.shown).finish()
    }
}

impl Drop for MongoStore {
    fn drop(&mut self) {
        if let Some(rt) = &self.runtime.0 {
            let _inside = rt.enter();
            drop(self.handles.take());
        }
    }
}

/// A resource collection.
#[derive(Clone, Copy)]
struct Coll {
    name: &'static str,
    resource: Resource,
}

const SPECS: Coll = Coll {
    name: "specs",
    resource: Resource::Specs,
};
const VALUES: Coll = Coll {
    name: "values",
    resource: Resource::Values,
};
const CHARTS: Coll = Coll {
    name: "charts",
    resource: Resource::Charts,
};

impl MongoStore {
    /// Connects to `url` (database from its path, else `weir`), checks it is a replica set,
    /// migrates the database forward and starts following its change stream.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(url, None)
    }

    /// As [`MongoStore::open`], in `database` whatever the URL says (the tests use one database
    /// each).
    pub fn open_database(url: &str, database: &str) -> Result<Self, StoreError> {
        Self::open_with(url, Some(database))
    }

    fn open_with(url: &str, database: Option<&str>) -> Result<Self, StoreError> {
        let shown: Arc<str> = redact(url).into();
        let runtime = OwnRuntime::new(&shown)?;
        let events = broadcast::channel(4096).0;
        let handles = {
            let (url, database, shown, events) = (
                url.to_string(),
                database.map(str::to_string),
                shown.clone(),
                events.clone(),
            );
            runtime.block(&shown.clone(), async move {
                let (client, db) = connect(&url, database.as_deref()).await?;
                migrate(&db, &shown).await?;
                // The stream first, then the map: every change after the map was read reaches
                // the tracker (see tracker.rs).
                let stream = open_stream(&db, &Position::Now)
                    .await
                    .map_err(|e| error(&shown, format_args!("opening the change stream: {e}")))?;
                let mut tracker = Tracker::new();
                tracker.opened_at(stream.resume_token());
                let map = read_namespaces(&db)
                    .await
                    .map_err(|e| error(&shown, format_args!("reading the resources' namespaces: {e}")))?;
                for ((resource, id), ns) in map {
                    tracker.seed(resource, [(id, ns)]);
                }
                let feed = Feed {
                    db: db.clone(),
                    shown: shown.to_string(),
                    tracker,
                    events,
                };
                tokio::spawn(feed.follow(stream));
                Ok(Handles { client, db, shown })
            })?
        };
        Ok(MongoStore {
            shown,
            handles: Some(handles),
            events,
            runtime,
        })
    }

    /// The database's schema version.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        self.run(|h| async move {
            let found =
                h.db.collection::<Document>(META)
                    .find_one(doc! {"_id": "schema_version"})
                    .await
                    .map_err(|e| h.err(e))?;
            Ok(found
                .and_then(|d| {
                    d.get("value")
                        .and_then(Bson::as_i64)
                        .or_else(|| d.get_i32("value").ok().map(i64::from))
                })
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0))
        })
    }

    /// Runs `f` with the handles on the store's runtime and waits for it.
    fn run<T, F>(&self, f: impl FnOnce(Handles) -> F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let Some(h) = self.handles.clone() else {
            return Err(error(&self.shown, "the store is closed"));
        };
        self.runtime.block(&self.shown, f(h))
    }

    fn read<T: Keyed + Send + 'static>(
        &self,
        coll: Coll,
        namespace: Option<&str>,
    ) -> Result<Vec<T>, StoreError> {
        let filter = namespace.map_or_else(Document::new, |ns| doc! {"namespace": ns});
        self.run(move |h| async move { h.find(coll, filter).await })
    }

    fn upsert<T: Keyed + Send + Sync + 'static>(
        &self,
        coll: Coll,
        items: Vec<T>,
    ) -> Result<Vec<Change>, StoreError> {
        if items.is_empty() {
            return Ok(Vec::new());
        }
        self.run(move |h| async move {
            let ctx = UpsertCtx {
                coll: h.db.collection(coll.name),
                meta: h.db.collection(META),
                items,
            };
            h.in_transaction(ctx, |session, ctx| upsert_in(session, ctx).boxed())
                .await
        })
    }

    fn delete(&self, coll: Coll, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.run(move |h| async move {
            let ctx = DeleteCtx {
                coll: h.db.collection(coll.name),
                statuses: (coll.resource == Resource::Specs).then(|| h.db.collection(STATUSES)),
                ids,
            };
            h.in_transaction(ctx, |session, ctx| delete_in(session, ctx).boxed())
                .await
        })
    }
}

impl Handles {
    fn err(&self, what: impl std::fmt::Display) -> StoreError {
        error(&self.shown, what)
    }

    /// The resources matching `filter`, in the order first written.
    async fn find<T: Keyed>(&self, coll: Coll, filter: Document) -> Result<Vec<T>, StoreError> {
        let mut cursor = self
            .db
            .collection::<RawDocumentBuf>(coll.name)
            .find(filter)
            .sort(doc! {"order": 1, "_id": 1})
            .await
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        while let Some(d) = cursor.try_next().await.map_err(|e| self.err(e))? {
            out.push(from_raw(&d)?);
        }
        Ok(out)
    }

    /// Runs `body` in a transaction (majority write concern, snapshot reads), retried by the driver
    /// on transient errors; a [`StoreError`] the body raises aborts it and is returned as is.
    async fn in_transaction<C, R>(
        &self,
        ctx: C,
        body: impl for<'b> FnMut(
            &'b mut ClientSession,
            &'b mut C,
        ) -> futures::future::BoxFuture<'b, mongodb::error::Result<R>>,
    ) -> Result<R, StoreError> {
        let mut session = self.client.start_session().await.map_err(|e| self.err(e))?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .and_run(ctx, body)
            .await
            .map_err(|e| match e.get_custom::<StoreError>() {
                Some(store_error) => store_error.clone(),
                None => self.err(e),
            })
    }
}

struct UpsertCtx<T> {
    coll: Collection<RawDocumentBuf>,
    meta: Collection<Document>,
    items: Vec<T>,
}

/// One attempt at upserting `ctx.items` inside the session's transaction: one read of what the batch
/// may touch, the plan ([`crate::plan`]), one counter update if new resources need order numbers,
/// then one replace per resource written.
async fn upsert_in<T: Keyed + Send + Sync>(
    session: &mut ClientSession,
    ctx: &mut UpsertCtx<T>,
) -> mongodb::error::Result<Vec<Change>> {
    let custom = mongodb::error::Error::custom;
    let existing = touched(session, &ctx.coll, &ctx.items).await?;
    let plan = plan(existing, ctx.items.clone()).map_err(custom)?;
    let first = if plan.new_orders > 0 {
        let counter = ctx
            .meta
            .find_one_and_update(doc! {"_id": "order"}, doc! {"$inc": {"next": plan.new_orders}})
            .upsert(true)
            .return_document(ReturnDocument::After)
            .session(&mut *session)
            .await?;
        let end = counter
            .and_then(|d| d.get("next").and_then(Bson::as_i64))
            .unwrap_or(plan.new_orders);
        end - plan.new_orders + 1
    } else {
        0
    };
    let docs = ctx.coll.clone_with_type::<Document>();
    let mut changes = Vec::new();
    for w in plan.writes {
        let Some(id) = w.item.id() else { continue };
        let order = match w.order {
            Order::Kept(n) => n,
            Order::New(slot) => first + slot,
        };
        let d = to_document(&w.item, id, order).map_err(custom)?;
        let written = docs
            .replace_one(doc! {"_id": id.to_string()}, d)
            .upsert(true)
            .session(&mut *session)
            .await;
        if let Err(e) = written {
            if code(&e) == Some(DUPLICATE_KEY) {
                return Err(custom(StoreError::Backend(format!(
                    "namespace \"{}\": {} \"{}\": field \"name\": already used (written at the same moment by another writer); apply again",
                    w.item.namespace(),
                    T::KIND,
                    w.item.name().unwrap_or_default()
                ))));
            }
            return Err(e);
        }
        changes.push(Change {
            op: w.op,
            id,
            namespace: w.item.namespace().to_string(),
            name: w.item.name().map(str::to_string),
        });
    }
    Ok(changes)
}

/// The stored resources `items` may touch: those with their ids, and those with their (namespace,
/// name). An unreadable one is left out (logged), so writing it by id replaces it.
async fn touched<T: Keyed>(
    session: &mut ClientSession,
    coll: &Collection<RawDocumentBuf>,
    items: &[T],
) -> mongodb::error::Result<Vec<Existing<T>>> {
    let ids: Vec<String> = items
        .iter()
        .filter_map(|i| i.id())
        .map(|id| id.to_string())
        .collect();
    let mut names: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for item in items {
        if let Some(name) = item.name() {
            names.entry(item.namespace()).or_default().push(name);
        }
    }
    let mut any: Vec<Document> = Vec::new();
    if !ids.is_empty() {
        any.push(doc! {"_id": {"$in": ids}});
    }
    for (ns, ns_names) in names {
        any.push(doc! {"namespace": ns, "name": {"$in": ns_names}});
    }
    if any.is_empty() {
        return Ok(Vec::new());
    }
    let mut cursor = coll.find(doc! {"$or": any}).session(&mut *session).await?;
    let mut out = Vec::new();
    while let Some(d) = cursor.next(&mut *session).await.transpose()? {
        match from_raw::<T>(&d) {
            Ok(item) => out.push(Existing {
                item,
                order: order_of(&d),
            }),
            Err(e) => tracing::warn!("mongodb store: {e}; left out"),
        }
    }
    Ok(out)
}

struct DeleteCtx {
    coll: Collection<Document>,
    /// For specs: their statuses go with them.
    statuses: Option<Collection<Document>>,
    ids: Vec<Uuid>,
}

/// One attempt at deleting `ctx.ids` inside the session's transaction.
async fn delete_in(session: &mut ClientSession, ctx: &mut DeleteCtx) -> mongodb::error::Result<Vec<Change>> {
    let mut changes = Vec::new();
    for id in &ctx.ids {
        let Some(d) = ctx
            .coll
            .find_one_and_delete(doc! {"_id": id.to_string()})
            .projection(doc! {"namespace": 1, "name": 1})
            .session(&mut *session)
            .await?
        else {
            continue;
        };
        if let Some(statuses) = &ctx.statuses {
            statuses
                .delete_one(doc! {"_id": id.to_string()})
                .session(&mut *session)
                .await?;
        }
        changes.push(Change {
            op: Op::Delete,
            id: *id,
            namespace: namespace_of(&d).unwrap_or_default().to_string(),
            name: d.get_str("name").ok().map(str::to_string),
        });
    }
    Ok(changes)
}

struct StatusCtx {
    coll: Collection<Document>,
    replace: Vec<String>,
    docs: Vec<Document>,
}

async fn record_in(session: &mut ClientSession, ctx: &mut StatusCtx) -> mongodb::error::Result<()> {
    if !ctx.replace.is_empty() {
        ctx.coll
            .delete_many(doc! {"_id": {"$in": ctx.replace.clone()}})
            .session(&mut *session)
            .await?;
    }
    if !ctx.docs.is_empty() {
        ctx.coll
            .insert_many(ctx.docs.iter())
            .session(&mut *session)
            .await?;
    }
    Ok(())
}

fn uuid_strings(ids: &[Uuid]) -> Vec<String> {
    ids.iter().map(Uuid::to_string).collect()
}

impl Store for MongoStore {
    fn specs(&self, namespace: Option<&str>) -> Result<Vec<Spec>, StoreError> {
        self.read(SPECS, namespace)
    }

    fn values(&self, namespace: Option<&str>) -> Result<Vec<ValueResource>, StoreError> {
        self.read(VALUES, namespace)
    }

    fn charts(&self, namespace: Option<&str>) -> Result<Vec<Chart>, StoreError> {
        self.read(CHARTS, namespace)
    }

    fn apply_specs(&self, specs: Vec<Spec>) -> Result<Vec<Change>, StoreError> {
        self.upsert(SPECS, specs)
    }

    fn apply_values(&self, values: Vec<ValueResource>) -> Result<Vec<Change>, StoreError> {
        self.upsert(VALUES, values)
    }

    fn apply_charts(&self, charts: Vec<Chart>) -> Result<Vec<Change>, StoreError> {
        self.upsert(CHARTS, charts)
    }

    fn delete_specs(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.delete(SPECS, ids)
    }

    fn delete_values(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.delete(VALUES, ids)
    }

    fn delete_charts(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.delete(CHARTS, ids)
    }

    fn specs_by_id(&self, namespace: &str, ids: &[Uuid]) -> Result<Vec<Spec>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let filter = doc! {"_id": {"$in": uuid_strings(ids)}, "namespace": namespace};
        self.run(move |h| async move { h.find(SPECS, filter).await })
    }

    fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        self.run(|h| async move {
            let found =
                h.db.collection::<Document>(SPECS.name)
                    .distinct("namespace", doc! {})
                    .await
                    .map_err(|e| h.err(e))?;
            let mut ns: Vec<String> = found
                .into_iter()
                .filter_map(|b| match b {
                    Bson::String(s) => Some(s),
                    _ => None,
                })
                .collect();
            ns.sort();
            Ok(ns)
        })
    }

    fn record_statuses(&self, set: Vec<SpecStatus>, forget: &[Uuid]) -> Result<(), StoreError> {
        if set.is_empty() && forget.is_empty() {
            return Ok(());
        }
        let mut replace = uuid_strings(forget);
        replace.extend(set.iter().map(|st| st.id.to_string()));
        let docs: Vec<Document> = set.iter().map(status_to_document).collect();
        self.run(move |h| async move {
            let ctx = StatusCtx {
                coll: h.db.collection(STATUSES),
                replace,
                docs,
            };
            h.in_transaction(ctx, |session, ctx| record_in(session, ctx).boxed())
                .await
        })
    }

    fn clear_statuses(&self, host: &str, namespace: &str) -> Result<(), StoreError> {
        let filter = doc! {"host": host, "namespace": namespace};
        self.run(move |h| async move {
            h.db.collection::<Document>(STATUSES)
                .delete_many(filter)
                .await
                .map(|_| ())
                .map_err(|e| h.err(e))
        })
    }

    fn statuses(&self, namespace: Option<&str>) -> Result<Vec<SpecStatus>, StoreError> {
        let filter = namespace.map_or_else(Document::new, |ns| doc! {"namespace": ns});
        self.run(move |h| async move {
            let mut cursor = h
                .db
                .collection::<Document>(STATUSES)
                .find(filter)
                .await
                .map_err(|e| h.err(e))?;
            let mut out = Vec::new();
            while let Some(d) = cursor.try_next().await.map_err(|e| h.err(e))? {
                match status_from_document(&d) {
                    Some(st) => out.push(st),
                    None => tracing::warn!(store = %h.shown, "mongodb store: unreadable status record {d} skipped"),
                }
            }
            Ok(out)
        })
    }

    fn watch(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A port that was just free: bound, then released.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }

    #[test]
    fn opening_without_a_server_fails_clearly() {
        let url = format!(
            "mongodb://127.0.0.1:{}/weir?serverSelectionTimeoutMS=300",
            closed_port()
        );
        let e = MongoStore::open(&url).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "store: MongoDB at \"{url}\": no MongoDB server answered within 300ms"
            )),
            "{e}"
        );
        assert!(
            e.contains("mongod with --replSet rs0") && e.contains("rs.initiate()"),
            "{e}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn opening_and_failing_inside_an_async_host_does_not_panic() {
        let url = format!(
            "mongodb://127.0.0.1:{}/?serverSelectionTimeoutMS=200",
            closed_port()
        );
        // As weir's host does: the sync Store call from async code, and the store's runtime
        // dropped there.
        let e = MongoStore::open(&url).unwrap_err();
        assert!(e.to_string().contains("no MongoDB server answered"), "{e}");
    }
}
