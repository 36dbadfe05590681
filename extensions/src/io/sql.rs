//! `sql`: runs SQL on SQLite or PostgreSQL and answers with the rows, each a map of column → value
//! (uniflow's sql node).
//!
//! Fields: `driver` (`sqlite3` or `postgres`; inferred from `source` when absent), `source` (the
//! connection string), `isolation` (uniflow's levels, 0–7 or their names) and `connections` (the
//! most a node opens at once; default 10).
//!
//! Each process gets its own transaction, begun at its first query on the node: every query of that
//! process runs in it, and it is committed when the process ends well and rolled back when the
//! process ends with an error (an exit hook of the process). The payload is a query, or
//! `[query, arguments]`: a list for `?` and `$1` parameters, a map for `:name` ones, or a list of
//! maps to run a `:name` query once per map ([`super::sql_params`]).
//!
//! The store's own files are refused to SQLite outside the `system` namespace, and so is `ATTACH`.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::sync::OnceCell;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::template::{OneToOne, OneToOneNode};
use weir_engine::{BoxedNode, Error, ErrorKind, Map, Process, ProcessId, Result, Value};

use super::sql_params::{self, Query};
use super::sql_postgres as pg;
use super::sql_sqlite as lite;

/// A transaction isolation level: uniflow's number (Go's `sql.IsolationLevel`) or its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Isolation {
    /// 0 default, 1 read uncommitted, 2 read committed, 3 write committed, 4 repeatable read,
    /// 5 snapshot, 6 serializable, 7 linearizable.
    Level(u8),
    Name(IsolationName),
}

/// The names of the isolation levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IsolationName {
    Default = 0,
    ReadUncommitted = 1,
    ReadCommitted = 2,
    WriteCommitted = 3,
    RepeatableRead = 4,
    Snapshot = 5,
    Serializable = 6,
    Linearizable = 7,
}

impl Isolation {
    /// PostgreSQL's `BEGIN` for this level; an error for the levels it does not have.
    fn postgres_begin(self) -> std::result::Result<&'static str, String> {
        let level = match self {
            Isolation::Level(l) => l,
            Isolation::Name(n) => n as u8,
        };
        match level {
            0 => Ok("BEGIN"),
            1 => Ok("BEGIN ISOLATION LEVEL READ UNCOMMITTED"),
            2 => Ok("BEGIN ISOLATION LEVEL READ COMMITTED"),
            4 | 5 => Ok("BEGIN ISOLATION LEVEL REPEATABLE READ"),
            6 => Ok("BEGIN ISOLATION LEVEL SERIALIZABLE"),
            3 => Err("PostgreSQL has no write committed level".into()),
            7 => Err("PostgreSQL has no linearizable level".into()),
            other => Err(format!("{other} is no isolation level (0 to 7)")),
        }
    }

    fn check(self) -> std::result::Result<(), String> {
        match self {
            Isolation::Level(l) if l > 7 => Err(format!("{l} is no isolation level (0 to 7)")),
            _ => Ok(()),
        }
    }
}

/// The fields of a `sql` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SqlFields {
    /// `sqlite3` (or `sqlite`) or `postgres` (or `postgresql`). When absent: `postgres` for a
    /// `postgres://` or `postgresql://` source, else `sqlite3`.
    #[serde(default)]
    pub driver: Option<String>,
    /// The connection string. SQLite: a path, `file:` URI, `sqlite://PATH`, or `:memory:` (a
    /// database private to the node). PostgreSQL: a `postgres://` URL or `key=value` pairs.
    pub source: String,
    /// The transaction isolation level: 0–7 as uniflow (Go's `sql.IsolationLevel`) or a name
    /// (`read_committed`, `repeatable_read`, `serializable`, ...). Default 0, the database's default.
    /// SQLite's transactions are always serializable.
    #[serde(default)]
    pub isolation: Option<Isolation>,
    /// The most connections the node opens at once (one per running process); default 10. A process
    /// beyond waits for one to be released.
    #[serde(default)]
    pub connections: Option<u32>,
}

/// The `sql` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct SqlKind;

impl Kind for SqlKind {
    const KIND: &'static str = "sql";
    type Fields = SqlFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Runs SQL on SQLite or PostgreSQL in one transaction per process (committed when the process ends well, rolled back on error); answers rows as maps."
    }

    fn compile(&self, fields: SqlFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(OneToOneNode(Sql::new(&fields, cx.namespace)?)))
    }
}

/// A database a node talks to.
enum Db {
    Sqlite(lite::Db),
    Postgres(pg::Db),
}

/// One process's transaction.
enum Tx {
    Sqlite(lite::Tx),
    Postgres(pg::Tx),
}

impl Tx {
    async fn run(&self, query: &Query, args: Vec<Value>) -> Result<Vec<Value>> {
        match self {
            Tx::Sqlite(tx) => tx.run(&query.sqlite, args).await,
            Tx::Postgres(tx) => tx.run(&query.postgres, args).await,
        }
    }

    fn finish(&self, commit: bool) {
        match self {
            Tx::Sqlite(tx) => tx.finish(commit),
            Tx::Postgres(tx) => tx.finish(commit),
        }
    }
}

/// The node: a database and the open transaction of each process.
#[derive(Clone)]
pub struct Sql {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    txs: Mutex<HashMap<ProcessId, Arc<OnceCell<Tx>>>>,
}

impl std::fmt::Debug for Sql {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let driver = match self.inner.db {
            Db::Sqlite(_) => "sqlite3",
            Db::Postgres(_) => "postgres",
        };
        f.debug_struct("Sql").field("driver", &driver).finish()
    }
}

impl Sql {
    /// Checks the fields and opens the database (SQLite) or checks the connection string
    /// (PostgreSQL, connected at the first query); errors name the field at fault.
    pub fn new(fields: &SqlFields, namespace: &str) -> std::result::Result<Self, FieldIssue> {
        let driver = match fields.driver.as_deref().map(str::to_ascii_lowercase).as_deref() {
            Some("sqlite3" | "sqlite") => "sqlite3",
            Some("postgres" | "postgresql" | "pgx") => "postgres",
            Some("") | None => {
                if fields.source.starts_with("postgres://") || fields.source.starts_with("postgresql://") {
                    "postgres"
                } else {
                    "sqlite3"
                }
            }
            Some(other) => {
                return Err(FieldIssue::new(
                    "driver",
                    format!("unknown driver {other:?}; weir speaks sqlite3 and postgres"),
                ))
            }
        };
        if let Some(i) = fields.isolation {
            i.check().map_err(|m| FieldIssue::new("isolation", m))?;
        }
        let connections = match fields.connections {
            None => 10,
            Some(0) => return Err(FieldIssue::new("connections", "must be at least 1")),
            Some(n) => n as usize,
        };
        let db = match driver {
            "postgres" => {
                let begin = fields
                    .isolation
                    .map_or(Ok("BEGIN"), Isolation::postgres_begin)
                    .map_err(|m| FieldIssue::new("isolation", m))?;
                Db::Postgres(
                    pg::Db::new(&fields.source, begin, connections)
                        .map_err(|m| FieldIssue::new("source", m))?,
                )
            }
            _ => Db::Sqlite(
                lite::Db::open(&fields.source, namespace, connections)
                    .map_err(|m| FieldIssue::new("source", m))?,
            ),
        };
        Ok(Sql {
            inner: Arc::new(Inner {
                db,
                txs: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The transaction of `process`, begun now when it has none; its exit hook is registered with it.
    async fn tx(&self, process: &Arc<Process>) -> Result<Arc<OnceCell<Tx>>> {
        let id = process.id();
        let (cell, fresh) = {
            let mut txs = self.inner.txs.lock();
            match txs.get(&id) {
                Some(c) => (c.clone(), false),
                None => {
                    let c = Arc::new(OnceCell::new());
                    txs.insert(id, c.clone());
                    (c, true)
                }
            }
        };
        if fresh {
            let inner = Arc::downgrade(&self.inner);
            process.on_exit(move |cause| {
                let Some(inner) = inner.upgrade() else { return };
                let cell = inner.txs.lock().remove(&id);
                if let Some(tx) = cell.as_ref().and_then(|c| c.get()) {
                    tx.finish(cause.is_none());
                }
            });
        }
        cell.get_or_try_init(|| async {
            match &self.inner.db {
                Db::Sqlite(db) => db.begin().await.map(Tx::Sqlite),
                Db::Postgres(db) => db.begin().await.map(Tx::Postgres),
            }
        })
        .await?;
        Ok(cell)
    }
}

/// The query and its arguments of one payload.
fn request(value: &Value) -> Result<(&str, Option<&Value>)> {
    let unsupported = || {
        Error::new(
            ErrorKind::UnsupportedType,
            format!(
                "sql expects a payload query or [query, arguments], got a {}",
                value.type_name()
            ),
        )
    };
    match value {
        Value::String(q) => Ok((q, None)),
        Value::List(l) if (1..=2).contains(&l.len()) => {
            let q = l[0].as_str().ok_or_else(unsupported)?;
            Ok((q, l.get(1).filter(|a| !a.is_null())))
        }
        _ => Err(unsupported()),
    }
}

impl OneToOne for Sql {
    async fn call(&self, process: &Arc<Process>, value: Value) -> Result<Value> {
        let (text, args) = request(&value)?;
        let query = sql_params::parse(text)?;
        // A list of maps runs a named query once per map.
        let batches: Vec<Option<&Value>> = match args {
            Some(Value::List(l)) if matches!(query.style, sql_params::Style::Named(_)) => {
                l.iter().map(Some).collect()
            }
            other => vec![other],
        };
        let bound = batches
            .into_iter()
            .map(|a| sql_params::bind(&query, a))
            .collect::<Result<Vec<_>>>()?;
        if process.exit_cause().is_some() {
            return Err(process.ended_error());
        }
        let cell = self.tx(process).await?;
        let tx = cell
            .get()
            .ok_or_else(|| Error::new(ErrorKind::Internal, "sql: the transaction was not begun"))?;
        let mut rows = Vec::new();
        for args in bound {
            rows.extend(tx.run(&query, args).await?);
        }
        Ok(Value::list(rows))
    }
}

/// A row as a map of column → value.
pub(crate) fn row(columns: &[String], values: Vec<Value>) -> Value {
    let map: Map = columns.iter().cloned().zip(values).collect();
    Value::Map(Arc::new(map))
}

/// Runs `f`, which blocks, from wherever an exit hook runs: off the async workers when on the
/// multi-threaded runtime, in place otherwise.
pub(crate) fn blocking<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

#[cfg(test)]
#[path = "sql_tests.rs"]
mod tests;
