//! The SQLite store (`sqlite://PATH`, the embedded default): specs and values in one file that several
//! processes may share (WAL mode, a busy timeout), a `changes` table written in the same transaction as
//! the data, and a poller thread that turns rows of `changes` written by any process into events.
//!
//! Schema: `meta(key, value)` holds `schema_version`; [`MIGRATIONS`] are applied forward on open,
//! inside one transaction. `specs`, `vals` and `charts` hold one row per resource (`id`, `namespace`,
//! `name`, `body` as JSON) with a unique (namespace, name) where name is not null; `changes` holds one
//! row per event, its `revision` being the event's; `statuses` holds each spec's state as the host
//! running it last recorded it (version 3), written without an event.
//!
//! Events: a write through this store is broadcast right after its commit; the poller (a plain
//! thread, every 50 ms, only when `PRAGMA data_version` moved) broadcasts what other connections wrote.
//! Both go through one catch-up step under one lock that remembers the last revision sent, so events
//! come in revision order and never twice.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;
use uuid::Uuid;
use weir_codecs::resource::{Chart, Spec, ValueResource};

use crate::keyed::{resolve_id, Keyed};
use crate::store::{Change, Event, Op, Resource, SpecStatus, Store, StoreError};

/// Schema migrations: (version, SQL), applied in order to bring a file from the previous version to
/// this one. Never edit a released entry; append a new one.
pub const MIGRATIONS: &[(u32, &str)] = &[
    (
        1,
        "CREATE TABLE specs (
            id TEXT PRIMARY KEY NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT,
            body TEXT NOT NULL
        );
        CREATE UNIQUE INDEX specs_name ON specs (namespace, name) WHERE name IS NOT NULL;
        CREATE TABLE vals (
            id TEXT PRIMARY KEY NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT,
            body TEXT NOT NULL
        );
        CREATE UNIQUE INDEX vals_name ON vals (namespace, name) WHERE name IS NOT NULL;
        CREATE TABLE changes (
            revision INTEGER PRIMARY KEY AUTOINCREMENT,
            resource TEXT NOT NULL,
            op TEXT NOT NULL,
            id TEXT NOT NULL,
            namespace TEXT NOT NULL
        );",
    ),
    (
        2,
        "CREATE INDEX specs_namespace ON specs (namespace);
        CREATE INDEX vals_namespace ON vals (namespace);",
    ),
    (
        3,
        "CREATE TABLE IF NOT EXISTS charts (
            id TEXT PRIMARY KEY NOT NULL,
            namespace TEXT NOT NULL,
            name TEXT,
            body TEXT NOT NULL
        );
        CREATE UNIQUE INDEX IF NOT EXISTS charts_name ON charts (namespace, name) WHERE name IS NOT NULL;
        CREATE INDEX IF NOT EXISTS charts_namespace ON charts (namespace);
        CREATE TABLE statuses (
            id TEXT PRIMARY KEY NOT NULL,
            namespace TEXT NOT NULL,
            host TEXT NOT NULL,
            error TEXT
        );
        CREATE INDEX statuses_namespace ON statuses (namespace);",
    ),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 3;

/// How long a connection waits for another process's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the poller looks for other processes' writes.
const POLL_EVERY: Duration = Duration::from_millis(50);

/// What the writer and the poller share: the event sender and the last revision sent.
struct Feed {
    events: broadcast::Sender<Event>,
    last_sent: Mutex<u64>,
    path: PathBuf,
}

/// A store in a SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    feed: Arc<Feed>,
    /// Dropping it stops the poller.
    stop: Option<mpsc::Sender<()>>,
    poller: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

fn err(path: &Path, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("sqlite file \"{}\": {what}", path.display()))
}

/// Opens a connection with the busy timeout and WAL mode.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| err(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| err(path, e))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| err(path, format_args!("setting WAL mode: {e}")))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), "sqlite store: journal mode is {mode}, not wal");
    }
    // In WAL mode, NORMAL keeps every commit atomic and survives a killed process; only an OS crash
    // or power loss may forget the last commits. It saves an fsync per write.
    conn.execute_batch("PRAGMA synchronous = NORMAL")
        .map_err(|e| err(path, format_args!("setting synchronous mode: {e}")))?;
    Ok(conn)
}

/// The file's schema version (0 for a new file).
fn schema_version(conn: &Connection) -> rusqlite::Result<u32> {
    conn.query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| {
        r.get::<_, String>(0)
    })
    .optional()
    .map(|v| v.and_then(|v| v.parse().ok()).unwrap_or(0))
}

/// Brings the file up to [`SCHEMA_VERSION`] in one transaction.
fn migrate(conn: &mut Connection, path: &Path) -> Result<u32, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| err(path, format_args!("migrating: {e}")))?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        .map_err(|e| err(path, format_args!("migrating: {e}")))?;
    let from = schema_version(&tx).map_err(|e| err(path, format_args!("migrating: {e}")))?;
    if from > SCHEMA_VERSION {
        return Err(err(
            path,
            format_args!("schema version {from} is newer than this build's {SCHEMA_VERSION}: upgrade weir"),
        ));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > from) {
        tx.execute_batch(sql)
            .map_err(|e| err(path, format_args!("migrating to schema version {version}: {e}")))?;
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![version.to_string()],
        )
        .map_err(|e| err(path, format_args!("migrating to schema version {version}: {e}")))?;
    }
    tx.commit()
        .map_err(|e| err(path, format_args!("migrating: {e}")))?;
    Ok(SCHEMA_VERSION)
}

fn last_revision(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT COALESCE(MAX(revision), 0) FROM changes", [], |r| {
        r.get::<_, i64>(0)
    })
    .map(|r| u64::try_from(r).unwrap_or(0))
}

fn op_str(op: Op) -> &'static str {
    match op {
        Op::Store => "store",
        Op::Swap => "swap",
        Op::Delete => "delete",
    }
}

impl Feed {
    /// Broadcasts every change after the last one sent, in revision order, reading through `conn`.
    fn catch_up(&self, conn: &Connection) -> rusqlite::Result<()> {
        let mut last = self.last_sent.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT revision, resource, op, id, namespace FROM changes
             WHERE revision > ?1 ORDER BY revision",
        )?;
        let rows = stmt.query_map(params![i64::try_from(*last).unwrap_or(i64::MAX)], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (revision, resource, op, id, namespace) = row?;
            let revision = u64::try_from(revision).unwrap_or(0);
            *last = (*last).max(revision);
            let resource = match resource.as_str() {
                "specs" => Resource::Specs,
                "values" => Resource::Values,
                "charts" => Resource::Charts,
                other => {
                    tracing::warn!(path = %self.path.display(), revision, "sqlite store: change of unknown resource {other:?} skipped");
                    continue;
                }
            };
            let op = match op.as_str() {
                "store" => Op::Store,
                "swap" => Op::Swap,
                "delete" => Op::Delete,
                other => {
                    tracing::warn!(path = %self.path.display(), revision, "sqlite store: change with unknown op {other:?} skipped");
                    continue;
                }
            };
            let Ok(id) = Uuid::parse_str(&id) else {
                tracing::warn!(path = %self.path.display(), revision, "sqlite store: change with a bad id {id:?} skipped");
                continue;
            };
            let _ = self.events.send(Event {
                revision,
                resource,
                op,
                id,
                namespace,
            });
        }
        Ok(())
    }
}

/// The poller: every [`POLL_EVERY`], if the file changed, broadcasts new changes; ends when `stop`'s
/// sender is dropped.
fn poll(conn: Connection, feed: Arc<Feed>, stop: mpsc::Receiver<()>) {
    let data_version =
        |c: &Connection| -> rusqlite::Result<i64> { c.query_row("PRAGMA data_version", [], |r| r.get(0)) };
    // Not read here: a write between the store's opening (where `last_sent` was read) and this
    // thread's start would already count in it, and be missed. The first poll always catches up.
    let mut seen: Option<i64> = None;
    loop {
        match stop.recv_timeout(POLL_EVERY) {
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => return,
        }
        let now = match data_version(&conn) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!(path = %feed.path.display(), "sqlite store: polling: {e}");
                None
            }
        };
        if now.is_some() && now == seen {
            continue;
        }
        match feed.catch_up(&conn) {
            Ok(()) => seen = now,
            Err(e) => tracing::warn!(path = %feed.path.display(), "sqlite store: polling: {e}"),
        }
    }
}

impl SqliteStore {
    /// Opens (creating the file and its parent folders) and migrates the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|e| err(path, format_args!("creating its folder: {e}")))?;
        }
        let mut conn = connect(path)?;
        migrate(&mut conn, path)?;
        let last = last_revision(&conn).map_err(|e| err(path, e))?;
        let feed = Arc::new(Feed {
            events: broadcast::channel(4096).0,
            last_sent: Mutex::new(last),
            path: path.to_path_buf(),
        });
        let poll_conn = connect(path)?;
        let (stop, stopped) = mpsc::channel();
        let poller = {
            let feed = feed.clone();
            std::thread::Builder::new()
                .name("weir-sqlite-poll".into())
                .spawn(move || poll(poll_conn, feed, stopped))
                .map_err(|e| err(path, format_args!("starting the change poller: {e}")))?
        };
        Ok(SqliteStore {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
            feed,
            stop: Some(stop),
            poller: Some(poller),
        })
    }

    /// The file's schema version.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        schema_version(&self.conn.lock()).map_err(|e| self.err(e))
    }

    fn err(&self, what: impl std::fmt::Display) -> StoreError {
        err(&self.path, what)
    }

    fn read<T: DeserializeOwned>(&self, table: Table, namespace: Option<&str>) -> Result<Vec<T>, StoreError> {
        let conn = self.conn.lock();
        let sql = format!(
            "SELECT id, namespace, body FROM {} WHERE ?1 IS NULL OR namespace = ?1 ORDER BY rowid",
            table.name
        );
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![namespace], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(self.parse(table, row.map_err(|e| self.err(e))?)?);
        }
        Ok(out)
    }

    /// A resource from its row's (id, namespace, body).
    fn parse<T: DeserializeOwned>(
        &self,
        table: Table,
        (id, ns, body): (String, String, String),
    ) -> Result<T, StoreError> {
        serde_json::from_str(&body).map_err(|e| {
            self.err(format_args!(
                "namespace \"{ns}\": {} {id}: stored body is unreadable: {e}",
                table.kind
            ))
        })
    }

    /// Deletes `ids` from `table` in one transaction (with their statuses, for specs), then
    /// broadcasts the changes.
    fn delete(&self, table: Table, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let mut changes = Vec::new();
        for id in ids {
            let row: Option<(String, Option<String>)> = tx
                .query_row(
                    &format!(
                        "DELETE FROM {} WHERE id = ?1 RETURNING namespace, name",
                        table.name
                    ),
                    params![id.to_string()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let Some((namespace, name)) = row else {
                continue;
            };
            if table.resource == Resource::Specs {
                tx.execute("DELETE FROM statuses WHERE id = ?1", params![id.to_string()])
                    .map_err(|e| self.err(e))?;
            }
            tx.execute(
                "INSERT INTO changes (resource, op, id, namespace) VALUES (?1, 'delete', ?2, ?3)",
                params![table.resource.as_str(), id.to_string(), namespace],
            )
            .map_err(|e| self.err(e))?;
            changes.push(Change {
                op: Op::Delete,
                id: *id,
                namespace,
                name,
            });
        }
        tx.commit().map_err(|e| self.err(e))?;
        self.publish(&conn);
        Ok(changes)
    }

    /// Upserts `items` into `table` in one transaction, then broadcasts the changes.
    fn upsert<T: Keyed>(&self, table: Table, items: Vec<T>) -> Result<Vec<Change>, StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        let mut changes = Vec::new();
        for (index, mut item) in items.into_iter().enumerate() {
            let id = resolve_id(&item, index, |namespace, name| {
                tx.query_row(
                    &format!("SELECT id FROM {} WHERE namespace = ?1 AND name = ?2", table.name),
                    params![namespace, name],
                    |r| r.get::<_, String>(0),
                )
                .optional()
                .map_err(|e| self.err(e))?
                .map(|id| {
                    Uuid::parse_str(&id).map_err(|e| {
                        self.err(format_args!(
                            "namespace \"{namespace}\": {} \"{name}\": stored id {id:?} is not a UUID: {e}",
                            T::KIND
                        ))
                    })
                })
                .transpose()
            })?;
            let namespace = item.namespace().to_string();
            item.set_id(id);
            let old: Option<String> = tx
                .query_row(
                    &format!("SELECT body FROM {} WHERE id = ?1", table.name),
                    params![id.to_string()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| self.err(e))?;
            let op = match old {
                Some(old) if serde_json::from_str::<T>(&old).is_ok_and(|old| old == item) => continue,
                Some(_) => Op::Swap,
                None => Op::Store,
            };
            let body = serde_json::to_string(&item)
                .map_err(|e| self.err(format_args!("namespace \"{namespace}\": {} {id}: {e}", T::KIND)))?;
            tx.execute(
                &format!(
                    "INSERT INTO {} (id, namespace, name, body) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET
                        namespace = excluded.namespace, name = excluded.name, body = excluded.body",
                    table.name
                ),
                params![id.to_string(), namespace, item.name(), body],
            )
            .map_err(|e| self.err(e))?;
            tx.execute(
                "INSERT INTO changes (resource, op, id, namespace) VALUES (?1, ?2, ?3, ?4)",
                params![table.resource.as_str(), op_str(op), id.to_string(), namespace],
            )
            .map_err(|e| self.err(e))?;
            changes.push(Change {
                op,
                id,
                namespace,
                name: item.name().map(str::to_string),
            });
        }
        tx.commit().map_err(|e| self.err(e))?;
        self.publish(&conn);
        Ok(changes)
    }

    /// After a commit: broadcasts what it wrote (and anything before it not yet sent).
    fn publish(&self, conn: &Connection) {
        if let Err(e) = self.feed.catch_up(conn) {
            tracing::warn!(path = %self.path.display(), "sqlite store: publishing changes: {e}");
        }
    }
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(poller) = self.poller.take() {
            let _ = poller.join();
        }
    }
}

/// One of the resource tables.
#[derive(Clone, Copy)]
struct Table {
    name: &'static str,
    kind: &'static str,
    resource: Resource,
}

const SPECS: Table = Table {
    name: "specs",
    kind: "spec",
    resource: Resource::Specs,
};
const VALUES: Table = Table {
    name: "vals",
    kind: "value",
    resource: Resource::Values,
};
const CHARTS: Table = Table {
    name: "charts",
    kind: "chart",
    resource: Resource::Charts,
};

impl Store for SqliteStore {
    fn specs(&self, namespace: Option<&str>) -> Result<Vec<Spec>, StoreError> {
        self.read(SPECS, namespace)
    }

    fn values(&self, namespace: Option<&str>) -> Result<Vec<ValueResource>, StoreError> {
        self.read(VALUES, namespace)
    }

    fn apply_specs(&self, specs: Vec<Spec>) -> Result<Vec<Change>, StoreError> {
        self.upsert(SPECS, specs)
    }

    fn apply_values(&self, values: Vec<ValueResource>) -> Result<Vec<Change>, StoreError> {
        self.upsert(VALUES, values)
    }

    fn charts(&self, namespace: Option<&str>) -> Result<Vec<Chart>, StoreError> {
        self.read(CHARTS, namespace)
    }

    fn apply_charts(&self, charts: Vec<Chart>) -> Result<Vec<Change>, StoreError> {
        self.upsert(CHARTS, charts)
    }

    fn delete_specs(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.delete(SPECS, ids)
    }

    fn namespaces(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached("SELECT DISTINCT namespace FROM specs ORDER BY namespace")
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.err(e))
    }

    fn delete_values(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.delete(VALUES, ids)
    }

    fn delete_charts(&self, ids: &[Uuid]) -> Result<Vec<Change>, StoreError> {
        self.delete(CHARTS, ids)
    }

    fn specs_by_id(&self, namespace: &str, ids: &[Uuid]) -> Result<Vec<Spec>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached("SELECT id, namespace, body FROM specs WHERE id = ?1 AND namespace = ?2")
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for id in ids {
            let row = stmt
                .query_row(params![id.to_string(), namespace], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()
                .map_err(|e| self.err(e))?;
            if let Some(row) = row {
                out.push(self.parse(SPECS, row)?);
            }
        }
        Ok(out)
    }

    fn record_statuses(&self, set: Vec<SpecStatus>, forget: &[Uuid]) -> Result<(), StoreError> {
        let mut conn = self.conn.lock();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.err(e))?;
        {
            let mut del = tx
                .prepare_cached("DELETE FROM statuses WHERE id = ?1")
                .map_err(|e| self.err(e))?;
            for id in forget {
                del.execute(params![id.to_string()]).map_err(|e| self.err(e))?;
            }
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO statuses (id, namespace, host, error) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (id) DO UPDATE SET
                        namespace = excluded.namespace, host = excluded.host, error = excluded.error",
                )
                .map_err(|e| self.err(e))?;
            for st in set {
                put.execute(params![st.id.to_string(), st.namespace, st.host, st.error])
                    .map_err(|e| self.err(e))?;
            }
        }
        tx.commit().map_err(|e| self.err(e))
    }

    fn clear_statuses(&self, host: &str, namespace: &str) -> Result<(), StoreError> {
        self.conn
            .lock()
            .execute(
                "DELETE FROM statuses WHERE host = ?1 AND namespace = ?2",
                params![host, namespace],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    fn statuses(&self, namespace: Option<&str>) -> Result<Vec<SpecStatus>, StoreError> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, namespace, host, error FROM statuses WHERE ?1 IS NULL OR namespace = ?1",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map(params![namespace], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, namespace, host, error) = row.map_err(|e| self.err(e))?;
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            out.push(SpecStatus {
                id,
                namespace,
                host,
                error,
            });
        }
        Ok(out)
    }

    fn watch(&self) -> broadcast::Receiver<Event> {
        self.feed.events.subscribe()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    #[test]
    fn opening_an_empty_file_creates_the_latest_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/folder/weir.db");
        let store = SqliteStore::open(&path).unwrap();
        assert!(path.exists());
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION, "reopened");
    }

    #[test]
    fn a_version_1_file_is_migrated_forward_keeping_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weir.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', '1');",
            )
            .unwrap();
            conn.execute_batch(MIGRATIONS[0].1).unwrap();
            let id = Uuid::now_v7();
            let body = json!({"id": id.to_string(), "kind": "nop", "namespace": "default", "name": "a"});
            conn.execute(
                "INSERT INTO specs VALUES (?1, 'default', 'a', ?2)",
                params![id.to_string(), body.to_string()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let specs = store.specs(None).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name.as_deref(), Some("a"));
        let indexes: i64 = store
            .conn
            .lock()
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'specs_namespace'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(indexes, 1, "version 2's index");
    }

    #[test]
    fn a_version_2_file_gains_charts_and_statuses() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weir.db");
        let id = Uuid::now_v7();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', '2');",
            )
            .unwrap();
            conn.execute_batch(MIGRATIONS[0].1).unwrap();
            conn.execute_batch(MIGRATIONS[1].1).unwrap();
            let body = json!({"id": id.to_string(), "kind": "nop", "namespace": "default", "name": "a"});
            conn.execute(
                "INSERT INTO specs VALUES (?1, 'default', 'a', ?2)",
                params![id.to_string(), body.to_string()],
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), 3);
        assert_eq!(store.specs(None).unwrap().len(), 1, "kept");
        assert!(store.charts(None).unwrap().is_empty());
        store
            .record_statuses(
                vec![SpecStatus {
                    id,
                    namespace: "default".into(),
                    host: "h".into(),
                    error: None,
                }],
                &[],
            )
            .unwrap();
        assert_eq!(store.statuses(Some("default")).unwrap().len(), 1);
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weir.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(
                "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', '99');",
            )
            .unwrap();
        }
        let e = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(e.contains("weir.db") && e.contains("99"), "{e}");
    }
}
