//! Charts in the symbol table: a spec of a chart's kind is a placeholder until the chart arrives, a
//! chart change recompiles exactly the specs of its kind, a chart never overrides a built-in kind.
//! The chart compiler here is the smallest there is (a chart's node is its one inner spec's node);
//! `weir-extensions` has the real one (a sub-graph).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value as Json};
use weir_codecs::chart::ChartCompiler;
use weir_codecs::codec::{CompileContext, Kind, Ports, Scheme};
use weir_codecs::resource::{Chart, FieldIssue, Spec, ValueResource};
use weir_engine::testing::map;
use weir_engine::{call, BoxedNode, Process, Value};
use weir_symbols::{Hook, HostEnv, Status, SymbolInfo, Table};

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
        let spec = chart
            .specs
            .first()
            .ok_or_else(|| FieldIssue::new("specs", "empty"))?;
        let scheme = cx.scheme.unwrap();
        let codec = scheme
            .get(&spec.kind)
            .ok_or_else(|| FieldIssue::new("specs[0].kind", format!("unknown kind \"{}\"", spec.kind)))?;
        let fields = Json::Object(spec.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
        codec.compile(&fields, cx).map_err(|mut e| e.remove(0))
    }
}

#[derive(Default)]
struct Loads(AtomicUsize, parking_lot::Mutex<Vec<String>>);

impl Hook for Loads {
    fn load(&self, s: &SymbolInfo) {
        self.0.fetch_add(1, Ordering::SeqCst);
        self.1.lock().push(s.name.clone().unwrap_or_default());
    }
}

impl Loads {
    fn take(&self) -> Vec<String> {
        self.0.store(0, Ordering::SeqCst);
        let mut v = std::mem::take(&mut *self.1.lock());
        v.sort();
        v
    }
}

fn table() -> (Table, Arc<Loads>) {
    let mut scheme = Scheme::new();
    scheme.register(Echo);
    scheme.set_chart_compiler(Arc::new(First));
    let mut t = Table::new("default", Arc::new(scheme), HostEnv::new());
    let loads = Arc::new(Loads::default());
    t.add_hook(loads.clone());
    (t, loads)
}

fn spec(v: Json) -> Spec {
    Spec::from_value(&v).unwrap()
}

fn chart(name: &str, reply: &str) -> Chart {
    Chart::from_value(&json!({
        "name": name,
        "specs": [{"kind": "echo", "reply": reply}],
        "env": {"WHO": [{"data": "{{ .who }}"}], "SECRET": [{"name": "secret", "data": "{{ .word }}"}]}
    }))
    .unwrap()
}

fn secret(word: &str) -> ValueResource {
    ValueResource::new("secret", json!({"word": word}))
}

async fn ask(t: &Table, name: &str) -> Vec<Value> {
    call(&t.slot(name).unwrap(), &Process::new(), 0, Value::Null)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_spec_of_a_chart_kind_waits_for_the_chart_then_follows_its_changes() {
    let (mut t, loads) = table();
    let values = [secret("s1")];
    let specs = vec![
        spec(json!({"kind": "greeter", "name": "hi", "who": "ada"})),
        spec(json!({"kind": "greeter", "name": "hey", "who": "bob"})),
        spec(json!({"kind": "echo", "name": "front", "reply": "front",
            "ports": {"out": [{"name": "hi", "port": "in"}]}})),
        spec(json!({"kind": "other", "name": "else", "who": "cy"})),
    ];
    t.apply(specs, &[], &values);
    match t.status("hi") {
        Some(Status::Inactive(why)) => assert!(why.contains("unknown kind \"greeter\""), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(t.status("front"), Some(Status::Inactive(_))));
    assert!(loads.take().is_empty());

    // The chart arrives: its specs and what waits on them activate.
    t.set_charts(vec![chart("greeter", "hello {{ .WHO }} {{ .SECRET }}")]);
    t.apply(vec![], &[], &values);
    assert_eq!(loads.take(), vec!["front", "hey", "hi"]);
    assert_eq!(ask(&t, "hi").await, vec![Value::from("hello ada s1")]);
    assert_eq!(ask(&t, "hey").await, vec![Value::from("hello bob s1")]);

    // A changed chart reloads exactly the specs of its kind; another chart changes nothing here.
    t.set_charts(vec![
        chart("greeter", "bonjour {{ .WHO }}"),
        chart("other", "other {{ .WHO }}"),
    ]);
    t.apply(vec![], &[], &values);
    assert_eq!(loads.take(), vec!["else", "hey", "hi"]);
    assert_eq!(ask(&t, "hi").await, vec![Value::from("bonjour ada")]);
    t.set_charts(vec![
        chart("greeter", "bonjour {{ .WHO }}"),
        chart("other", "autre {{ .WHO }}"),
    ]);
    t.apply(vec![], &[], &values);
    assert_eq!(loads.take(), vec!["else"]);

    // A Value the chart binds recompiles the specs of its kinds.
    t.set_charts(vec![
        chart("greeter", "{{ .SECRET }}"),
        chart("other", "autre {{ .WHO }}"),
    ]);
    t.apply(vec![], &[], &values);
    assert_eq!(loads.take(), vec!["hey", "hi"]);
    t.apply(vec![], &[], &[secret("s2")]);
    assert_eq!(loads.take(), vec!["else", "hey", "hi"]);
    assert_eq!(ask(&t, "hi").await, vec![Value::from("s2")]);

    // Deleted: its specs are placeholders again, and so is what links to them.
    t.set_charts(vec![chart("other", "autre {{ .WHO }}")]);
    t.apply(vec![], &[], &[secret("s2")]);
    assert!(matches!(t.status("hi"), Some(Status::Inactive(_))));
    assert!(matches!(t.status("front"), Some(Status::Inactive(_))));
    assert_eq!(t.status("else"), Some(Status::Active));
}

#[tokio::test]
async fn a_chart_never_overrides_a_built_in_kind() {
    let (mut t, _) = table();
    t.set_charts(vec![chart("echo", "from the chart")]);
    t.apply(
        vec![spec(json!({"kind": "echo", "name": "e", "reply": "built in"}))],
        &[],
        &[secret("s")],
    );
    assert_eq!(ask(&t, "e").await, vec![Value::from("built in")]);
    assert_eq!(
        t.chart_errors(),
        ["namespace \"default\": chart \"echo\": field \"name\": \"echo\" is a built-in kind; a chart never overrides one"]
    );
}

#[tokio::test]
async fn a_chart_of_another_namespace_is_not_a_kind_here() {
    let (mut t, _) = table();
    let mut c = chart("greeter", "hi");
    c.namespace = "elsewhere".into();
    t.set_charts(vec![c]);
    t.apply(
        vec![spec(json!({"kind": "greeter", "name": "g"}))],
        &[],
        &[secret("s")],
    );
    assert!(matches!(t.status("g"), Some(Status::Inactive(_))));
}
