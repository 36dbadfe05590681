//! The loader and charts: a spec whose kind is a chart waits as an inactive placeholder (recorded so
//! in the store) until the chart is stored; a stored, swapped or deleted chart reloads exactly the
//! specs of its kind; statuses follow.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use tokio::sync::Mutex;
use weir_codecs::chart::ChartCompiler;
use weir_codecs::codec::{CompileContext, Kind, Ports, Scheme};
use weir_codecs::resource::{Chart, FieldIssue, Spec};
use weir_engine::testing::map;
use weir_engine::{call, BoxedNode, Process, Value};
use weir_loader::{Loader, MemoryStore, Store};
use weir_symbols::{HostEnv, Status, Table};

#[derive(Deserialize, JsonSchema)]
struct EchoFields {
    /// What to answer.
    reply: String,
}

struct Echo;

impl Kind for Echo {
    const KIND: &'static str = "echo";
    type Fields = EchoFields;
    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }
    fn compile(&self, f: EchoFields, _: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let reply = Value::from(f.reply);
        Ok(BoxedNode::new(map(move |_| Ok(reply.clone()))))
    }
}

/// A chart's node is its first inner spec's node.
struct First;

impl ChartCompiler for First {
    fn compile(&self, chart: &Chart, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let spec = &chart.specs[0];
        let fields = Json::Object(spec.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        cx.scheme
            .unwrap()
            .get(&spec.kind)
            .unwrap()
            .compile(&fields, cx)
            .map_err(|mut e| e.remove(0))
    }
}

fn chart(reply: &str) -> Chart {
    Chart::from_value(&json!({
        "name": "greeter", "namespace": "app",
        "specs": [{"kind": "echo", "reply": reply}],
        "env": {"WHO": {"data": "{{ .who }}"}}
    }))
    .unwrap()
}

async fn status(table: &Mutex<Table>, name: &str) -> Option<Status> {
    table.lock().await.status(name)
}

/// Polls `f` for at most 10 s.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !f().await {
        assert!(Instant::now() < deadline, "not within 10 s: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn answer(table: &Mutex<Table>, name: &str) -> Option<Value> {
    let slot = table.lock().await.slot(name)?;
    call(&slot, &Process::new(), 0, Value::Null).await.ok()?.pop()
}

#[tokio::test]
async fn a_chart_stored_later_activates_its_specs_and_its_changes_reload_only_them() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let specs = [
        json!({"kind": "greeter", "namespace": "app", "name": "hi", "who": "ada"}),
        json!({"kind": "echo", "namespace": "app", "name": "plain", "reply": "plain"}),
    ];
    store
        .apply_specs(specs.iter().map(|v| Spec::from_value(v).unwrap()).collect())
        .unwrap();
    let mut scheme = Scheme::new();
    scheme.register(Echo);
    scheme.set_chart_compiler(Arc::new(First));
    let table = Arc::new(Mutex::new(Table::new("app", Arc::new(scheme), HostEnv::new())));
    let loader = Loader::new(store.clone(), table.clone()).with_host("test");
    loader.reload().await.unwrap();
    let running = tokio::spawn(loader.run());

    match status(&table, "hi").await {
        Some(Status::Inactive(why)) => assert!(why.contains("unknown kind \"greeter\""), "{why}"),
        other => panic!("{other:?}"),
    }
    let recorded = store.statuses(Some("app")).unwrap();
    assert_eq!(
        recorded.iter().filter(|s| s.is_active()).count(),
        1,
        "{recorded:?}"
    );

    store.apply_charts(vec![chart("hello {{ .WHO }}")]).unwrap();
    eventually("hi answers from the chart", || async {
        answer(&table, "hi").await == Some(Value::from("hello ada"))
    })
    .await;
    let plain = table.lock().await.slot("plain").unwrap().runtime().unwrap();

    store.apply_charts(vec![chart("bonjour {{ .WHO }}")]).unwrap();
    eventually("hi follows the changed chart", || async {
        answer(&table, "hi").await == Some(Value::from("bonjour ada"))
    })
    .await;
    let again = table.lock().await.slot("plain").unwrap().runtime().unwrap();
    assert!(
        Arc::ptr_eq(&plain, &again),
        "a spec of another kind is not touched"
    );
    eventually("both statuses are recorded active", || async {
        store
            .statuses(Some("app"))
            .unwrap()
            .iter()
            .filter(|s| s.is_active())
            .count()
            == 2
    })
    .await;

    let id = store.charts(Some("app")).unwrap()[0].id.unwrap();
    store.delete_charts(&[id]).unwrap();
    eventually("hi is a placeholder again", || async {
        matches!(status(&table, "hi").await, Some(Status::Inactive(_)))
    })
    .await;
    running.abort();
}
