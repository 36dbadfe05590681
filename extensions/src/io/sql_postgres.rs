//! The PostgreSQL side of the `sql` kind, on tokio-postgres (no TLS). A pool of connections, one per
//! running process, each holding that process's transaction.
//!
//! Arguments are sent in PostgreSQL's text format, typed by the server from the statement (so a
//! string binds to a `numeric`, `date` or `uuid` column as it would in SQL), except bytes for a
//! `bytea`; a list for an array parameter is written as an array literal, a map or a list otherwise
//! as JSON. Columns are decoded from the binary format: booleans, integers, floats, text, `bytea`,
//! `json`/`jsonb` (as values), timestamps (as times), `date`, `uuid` and `numeric` (as exact text),
//! arrays (as lists), enums (as text); anything else as its raw bytes.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::BytesMut;
use parking_lot::Mutex;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type};
use tokio_postgres::{Client, Config, NoTls};
use weir_engine::{Error, ErrorKind, Result, Value};

use super::sql::row;

type BoxError = Box<dyn std::error::Error + Sync + Send>;

/// One PostgreSQL database and its idle connections.
pub struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    config: Config,
    begin: &'static str,
    idle: Mutex<Vec<Client>>,
    permits: Arc<Semaphore>,
}

/// One process's transaction: a connection on which `BEGIN` ran.
pub struct Tx {
    client: Arc<tokio::sync::Mutex<Option<Client>>>,
    db: Arc<DbInner>,
    handle: tokio::runtime::Handle,
    _permit: OwnedSemaphorePermit,
}

/// A tokio-postgres error with the server's own words when it has them.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                s.push_str(&format!(": {inner}"));
                source = inner.source();
            }
            s
        }
    }
}

fn node_error(e: &tokio_postgres::Error) -> Error {
    Error::new(ErrorKind::Node, format!("sql: {}", describe(e)))
}

impl Db {
    /// Checks `source`; connections are opened at the first query.
    pub fn new(source: &str, begin: &'static str, connections: usize) -> std::result::Result<Self, String> {
        let config: Config = source
            .parse()
            .map_err(|e| format!("not a PostgreSQL connection string: {e}"))?;
        Ok(Db {
            inner: Arc::new(DbInner {
                config,
                begin,
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(Semaphore::new(connections)),
            }),
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
        let idle = {
            let mut idle = self.inner.idle.lock();
            idle.retain(|c| !c.is_closed());
            idle.pop()
        };
        let client = match idle {
            Some(c) => c,
            None => {
                let (client, connection) = self.inner.config.connect(NoTls).await.map_err(|e| {
                    Error::new(
                        ErrorKind::Unavailable,
                        format!("sql: cannot connect to PostgreSQL: {}", describe(&e)),
                    )
                })?;
                tokio::spawn(async move {
                    if let Err(e) = connection.await {
                        tracing::warn!("sql: PostgreSQL connection ended: {}", describe(&e));
                    }
                });
                client
            }
        };
        client
            .batch_execute(self.inner.begin)
            .await
            .map_err(|e| node_error(&e))?;
        Ok(Tx {
            client: Arc::new(tokio::sync::Mutex::new(Some(client))),
            db: self.inner.clone(),
            handle: tokio::runtime::Handle::current(),
            _permit: permit,
        })
    }
}

impl Tx {
    /// Runs one statement with its arguments (`$i + 1` is `args[i]`); answers its rows as maps.
    pub async fn run(&self, sql: &str, args: Vec<Value>) -> Result<Vec<Value>> {
        let guard = self.client.lock().await;
        let client = guard
            .as_ref()
            .ok_or_else(|| Error::new(ErrorKind::Cancelled, "sql: the transaction has ended"))?;
        let stmt = client.prepare(sql).await.map_err(|e| node_error(&e))?;
        if stmt.params().len() != args.len() {
            return Err(Error::new(
                ErrorKind::UnsupportedValue,
                format!(
                    "sql: PostgreSQL counts {} parameter(s) in the query but {} argument(s) were bound",
                    stmt.params().len(),
                    args.len()
                ),
            ));
        }
        let params: Vec<Param> = args.into_iter().map(Param).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = client.query(&stmt, &refs).await.map_err(|e| node_error(&e))?;
        let columns: Vec<String> = stmt.columns().iter().map(|c| c.name().to_string()).collect();
        rows.iter()
            .map(|r| {
                let values = (0..columns.len())
                    .map(|i| r.try_get::<_, Out>(i).map(|o| o.0).map_err(|e| node_error(&e)))
                    .collect::<Result<Vec<_>>>()?;
                Ok(row(&columns, values))
            })
            .collect()
    }

    /// Commits or rolls back, and gives the connection back to the pool. Waits for the server's
    /// answer when it can block (on the multi-threaded runtime or outside any runtime); on a
    /// current-thread runtime the end is sent and completes in the background.
    pub fn finish(&self, commit: bool) {
        let client = self.client.clone();
        let db = self.db.clone();
        let end = async move {
            let Some(c) = client.lock().await.take() else {
                return;
            };
            let sql = if commit { "COMMIT" } else { "ROLLBACK" };
            match c.batch_execute(sql).await {
                Ok(()) if !c.is_closed() => db.idle.lock().push(c),
                Ok(()) => {}
                Err(e) => tracing::warn!("sql: {sql} failed: {}", describe(&e)),
            }
        };
        match tokio::runtime::Handle::try_current() {
            Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(|| h.block_on(end))
            }
            Ok(h) => {
                h.spawn(end);
            }
            Err(_) => self.handle.block_on(end),
        }
    }
}

/// An argument, written in the text format (bytes for `bytea` in the binary one).
#[derive(Debug)]
struct Param(Value);

impl ToSql for Param {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> std::result::Result<IsNull, BoxError> {
        match &self.0 {
            Value::Null => return Ok(IsNull::Yes),
            Value::Bytes(b) if *ty == Type::BYTEA => out.extend_from_slice(b),
            v => out.extend_from_slice(text(v, ty)?.as_bytes()),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    fn encode_format(&self, ty: &Type) -> tokio_postgres::types::Format {
        match &self.0 {
            Value::Bytes(_) if *ty == Type::BYTEA => tokio_postgres::types::Format::Binary,
            _ => tokio_postgres::types::Format::Text,
        }
    }

    tokio_postgres::types::to_sql_checked!();
}

fn text(v: &Value, ty: &Type) -> std::result::Result<String, BoxError> {
    Ok(match v {
        Value::Null => "NULL".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Uint(u) => u.to_string(),
        Value::Float(f) if f.is_nan() => "NaN".to_string(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { "Infinity" } else { "-Infinity" }.to_string(),
        Value::Float(f) => f.to_string(),
        Value::String(s) => s.to_string(),
        Value::Bytes(b) => String::from_utf8(b.to_vec())
            .map_err(|_| format!("bytes that are not UTF-8 bind only to a bytea, not to {ty}"))?,
        Value::List(items) if matches!(ty.kind(), Kind::Array(_)) => {
            let elem = match ty.kind() {
                Kind::Array(e) => e.clone(),
                _ => Type::TEXT,
            };
            let parts = items
                .iter()
                .map(|i| match i {
                    Value::Null => Ok("NULL".to_string()),
                    Value::List(_) => text(i, ty),
                    other => text(other, &elem).map(|t| quote(&t)),
                })
                .collect::<std::result::Result<Vec<_>, BoxError>>()?;
            format!("{{{}}}", parts.join(","))
        }
        Value::List(_) | Value::Map(_) => v.to_json().to_string(),
        Value::Time(t) => humantime::format_rfc3339_nanos(*t).to_string(),
        Value::Error(e) => return Err(format!("an error is no argument ({e})").into()),
    })
}

/// An element of an array literal, quoted.
fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A column value decoded from the binary format.
struct Out(Value);

impl<'a> FromSql<'a> for Out {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> std::result::Result<Self, BoxError> {
        decode(ty, raw).map(Out)
    }

    fn from_sql_null(_: &Type) -> std::result::Result<Self, BoxError> {
        Ok(Out(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn take<const N: usize>(raw: &[u8]) -> std::result::Result<[u8; N], BoxError> {
    raw.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| "a value shorter than its type".into())
}

/// Microseconds since 2000-01-01, PostgreSQL's epoch, as a time.
fn pg_time(micros: i64) -> Value {
    const PG_EPOCH: Duration = Duration::from_secs(946_684_800);
    if micros == i64::MAX {
        return Value::from("infinity");
    }
    if micros == i64::MIN {
        return Value::from("-infinity");
    }
    let base = SystemTime::UNIX_EPOCH + PG_EPOCH;
    let t = if micros >= 0 {
        base.checked_add(Duration::from_micros(micros.unsigned_abs()))
    } else {
        base.checked_sub(Duration::from_micros(micros.unsigned_abs()))
    };
    t.map_or(Value::Null, Value::Time)
}

/// Days since 2000-01-01 as `YYYY-MM-DD` (Howard Hinnant's civil-from-days).
fn pg_date(days: i32) -> Value {
    match days {
        i32::MAX => return Value::from("infinity"),
        i32::MIN => return Value::from("-infinity"),
        _ => {}
    }
    let z = i64::from(days) + 10_957 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    Value::from(format!("{y:04}-{m:02}-{d:02}"))
}

/// A `numeric` as exact decimal text.
fn pg_numeric(raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let ndigits = i16::from_be_bytes(take(raw)?) as usize;
    let weight = i16::from_be_bytes(take(&raw[2..])?) as i64;
    let sign = u16::from_be_bytes(take(&raw[4..])?);
    let dscale = u16::from_be_bytes(take(&raw[6..])?) as usize;
    match sign {
        0xC000 => return Ok(Value::from("NaN")),
        0xD000 => return Ok(Value::from("Infinity")),
        0xF000 => return Ok(Value::from("-Infinity")),
        _ => {}
    }
    let digits = (0..ndigits)
        .map(|i| take::<2>(&raw[8 + 2 * i..]).map(i16::from_be_bytes))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let digit = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    if weight < 0 {
        s.push('0');
    } else {
        for i in 0..=weight {
            if i == 0 {
                s.push_str(&digit(i).to_string());
            } else {
                s.push_str(&format!("{:04}", digit(i)));
            }
        }
    }
    if dscale > 0 {
        let mut frac = String::new();
        let mut k = 1;
        while frac.len() < dscale {
            frac.push_str(&format!("{:04}", digit(weight + k)));
            k += 1;
        }
        frac.truncate(dscale);
        s.push('.');
        s.push_str(&frac);
    }
    Ok(Value::from(s))
}

/// An array as a list (nested for several dimensions).
fn pg_array(elem: &Type, raw: &[u8]) -> std::result::Result<Value, BoxError> {
    let ndim = i32::from_be_bytes(take(raw)?) as usize;
    let mut pos = 12;
    let mut dims = Vec::with_capacity(ndim);
    for _ in 0..ndim {
        dims.push(i32::from_be_bytes(take(&raw[pos..])?).max(0) as usize);
        pos += 8;
    }
    let total: usize = if ndim == 0 { 0 } else { dims.iter().product() };
    let mut flat = Vec::with_capacity(total);
    for _ in 0..total {
        let len = i32::from_be_bytes(take(raw.get(pos..).unwrap_or_default())?);
        pos += 4;
        if len < 0 {
            flat.push(Value::Null);
        } else {
            let end = pos + len as usize;
            let bytes = raw.get(pos..end).ok_or("an array element beyond the value")?;
            flat.push(decode(elem, bytes)?);
            pos = end;
        }
    }
    Ok(nest(&dims, &mut flat.into_iter()))
}

fn nest(dims: &[usize], items: &mut impl Iterator<Item = Value>) -> Value {
    match dims {
        [] => Value::list(Vec::new()),
        [n] => Value::list(items.take(*n).collect::<Vec<_>>()),
        [n, rest @ ..] => Value::list((0..*n).map(|_| nest(rest, items)).collect::<Vec<_>>()),
    }
}

fn decode(ty: &Type, raw: &[u8]) -> std::result::Result<Value, BoxError> {
    Ok(match *ty {
        Type::BOOL => Value::Bool(take::<1>(raw)?[0] != 0),
        Type::INT2 => Value::from(i16::from_be_bytes(take(raw)?)),
        Type::INT4 => Value::from(i32::from_be_bytes(take(raw)?)),
        Type::INT8 => Value::from(i64::from_be_bytes(take(raw)?)),
        Type::OID => Value::from(u32::from_be_bytes(take(raw)?)),
        Type::FLOAT4 => Value::from(f64::from(f32::from_be_bytes(take(raw)?))),
        Type::FLOAT8 => Value::from(f64::from_be_bytes(take(raw)?)),
        Type::BYTEA => Value::Bytes(bytes::Bytes::copy_from_slice(raw)),
        Type::JSON => weir_engine::value::from_json_str(std::str::from_utf8(raw)?)?,
        Type::JSONB => {
            weir_engine::value::from_json_str(std::str::from_utf8(raw.get(1..).unwrap_or_default())?)?
        }
        Type::TIMESTAMP | Type::TIMESTAMPTZ => pg_time(i64::from_be_bytes(take(raw)?)),
        Type::DATE => pg_date(i32::from_be_bytes(take(raw)?)),
        Type::UUID => Value::from(uuid::Uuid::from_bytes(take(raw)?).to_string()),
        Type::NUMERIC => pg_numeric(raw)?,
        Type::CHAR => Value::from(char::from(take::<1>(raw)?[0]).to_string()),
        _ => match ty.kind() {
            Kind::Array(elem) => pg_array(elem, raw)?,
            _ => match std::str::from_utf8(raw) {
                Ok(s) => Value::from(s),
                Err(_) => Value::Bytes(bytes::Bytes::copy_from_slice(raw)),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_numerics_decode_to_exact_text() {
        assert_eq!(pg_date(0), Value::from("2000-01-01"));
        assert_eq!(pg_date(-1), Value::from("1999-12-31"));
        assert_eq!(pg_date(9190), Value::from("2025-02-28"));
        // 12345.678: ndigits 3, weight 1, sign +, dscale 3, digits [1, 2345, 6780].
        let raw: Vec<u8> = [3i16, 1, 0, 3, 1, 2345, 6780]
            .iter()
            .flat_map(|d| d.to_be_bytes())
            .collect();
        assert_eq!(pg_numeric(&raw).ok(), Some(Value::from("12345.678")));
        // -0.0012: ndigits 1, weight -1, sign -, dscale 4, digits [12].
        let raw: Vec<u8> = [1i16, -1, 0x4000, 4, 12]
            .iter()
            .flat_map(|d| d.to_be_bytes())
            .collect();
        assert_eq!(pg_numeric(&raw).ok(), Some(Value::from("-0.0012")));
    }
}
