//! The SQLite side of the `sql` kind, on the workspace's one rusqlite (bundled SQLite). A pool of
//! connections, one per running process, each holding that process's transaction; queries run off the
//! async workers.
//!
//! Sources: a path, `sqlite://PATH`, a `file:` URI (`file::memory:?cache=shared` is shared by the
//! whole host, as in uniflow), or `:memory:` / empty, a database private to the node that lives as
//! long as the node. Outside the `system` namespace the store's files are refused and `ATTACH` is
//! disabled (a connection may attach no database), so no query reaches the store either.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rusqlite::limits::Limit;
use rusqlite::types::{Value as Sqlite, ValueRef};
use rusqlite::{Connection, OpenFlags};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use weir_codecs::guard;
use weir_engine::{Error, ErrorKind, Result, Value};

use super::sql::{blocking, row};

/// How long a query waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One SQLite database and its idle connections.
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    /// What `Connection::open_with_flags` opens.
    target: String,
    restrict_attach: bool,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    /// Keeps a private in-memory database alive while no process uses it.
    _anchor: Option<Mutex<Connection>>,
}

/// One process's transaction: a connection on which `BEGIN` ran.
pub struct Tx {
    conn: Arc<Mutex<Option<Connection>>>,
    db: Arc<DbInner>,
    _permit: OwnedSemaphorePermit,
}

fn node_error(e: impl std::fmt::Display) -> Error {
    Error::new(ErrorKind::Node, format!("sql: {e}"))
}

/// The file a source names (`None` for an in-memory database), and what to open.
fn resolve(source: &str) -> (Option<String>, String) {
    let memory = |s: &str| s.is_empty() || s == ":memory:";
    if let Some(rest) = source.strip_prefix("sqlite://") {
        let path = rest.split('?').next().unwrap_or_default();
        return if memory(path) {
            (None, private_memory())
        } else {
            (Some(path.to_string()), path.to_string())
        };
    }
    if memory(source) {
        return (None, private_memory());
    }
    if let Some(rest) = source.strip_prefix("file:") {
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let path = match path.strip_prefix("//") {
            Some(authority_and_path) => authority_and_path
                .find('/')
                .map_or("", |i| &authority_and_path[i..]),
            None => path,
        };
        let in_memory =
            path.is_empty() || path == ":memory:" || query.split('&').any(|kv| kv == "mode=memory");
        return (
            if in_memory { None } else { Some(path.to_string()) },
            source.to_string(),
        );
    }
    (Some(source.to_string()), source.to_string())
}

fn private_memory() -> String {
    format!(
        "file:weir-sql-{}?mode=memory&cache=shared",
        uuid::Uuid::now_v7().simple()
    )
}

impl Db {
    /// Opens `source` for a node of `namespace`: one connection now, to report a bad source at once.
    pub fn open(source: &str, namespace: &str, connections: usize) -> std::result::Result<Self, String> {
        let (file, target) = resolve(source);
        if let Some(file) = &file {
            guard::check_path(namespace, Path::new(file)).map_err(|e| e.to_string())?;
        }
        let mut inner = DbInner {
            target,
            restrict_attach: namespace != guard::SYSTEM_NAMESPACE,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(Semaphore::new(connections)),
            _anchor: None,
        };
        let first = inner
            .connect()
            .map_err(|e| format!("cannot open SQLite database {source:?}: {e}"))?;
        if file.is_none() {
            inner._anchor = Some(Mutex::new(first));
        } else {
            inner.idle.lock().push(first);
        }
        Ok(Db {
            inner: Arc::new(inner),
        })
    }

    /// Takes a connection (waiting when `connections` are in use) and begins a transaction on it.
    pub async fn begin(&self) -> Result<Tx> {
        let permit = self
            .inner
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::new(ErrorKind::Unavailable, "sql: the node is closed"))?;
        let inner = self.inner.clone();
        let conn = tokio::task::spawn_blocking(move || -> Result<Connection> {
            let idle = inner.idle.lock().pop();
            let conn = match idle {
                Some(c) => c,
                None => inner.connect().map_err(node_error)?,
            };
            conn.execute_batch("BEGIN").map_err(node_error)?;
            Ok(conn)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Panic, format!("sql failed: {e}")))??;
        Ok(Tx {
            conn: Arc::new(Mutex::new(Some(conn))),
            db: self.inner.clone(),
            _permit: permit,
        })
    }
}

impl DbInner {
    fn connect(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&self.target, flags)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        if self.restrict_attach {
            conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0)?;
        }
        Ok(conn)
    }
}

impl Tx {
    /// Runs one statement with its arguments (slot `i + 1` is `args[i]`); answers its rows as maps.
    pub async fn run(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Value>> {
        let conn = self.conn.clone();
        let sql = sql.to_string();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock();
            let conn = guard
                .as_mut()
                .ok_or_else(|| Error::new(ErrorKind::Cancelled, "sql: the transaction has ended"))?;
            execute(conn, &sql, &args)
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Panic, format!("sql failed: {e}")))?
    }

    /// Commits or rolls back, and gives the connection back to the pool.
    pub fn finish(&self, commit: bool) {
        let Some(conn) = self.conn.lock().take() else {
            return;
        };
        blocking(|| {
            let end = if commit { "COMMIT" } else { "ROLLBACK" };
            if let Err(e) = conn.execute_batch(end) {
                tracing::warn!("sql: {end} failed: {e}");
                if commit {
                    let _ = conn.execute_batch("ROLLBACK");
                }
            }
            if conn.is_autocommit() {
                self.db.idle.lock().push(conn);
            }
        });
    }
}

fn execute(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<Value>> {
    let mut stmt = conn.prepare_cached(sql).map_err(node_error)?;
    let expected = stmt.parameter_count();
    if expected != args.len() {
        return Err(Error::new(
            ErrorKind::UnsupportedValue,
            format!(
                "sql: SQLite counts {expected} parameter(s) in the query but {} argument(s) were bound",
                args.len()
            ),
        ));
    }
    for (i, v) in args.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, to_sqlite(v)?)
            .map_err(node_error)?;
    }
    let columns: Vec<String> = stmt.column_names().map(String::from).collect();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next().map_err(node_error)? {
        let values = (0..columns.len())
            .map(|i| r.get_ref(i).map(from_sqlite).map_err(node_error))
            .collect::<Result<Vec<_>>>()?;
        out.push(row(&columns, values));
    }
    Ok(out)
}

fn to_sqlite(v: &Value) -> Result<Sqlite> {
    Ok(match v {
        Value::Null => Sqlite::Null,
        Value::Bool(b) => Sqlite::Integer(i64::from(*b)),
        Value::Int(i) => Sqlite::Integer(*i),
        Value::Uint(u) => {
            return Err(Error::new(
                ErrorKind::UnsupportedValue,
                format!("sql: {u} is beyond SQLite's 64-bit integers"),
            ))
        }
        Value::Float(f) => Sqlite::Real(*f),
        Value::String(s) => Sqlite::Text(s.to_string()),
        Value::Bytes(b) => Sqlite::Blob(b.to_vec()),
        Value::List(_) | Value::Map(_) => Sqlite::Text(v.to_json().to_string()),
        Value::Time(t) => Sqlite::Text(humantime::format_rfc3339_nanos(*t).to_string()),
        Value::Error(e) => {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!("sql: an error is no argument ({e})"),
            ))
        }
    })
}

fn from_sqlite(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Float(f),
        ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Bytes(bytes::Bytes::copy_from_slice(b)),
    }
}
