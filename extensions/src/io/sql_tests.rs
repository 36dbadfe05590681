//! Tests of `sql` at packet level, on a real SQLite file and a real PostgreSQL server: rows as maps,
//! the three parameter styles, one transaction per process committed when the process ends well and
//! rolled back when it ends with an error, and the errors. The same scenarios run on both databases.
//!
//! PostgreSQL comes from `WEIR_TEST_POSTGRES_URL` (scripts/test.sh starts a server and sets it). When
//! it is unset the PostgreSQL tests fail under `CI=true` and are skipped, with a note, elsewhere.

use std::sync::Arc;

use serde_json::{json, Value as Json};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::FieldIssue;
use weir_engine::testing::{fail, Graph};
use weir_engine::{BoxedNode, Error, ErrorKind, NodeRuntime, NodeSlot, OutPort, Process, Result, Value};

use super::super::sql_params::{parse, Style};

fn compile_in(namespace: &str, fields: &Json) -> std::result::Result<BoxedNode, Vec<FieldIssue>> {
    let mut scheme = Scheme::new();
    crate::io::register(&mut scheme);
    let codec = scheme.get("sql").expect("sql is registered");
    codec.compile(fields, &CompileContext::new(namespace, "db"))
}

fn load(g: &mut Graph, fields: &Json) -> Arc<NodeSlot> {
    let slot = g.slot("db");
    slot.install(NodeRuntime::from_boxed(
        "db",
        compile_in("default", fields).expect("compiles"),
    ));
    slot
}

async fn run(slot: &Arc<NodeSlot>, p: &Arc<Process>, input: Json) -> Result<Vec<Value>> {
    weir_engine::call(slot, p, 0, Value::from(input)).await
}

/// The one value of a reply as JSON (a list of rows).
fn one(out: Result<Vec<Value>>) -> Result<Json> {
    out.map(|v| match v.as_slice() {
        [one] => one.to_json(),
        _ => panic!("a reply of one value, got {v:?}"),
    })
}

/// Runs `input` in a process of its own that ends with the call's outcome; answers the rows.
async fn once(slot: &Arc<NodeSlot>, input: Json) -> Result<Json> {
    let p = Process::new();
    let out = run(slot, &p, input).await;
    p.exit(out.as_ref().err().cloned());
    one(out)
}

/// The rows of a call that succeeded.
fn rows(out: Result<Vec<Value>>) -> Json {
    match one(out) {
        Ok(v) => v,
        Err(e) => panic!("the query failed: {e}"),
    }
}

/// A table name no other test (or earlier run) uses.
fn table(tag: &str) -> String {
    format!("weir_{tag}_{}", uuid::Uuid::now_v7().simple())
}

fn sqlite_file() -> (tempfile::TempDir, Json) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join("test.db").to_string_lossy().into_owned();
    (dir, json!({"driver": "sqlite3", "source": path}))
}

/// The PostgreSQL fields, or `None` (skipped) when no server was given outside CI.
fn postgres() -> Option<Json> {
    match std::env::var("WEIR_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(json!({"driver": "postgres", "source": url})),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "WEIR_TEST_POSTGRES_URL is unset under CI=true: run the tests through scripts/test.sh, which starts PostgreSQL"
        ),
        _ => {
            eprintln!("note: WEIR_TEST_POSTGRES_URL is unset; skipping a PostgreSQL test (scripts/test.sh sets it)");
            None
        }
    }
}

/// Creates a table `t (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score DOUBLE PRECISION)`.
async fn create(slot: &Arc<NodeSlot>, t: &str) {
    let ddl =
        format!("CREATE TABLE {t} (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score DOUBLE PRECISION)");
    assert_eq!(once(slot, json!(ddl)).await, Ok(json!([])));
}

async fn rows_are_maps(fields: Json) {
    let mut g = Graph::new();
    let db = load(&mut g, &fields);
    let t = table("maps");
    create(&db, &t).await;
    let insert = format!("INSERT INTO {t} (id, name, score) VALUES (1, 'ann', 1.5), (2, 'bob', NULL)");
    assert_eq!(once(&db, json!(insert)).await, Ok(json!([])));
    let select = format!("SELECT id, name, score FROM {t} ORDER BY id");
    assert_eq!(
        once(&db, json!(select)).await,
        Ok(json!([
            {"id": 1, "name": "ann", "score": 1.5},
            {"id": 2, "name": "bob", "score": null}
        ]))
    );
    let returning = format!("INSERT INTO {t} (id, name) VALUES (3, 'cy') RETURNING id, name AS who");
    assert_eq!(
        once(&db, json!(returning)).await,
        Ok(json!([{"id": 3, "who": "cy"}]))
    );
}

async fn the_three_parameter_styles(fields: Json) {
    let mut g = Graph::new();
    let db = load(&mut g, &fields);
    let t = table("params");
    create(&db, &t).await;
    let p = Process::new();
    let q = format!("INSERT INTO {t} (id, name, score) VALUES (?, ?, ?)");
    assert_eq!(
        one(run(&db, &p, json!([q, [1, "ann", 0.5]])).await),
        Ok(json!([]))
    );
    let n = format!("INSERT INTO {t} (name, id, score) VALUES ($2, $1, $3)");
    assert_eq!(
        one(run(&db, &p, json!([n, [2, "bob", 2.5]])).await),
        Ok(json!([]))
    );
    let named = format!("INSERT INTO {t} (id, name, score) VALUES (:id, :name, :score)");
    assert_eq!(
        one(run(
            &db,
            &p,
            json!([named, {"id": 3, "name": "cy", "score": 3.5, "extra": 0}])
        )
        .await),
        Ok(json!([]))
    );
    let batch =
        json!([named, [{"id": 4, "name": "di", "score": null}, {"id": 5, "name": "ed", "score": 5.5}]]);
    assert_eq!(one(run(&db, &p, batch).await), Ok(json!([])));
    let by_name = format!("SELECT name FROM {t} WHERE score > :min OR name = :who ORDER BY id");
    assert_eq!(
        rows(run(&db, &p, json!([by_name, {"min": 2, "who": "di"}])).await),
        json!([{"name": "bob"}, {"name": "cy"}, {"name": "di"}, {"name": "ed"}])
    );
    let positional = format!("SELECT id FROM {t} WHERE name = ? OR id = ? ORDER BY id");
    assert_eq!(
        rows(run(&db, &p, json!([positional, ["ann", 5]])).await),
        json!([{"id": 1}, {"id": 5}])
    );
    let numbered = format!("SELECT id FROM {t} WHERE id = $1 OR id = $1 + 1 ORDER BY id");
    assert_eq!(
        rows(run(&db, &p, json!([numbered, [3]])).await),
        json!([{"id": 3}, {"id": 4}])
    );
    let literal = format!("SELECT count(*) AS n FROM {t} WHERE name <> ':name' AND name <> '?'");
    assert_eq!(rows(run(&db, &p, json!(literal)).await), json!([{"n": 5}]));
    p.exit(None);
}

async fn commit_on_success_rollback_on_error(fields: Json) {
    let mut g = Graph::new();
    let db = load(&mut g, &fields);
    let t = table("tx");
    create(&db, &t).await;
    let insert = format!("INSERT INTO {t} (id, name) VALUES (?, ?)");
    let count = format!("SELECT count(*) AS n FROM {t}");

    // Within the process its own writes are visible; outside it they are not until it ends well.
    let writer = Process::new();
    assert_eq!(
        one(run(&db, &writer, json!([insert, [1, "kept"]])).await),
        Ok(json!([]))
    );
    assert_eq!(rows(run(&db, &writer, json!(count)).await), json!([{"n": 1}]));
    assert_eq!(
        once(&db, json!(count)).await,
        Ok(json!([{"n": 0}])),
        "not committed yet"
    );
    writer.exit(None);
    assert_eq!(
        once(&db, json!(count)).await,
        Ok(json!([{"n": 1}])),
        "committed at a good exit"
    );

    // A process that ends with an error rolls back everything it wrote on the node.
    let failing = Process::new();
    assert_eq!(
        one(run(&db, &failing, json!([insert, [2, "lost"]])).await),
        Ok(json!([]))
    );
    assert_eq!(
        one(run(&db, &failing, json!([insert, [3, "lost too"]])).await),
        Ok(json!([]))
    );
    failing.exit(Some(Error::node("the request failed downstream")));
    let names = format!("SELECT name FROM {t} ORDER BY id");
    assert_eq!(
        once(&db, json!(names)).await,
        Ok(json!([{"name": "kept"}])),
        "rolled back"
    );

    // The same through a graph: a node after `sql` fails, the failure is the process's exit.
    let mut g2 = Graph::new();
    g2.add("boom", fail("downstream refused the row"), &[]);
    let boom = g2.slot("boom");
    let slot = g2.slot("db");
    let node = compile_in("default", &fields).expect("compiles");
    slot.install(NodeRuntime::from_boxed("db", node).link(OutPort::OUT, &boom, 0));
    let p = Process::new();
    let out = run(&slot, &p, json!([insert, [4, "never"]])).await;
    let err = out.expect_err("the downstream failure is the reply");
    assert_eq!(err.message(), "downstream refused the row");
    p.exit(Some(err));
    assert_eq!(once(&db, json!(count)).await, Ok(json!([{"n": 1}])));

    // A failed statement in a process that then ends with its error leaves nothing either.
    let p = Process::new();
    assert_eq!(
        one(run(&db, &p, json!([insert, [5, "before the error"]])).await),
        Ok(json!([]))
    );
    let err = run(&db, &p, json!([insert, [1, "duplicate key"]]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    p.exit(Some(err));
    assert_eq!(once(&db, json!(count)).await, Ok(json!([{"n": 1}])));
}

async fn bad_requests_are_errors(fields: Json) {
    let mut g = Graph::new();
    let db = load(&mut g, &fields);
    let t = table("errors");
    create(&db, &t).await;
    let err = once(&db, json!("SELEKT 1")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Node);
    assert!(err.message().starts_with("sql: "), "{err}");
    assert!(err.message().contains("syntax error"), "{err}");
    for bad in [
        json!(7),
        json!({"query": "SELECT 1"}),
        json!([1, []]),
        json!(["SELECT 1", [], 3]),
    ] {
        let err = once(&db, bad.clone()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedType, "{bad}");
    }
    let q = format!("SELECT * FROM {t} WHERE id = ? AND name = ?");
    for (args, msg) in [
        (json!([1]), "has 2 ? parameter(s) but 1 argument(s)"),
        (json!({"id": 1}), "positional; give a list"),
        (json!(null), "no arguments were given"),
    ] {
        let err = once(&db, json!([q, args])).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnsupportedValue, "{args}");
        assert!(err.message().contains(msg), "{err}");
    }
    let named = format!("SELECT * FROM {t} WHERE id = :id");
    let err = once(&db, json!([named, {"name": "x"}])).await.unwrap_err();
    assert!(
        err.message().contains("no argument for the parameter :id"),
        "{err}"
    );
    let mixed = format!("SELECT * FROM {t} WHERE id = ? AND name = :name");
    let err = once(&db, json!([mixed, [1]])).await.unwrap_err();
    assert!(err.message().contains("mixes parameter styles"), "{err}");
}

macro_rules! both {
    ($($name:ident),*) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (_dir, fields) = super::sqlite_file();
                    super::$name(fields).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(fields) = super::postgres() {
                        super::$name(fields).await;
                    }
                }
            )*
        }
    };
}

both!(
    rows_are_maps,
    the_three_parameter_styles,
    commit_on_success_rollback_on_error,
    bad_requests_are_errors
);

#[tokio::test]
async fn sqlite_commits_on_a_current_thread_runtime_too() {
    let (_dir, fields) = sqlite_file();
    let mut g = Graph::new();
    let db = load(&mut g, &fields);
    let t = table("current");
    create(&db, &t).await;
    let p = Process::new();
    let insert = format!("INSERT INTO {t} (id, name) VALUES (:id, :name)");
    assert_eq!(
        one(run(&db, &p, json!([insert, {"id": 1, "name": "x"}])).await),
        Ok(json!([]))
    );
    p.exit(None);
    let count = format!("SELECT count(*) AS n FROM {t}");
    assert_eq!(once(&db, json!(count)).await, Ok(json!([{"n": 1}])));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_types_come_back_as_values() {
    let Some(fields) = postgres() else { return };
    let mut g = Graph::new();
    let db = load(&mut g, &fields);
    let q = "SELECT true AS b, 2::int2 AS s, 3::int8 AS l, 1.25::float4 AS f, 12.50::numeric(6,2) AS n, \
             '2024-02-29'::date AS d, '{\"a\": [1, null]}'::jsonb AS j, ARRAY[1, 2, 3] AS a, \
             '\\x00ff'::bytea AS bin, '0190a8f0-0000-7000-8000-000000000001'::uuid AS u, \
             'x'::char AS c, NULL::text AS nothing";
    assert_eq!(
        once(&db, json!(q)).await,
        Ok(json!([{
            "b": true, "s": 2, "l": 3, "f": 1.25, "n": "12.50", "d": "2024-02-29",
            "j": {"a": [1, null]}, "a": [1, 2, 3], "bin": "AP8=",
            "u": "0190a8f0-0000-7000-8000-000000000001", "c": "x", "nothing": null
        }]))
    );
    let out = once(&db, json!(["SELECT '2024-01-02T03:04:05Z'::timestamptz AS t"])).await;
    assert_eq!(out, Ok(json!([{"t": "2024-01-02T03:04:05.000000000Z"}])));
    let args = json!(["SELECT $1::numeric + 1 AS n, $2::jsonb -> 'k' AS k, $3::int[] AS a, $4::text[] AS t", [
        "1.5", {"k": [true]}, [4, 5], ["a \"q\"", null]
    ]]);
    assert_eq!(
        once(&db, args).await,
        Ok(json!([{"n": "2.5", "k": [true], "a": [4, 5], "t": ["a \"q\"", null]}]))
    );
}

#[tokio::test]
async fn a_private_memory_database_lives_with_its_node() {
    let fields = json!({"source": ":memory:"});
    let mut g = Graph::new();
    let db = load(&mut g, &fields);
    assert_eq!(once(&db, json!("CREATE TABLE kv (k TEXT)")).await, Ok(json!([])));
    assert_eq!(
        once(&db, json!(["INSERT INTO kv VALUES (?)", ["a"]])).await,
        Ok(json!([]))
    );
    assert_eq!(
        once(&db, json!("SELECT k FROM kv")).await,
        Ok(json!([{"k": "a"}]))
    );
    let mut g2 = Graph::new();
    let other = load(&mut g2, &fields);
    let err = once(&other, json!("SELECT k FROM kv")).await.unwrap_err();
    assert!(
        err.message().contains("no such table"),
        "another node has its own: {err}"
    );
}

#[tokio::test]
async fn the_stores_files_are_refused_outside_the_system_namespace() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = dir.path().join("weir.db");
    rusqlite::Connection::open(&store)
        .and_then(|c| c.execute_batch("CREATE TABLE specs (id TEXT); INSERT INTO specs VALUES ('secret')"))
        .expect("a store file");
    weir_codecs::guard::protect_path(&store);
    let path = store.to_string_lossy().into_owned();
    for source in [
        path.clone(),
        format!("sqlite://{path}"),
        format!("file:{path}?mode=ro"),
    ] {
        let issues = compile_in("default", &json!({"driver": "sqlite3", "source": source})).unwrap_err();
        assert_eq!(issues[0].field, "source", "{source}");
        assert!(
            issues[0].message.contains("one of the store's own files"),
            "{issues:?}"
        );
    }
    // Nor through ATTACH from a database of its own.
    let mut g = Graph::new();
    let own = dir.path().join("own.db").to_string_lossy().into_owned();
    let db = load(&mut g, &json!({"source": own}));
    let err = once(&db, json!(["ATTACH DATABASE ? AS store", [path]]))
        .await
        .unwrap_err();
    assert!(err.message().contains("too many attached databases"), "{err}");
    // The system namespace may.
    let mut g2 = Graph::new();
    let slot = g2.slot("sys");
    let node = compile_in("system", &json!({"source": path})).expect("compiles in system");
    slot.install(NodeRuntime::from_boxed("sys", node));
    assert_eq!(
        once(&slot, json!("SELECT id FROM specs")).await,
        Ok(json!([{"id": "secret"}]))
    );
}

#[test]
fn bad_fields_name_their_field() {
    let cases = [
        (
            json!({"driver": "oracle", "source": ":memory:"}),
            "driver",
            "unknown driver",
        ),
        (
            json!({"source": ":memory:", "isolation": 9}),
            "isolation",
            "no isolation level",
        ),
        (
            json!({"driver": "postgres", "source": "postgres://h/db", "isolation": "linearizable"}),
            "isolation",
            "no linearizable",
        ),
        (
            json!({"driver": "postgres", "source": "postgres://h:notaport/db"}),
            "source",
            "not a PostgreSQL connection string",
        ),
        (
            json!({"source": "/nonexistent-weir-dir/x.db"}),
            "source",
            "cannot open SQLite database",
        ),
        (
            json!({"source": ":memory:", "connections": 0}),
            "connections",
            "at least 1",
        ),
        (json!({"driver": "sqlite3"}), "", "source"),
    ];
    for (fields, field, msg) in cases {
        let issues = compile_in("default", &fields).unwrap_err();
        assert_eq!(issues[0].field, field, "{fields}: {issues:?}");
        assert!(issues[0].message.contains(msg), "{fields}: {issues:?}");
    }
    assert!(compile_in(
        "default",
        &json!({"source": ":memory:", "isolation": "serializable"})
    )
    .is_ok());
    assert!(compile_in(
        "default",
        &json!({"source": "postgres://u@127.0.0.1:1/db", "isolation": 6})
    )
    .is_ok());
}

#[test]
fn placeholders_are_found_outside_literals_and_comments() {
    let q = parse("SELECT ':x', \"?\", $$ $1 $$, $t$ :y $t$ -- ? :z\n FROM t /* $2 */ WHERE a::int = :a AND b ?? 'k' AND c = :a")
        .expect("parses");
    assert_eq!(q.style, Style::Named(vec!["a".into()]));
    assert_eq!(
        q.postgres,
        "SELECT ':x', \"?\", $$ $1 $$, $t$ :y $t$ -- ? :z\n FROM t /* $2 */ WHERE a::int = $1 AND b ? 'k' AND c = $1"
    );
    assert!(
        q.sqlite.ends_with("a::int = ?1 AND b ? 'k' AND c = ?1"),
        "{}",
        q.sqlite
    );
    let q = parse("SELECT ?, 'it''s ?', ?").expect("parses");
    assert_eq!(q.style, Style::Positional(2));
    assert_eq!(q.postgres, "SELECT $1, 'it''s ?', $2");
    let q = parse("SELECT $2, $1, $2").expect("parses");
    assert_eq!(q.style, Style::Numbered(2));
    assert_eq!(q.sqlite, "SELECT ?2, ?1, ?2");
    assert!(parse("SELECT $0").is_err());
    assert!(parse("SELECT ?, $1")
        .unwrap_err()
        .message()
        .contains("mixes parameter styles"));
}
