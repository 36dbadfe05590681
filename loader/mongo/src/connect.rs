//! Reaching the server a `mongodb://…` (or `mongodb+srv://…`) URL names: the client options (a
//! short server selection timeout unless the URL sets one, the database from the URL's path or
//! `weir`), the check that the server is a replica set (or a sharded cluster's mongos), and the
//! errors a user sees when it is not or cannot be reached, each naming the URL (its password
//! masked) and what to do.

use std::time::Duration;

use bson::{doc, Document};
use mongodb::error::{Error, ErrorKind};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use weir_loader::StoreError;

/// The database used when the URL's path names none.
pub const DEFAULT_DATABASE: &str = "weir";

/// How long an operation waits for a usable server unless the URL says
/// (`serverSelectionTimeoutMS`); the driver's own default is 30 s.
pub const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// What to do when the server is no replica set, for every message that needs it.
pub const REPLICA_SET_HINT: &str = "weir needs a replica set (transactions and change streams): \
start mongod with --replSet rs0 and run rs.initiate() once in mongosh (a single-node replica set \
is enough), or use sqlite://PATH";

/// `url` with its password replaced by `***`, for messages and logs.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let hosts_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(hosts_end);
    let Some((userinfo, hosts)) = authority.rsplit_once('@') else {
        return url.to_string();
    };
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    let masked = if userinfo.contains(':') {
        format!("{user}:***")
    } else {
        user.to_string()
    };
    format!("{scheme}://{masked}@{hosts}{tail}")
}

/// A store error about the server at `shown` (a redacted URL).
pub fn error(shown: &str, what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("MongoDB at \"{shown}\": {what}"))
}

/// The client and database for `url`; `database` overrides the URL's.
pub async fn connect(url: &str, database: Option<&str>) -> Result<(Client, Database), StoreError> {
    let shown = redact(url);
    let mut options = ClientOptions::parse(url)
        .await
        .map_err(|e| error(&shown, format_args!("not a usable MongoDB URL: {e}")))?;
    if options.server_selection_timeout.is_none() {
        options.server_selection_timeout = Some(SERVER_SELECTION_TIMEOUT);
    }
    if options.app_name.is_none() {
        options.app_name = Some("weir".into());
    }
    let timeout = options
        .server_selection_timeout
        .unwrap_or(SERVER_SELECTION_TIMEOUT);
    let name = database
        .map(str::to_string)
        .or_else(|| options.default_database.clone())
        .unwrap_or_else(|| DEFAULT_DATABASE.to_string());
    let client = Client::with_options(options).map_err(|e| error(&shown, e))?;
    let db = client.database(&name);
    let hello = db
        .run_command(doc! { "hello": 1 })
        .await
        .map_err(|e| unreachable(&shown, timeout, &e))?;
    check_replica_set(&shown, &hello)?;
    Ok((client, db))
}

/// The error for a failed first contact: no server in time, or another failure.
pub fn unreachable(shown: &str, timeout: Duration, e: &Error) -> StoreError {
    match e.kind.as_ref() {
        ErrorKind::ServerSelection { .. } => error(
            shown,
            format_args!(
                "no MongoDB server answered within {} ({e}); check that mongod runs and the URL is \
                 right (a URL with replicaSet=… only accepts members of that replica set); {REPLICA_SET_HINT}",
                humanize(timeout)
            ),
        ),
        _ => error(shown, format_args!("first contact failed: {e}")),
    }
}

/// Checks a `hello` reply: a replica set member names its set, a mongos says `isdbgrid`.
pub fn check_replica_set(shown: &str, hello: &Document) -> Result<(), StoreError> {
    if hello.get_str("setName").is_ok() || matches!(hello.get_str("msg"), Ok("isdbgrid")) {
        return Ok(());
    }
    let what = if matches!(hello.get_bool("isreplicaset"), Ok(true)) {
        "the server was started with --replSet but its replica set is not initiated yet (run rs.initiate() once in mongosh)".to_string()
    } else {
        format!("the server is a standalone mongod, not a replica set; {REPLICA_SET_HINT}")
    };
    Err(error(shown, what))
}

/// `500ms`, `10s`.
fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
#[path = "connect_tests.rs"]
mod tests;
