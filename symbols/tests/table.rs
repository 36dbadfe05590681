//! The symbol table: late linking, activation order, hooks, hot swap, Values, placeholders.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use weir_codecs::codec::{CompileContext, Kind, Ports, Scheme};
use weir_codecs::resource::{FieldIssue, Spec, ValueResource};
use weir_engine::testing::map;
use weir_engine::{call, BoxedNode, Process, Value};
use weir_symbols::{Hook, HostEnv, Status, SymbolInfo, Table};

#[derive(Deserialize, JsonSchema)]
struct EchoFields {
    /// What to answer; the input when absent.
    #[serde(default)]
    reply: Option<String>,
    /// Only validated (an integer), to test coercion.
    #[serde(default)]
    #[allow(dead_code)]
    port: Option<u16>,
}

struct Echo;

impl Kind for Echo {
    const KIND: &'static str = "echo";
    type Fields = EchoFields;
    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }
    fn compile(&self, f: EchoFields, _: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        if f.reply.as_deref() == Some("bad") {
            return Err(FieldIssue::new("reply", "\"bad\" is not a reply"));
        }
        let reply = f.reply.map(Value::from);
        Ok(BoxedNode::new(map(move |v| Ok(reply.clone().unwrap_or(v)))))
    }
}

#[derive(Default)]
struct Count {
    loads: AtomicUsize,
    unloads: AtomicUsize,
}

impl Hook for Count {
    fn load(&self, _: &SymbolInfo) {
        self.loads.fetch_add(1, Ordering::SeqCst);
    }
    fn unload(&self, _: &SymbolInfo) {
        self.unloads.fetch_add(1, Ordering::SeqCst);
    }
}

impl Count {
    fn take(&self) -> (usize, usize) {
        (
            self.loads.swap(0, Ordering::SeqCst),
            self.unloads.swap(0, Ordering::SeqCst),
        )
    }
}

fn table(host: HostEnv) -> (Table, Arc<Count>) {
    let mut scheme = Scheme::new();
    scheme.register(Echo);
    let mut t = Table::new("default", Arc::new(scheme), host);
    let count = Arc::new(Count::default());
    t.add_hook(count.clone());
    (t, count)
}

fn spec(v: serde_json::Value) -> Spec {
    Spec::from_value(&v).unwrap()
}

fn echo(name: &str, to: Option<&str>) -> Spec {
    match to {
        Some(t) => spec(json!({"kind": "echo", "name": name, "ports": {"out": [{"name": t, "port": "in"}]}})),
        None => spec(json!({"kind": "echo", "name": name})),
    }
}

#[tokio::test]
async fn a_three_cycle_inserted_one_at_a_time_loads_zero_zero_then_three_and_freeing_one_unloads_three() {
    let (mut t, count) = table(HostEnv::new());
    t.apply(vec![echo("a", Some("b"))], &[], &[]);
    assert_eq!(count.take(), (0, 0));
    t.apply(vec![echo("b", Some("c"))], &[], &[]);
    assert_eq!(count.take(), (0, 0));
    let mut c = echo("c", Some("a"));
    let c_id = c.ensure_id();
    t.apply(vec![c], &[], &[]);
    assert_eq!(count.take(), (3, 0));
    assert!(t.statuses().iter().all(|(_, _, s)| *s == Status::Active));
    t.apply(vec![], &[c_id], &[]);
    assert_eq!(count.take(), (0, 3));
    match t.status("a") {
        Some(Status::Inactive(why)) => assert!(why.contains("downstream spec \"b\" is inactive"), "{why}"),
        other => panic!("{other:?}"),
    }
    match t.status("b") {
        Some(Status::Inactive(why)) => {
            assert!(
                why.contains("namespace \"default\": spec \"b\" (kind echo): field \"ports.out[0]\""),
                "{why}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_reference_to_a_spec_that_arrives_later_links_then() {
    let (mut t, count) = table(HostEnv::new());
    t.apply(vec![echo("front", Some("back"))], &[], &[]);
    assert!(matches!(t.status("front"), Some(Status::Inactive(_))));
    t.apply(
        vec![spec(
            json!({"kind": "echo", "name": "back", "reply": "from back"}),
        )],
        &[],
        &[],
    );
    assert_eq!(t.status("front"), Some(Status::Active));
    assert_eq!(count.take(), (2, 0));
    let got = call(&t.slot("front").unwrap(), &Process::new(), 0, Value::from("x"))
        .await
        .unwrap();
    assert_eq!(got, vec![Value::from("from back")]);
}

#[tokio::test]
async fn a_changed_spec_replaces_only_its_node_and_an_unchanged_reapply_restarts_nothing() {
    let (mut t, count) = table(HostEnv::new());
    let mut front = echo("front", Some("back"));
    front.ensure_id();
    let mut back = spec(json!({"kind": "echo", "name": "back", "reply": "one"}));
    back.ensure_id();
    t.apply(vec![front.clone(), back.clone()], &[], &[]);
    assert_eq!(count.take(), (2, 0));
    t.apply(vec![front.clone(), back.clone()], &[], &[]);
    assert_eq!(count.take(), (0, 0), "unchanged re-apply");
    back.fields.insert("reply".into(), json!("two"));
    t.apply(vec![back.clone()], &[], &[]);
    assert_eq!(count.take(), (1, 1), "only the changed node restarted");
    let got = call(&t.slot("front").unwrap(), &Process::new(), 0, Value::Null)
        .await
        .unwrap();
    assert_eq!(got, vec![Value::from("two")]);
}

#[tokio::test]
async fn a_value_change_restarts_exactly_the_nodes_bound_to_it() {
    let (mut t, count) = table(HostEnv::new());
    let bound = spec(
        json!({"kind": "echo", "name": "bound", "reply": "{{ .GREETING }}",
        "env": {"GREETING": [{"name": "greeting", "data": "{{ .text }}"}]}}),
    );
    let free = spec(json!({"kind": "echo", "name": "free", "reply": "fixed"}));
    let mut value = ValueResource {
        id: None,
        namespace: "default".into(),
        name: Some("greeting".into()),
        annotations: Default::default(),
        data: json!({"text": "hello"}),
    };
    t.apply(vec![bound, free], &[], std::slice::from_ref(&value));
    assert_eq!(count.take(), (2, 0));
    let ask = |t: &Table| {
        let slot = t.slot("bound").unwrap();
        async move { call(&slot, &Process::new(), 0, Value::Null).await.unwrap() }
    };
    assert_eq!(ask(&t).await, vec![Value::from("hello")]);
    value.data = json!({"text": "bonjour"});
    t.apply(vec![], &[], std::slice::from_ref(&value));
    assert_eq!(count.take(), (1, 1), "only the bound spec restarted");
    assert_eq!(ask(&t).await, vec![Value::from("bonjour")]);
    t.apply(vec![], &[], &[]);
    match t.status("bound") {
        Some(Status::Inactive(why)) => assert!(
            why.contains("field \"env.GREETING\": value \"greeting\" not found"),
            "{why}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn host_env_fills_keys_and_coercion_applies_to_rendered_fields() {
    let host = HostEnv::from([("PORT".to_string(), "8000".to_string())]);
    let (mut t, _) = table(host);
    t.apply(
        vec![spec(
            json!({"kind": "echo", "name": "l", "port": "{{ .PORT }}", "reply": "on {{ .PORT }}"}),
        )],
        &[],
        &[],
    );
    assert_eq!(t.status("l"), Some(Status::Active));
    let got = call(&t.slot("l").unwrap(), &Process::new(), 0, Value::Null)
        .await
        .unwrap();
    assert_eq!(got, vec![Value::from("on 8000")]);
}

#[tokio::test]
async fn what_cannot_compile_is_an_inactive_placeholder_with_its_error() {
    let (mut t, count) = table(HostEnv::new());
    t.apply(
        vec![
            spec(json!({"kind": "echo", "name": "bad", "reply": "bad"})),
            spec(json!({"kind": "teleport", "name": "ghost"})),
            spec(json!({"kind": "echo", "name": "typo", "port": "eighty"})),
        ],
        &[],
        &[],
    );
    assert_eq!(count.take(), (0, 0));
    let why = |n: &str| match t.status(n) {
        Some(Status::Inactive(w)) => w,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        why("bad"),
        "namespace \"default\": spec \"bad\" (kind echo): field \"reply\": \"bad\" is not a reply"
    );
    assert_eq!(
        why("ghost"),
        "namespace \"default\": spec \"ghost\" (kind teleport): field \"kind\": unknown kind \"teleport\""
    );
    assert!(
        why("typo").starts_with("namespace \"default\": spec \"typo\" (kind echo): field \"port\""),
        "{}",
        why("typo")
    );
}

#[derive(Deserialize, JsonSchema)]
struct NoFields {}

/// Records what reaches it.
struct Sink(Arc<parking_lot::Mutex<Vec<Value>>>);

impl Kind for Sink {
    const KIND: &'static str = "sink";
    type Fields = NoFields;
    fn ports(&self) -> Ports {
        Ports::new(&["in"], &[])
    }
    fn compile(&self, _: NoFields, _: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let seen = self.0.clone();
        Ok(BoxedNode::new(map(move |v| {
            seen.lock().push(v.clone());
            Ok(v)
        })))
    }
}

#[tokio::test]
async fn init_runs_when_a_node_starts_and_term_when_the_host_shuts_down() {
    let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let mut scheme = Scheme::new();
    scheme.register(Echo);
    scheme.register(Sink(seen.clone()));
    let mut t = Table::new("default", Arc::new(scheme), HostEnv::new());
    t.apply(
        vec![
            spec(json!({"kind": "sink", "name": "sink"})),
            spec(json!({"kind": "echo", "name": "src",
                "ports": {"init": [{"name": "sink", "port": "in"}], "term": [{"name": "sink", "port": "in"}]}})),
        ],
        &[],
        &[],
    );
    assert!(
        weir_engine::testing::eventually(std::time::Duration::from_secs(5), || seen.lock().len() == 1).await
    );
    assert_eq!(seen.lock()[0].get("name"), Some(&Value::from("src")));
    assert_eq!(seen.lock()[0].get("kind"), Some(&Value::from("echo")));
    t.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(seen.lock().len(), 2, "term ran before everything stopped");
    assert!(t.statuses().is_empty());
}

#[tokio::test]
async fn renaming_a_spec_relinks_what_referred_to_either_name() {
    let (mut t, count) = table(HostEnv::new());
    let mut back = spec(json!({"kind": "echo", "name": "back", "reply": "one"}));
    back.ensure_id();
    t.apply(
        vec![
            echo("front", Some("back")),
            echo("other", Some("later")),
            back.clone(),
        ],
        &[],
        &[],
    );
    assert_eq!(count.take(), (2, 0));
    assert!(matches!(t.status("other"), Some(Status::Inactive(_))));

    // `back` becomes `later`: `front` loses its target, `other` finds its.
    back.name = Some("later".into());
    t.apply(vec![back.clone()], &[], &[]);
    match t.status("front") {
        Some(Status::Inactive(why)) => assert!(why.contains("spec \"back\" not found"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.status("other"), Some(Status::Active));
    let got = call(&t.slot("other").unwrap(), &Process::new(), 0, Value::Null)
        .await
        .unwrap();
    assert_eq!(got, vec![Value::from("one")]);

    // A new `back` arrives: `front` links to it.
    t.apply(
        vec![spec(json!({"kind": "echo", "name": "back", "reply": "two"}))],
        &[],
        &[],
    );
    assert_eq!(t.status("front"), Some(Status::Active));
    let got = call(&t.slot("front").unwrap(), &Process::new(), 0, Value::Null)
        .await
        .unwrap();
    assert_eq!(got, vec![Value::from("two")]);
}

#[tokio::test]
async fn freeing_the_tail_of_a_chain_stops_everything_upstream_and_its_return_restarts_it() {
    let (mut t, count) = table(HostEnv::new());
    let mut tail = spec(json!({"kind": "echo", "name": "n4", "reply": "end"}));
    let tail_id = tail.ensure_id();
    let mut specs: Vec<Spec> = (1..4)
        .map(|i| echo(&format!("n{i}"), Some(&format!("n{}", i + 1))))
        .collect();
    // An unrelated spec and one linked by id.
    let side = spec(
        json!({"kind": "echo", "name": "side", "ports": {"out": [{"id": tail_id.to_string(), "port": "in"}]}}),
    );
    specs.extend([tail.clone(), side, echo("alone", None)]);
    t.apply(specs, &[], &[]);
    assert_eq!(count.take(), (6, 0));

    t.apply(vec![], &[tail_id], &[]);
    assert_eq!(count.take(), (0, 5), "the tail and the four upstream of it");
    assert_eq!(t.status("alone"), Some(Status::Active));
    for n in ["n1", "n2", "n3", "side"] {
        assert!(matches!(t.status(n), Some(Status::Inactive(_))), "{n}");
    }

    t.apply(vec![tail], &[], &[]);
    assert_eq!(count.take(), (5, 0));
    let got = call(&t.slot("side").unwrap(), &Process::new(), 0, Value::Null)
        .await
        .unwrap();
    assert_eq!(got, vec![Value::from("end")]);
    assert!(t.statuses().iter().all(|(_, _, s)| *s == Status::Active));
}

/// A node whose load hook fails while `busy` holds its resource, as a listener's does on a busy port.
struct Claim {
    busy: Arc<AtomicBool>,
}

impl weir_engine::Node for Claim {
    type State = ();
    async fn on_packet(
        &self,
        _: &mut (),
        cx: &mut weir_engine::Cx,
        input: weir_engine::Input,
    ) -> weir_engine::Result<()> {
        cx.emit(weir_engine::OutPort::OUT, input.packet.value).await
    }
    fn on_load(&self, _: &Arc<weir_engine::NodeSlot>) -> weir_engine::Result<()> {
        if self.busy.load(Ordering::SeqCst) {
            return Err(weir_engine::Error::new(
                weir_engine::ErrorKind::Unavailable,
                "address 127.0.0.1:1 is in use",
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize, JsonSchema)]
struct ClaimFields {
    #[serde(default)]
    #[allow(dead_code)]
    tag: Option<String>,
}

struct ClaimKind(Arc<AtomicBool>);

impl Kind for ClaimKind {
    const KIND: &'static str = "claim";
    type Fields = ClaimFields;
    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }
    fn compile(&self, _: ClaimFields, _: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Claim { busy: self.0.clone() }))
    }
}

#[tokio::test]
async fn a_node_whose_load_fails_is_reported_inactive_with_the_error_until_a_reload_succeeds() {
    let busy = Arc::new(AtomicBool::new(true));
    let mut scheme = Scheme::new();
    scheme.register(ClaimKind(busy.clone()));
    let mut t = Table::new("default", Arc::new(scheme), HostEnv::new());
    let mut door = spec(json!({"kind": "claim", "name": "door"}));
    let id = door.ensure_id();
    t.apply(vec![door], &[], &[]);
    match t.status("door") {
        Some(Status::Inactive(why)) => assert!(
            why.contains("namespace \"default\": spec \"door\" (kind claim): load failed")
                && why.contains("address 127.0.0.1:1 is in use"),
            "{why}"
        ),
        other => panic!("a failed load is not active: {other:?}"),
    }
    assert!(
        t.take_status_changes()
            .iter()
            .any(|(_, s)| matches!(s, Some(Status::Inactive(_)))),
        "the failure is a status change the loader records"
    );
    // The resource is free again and the spec changes: its reload succeeds and it is active.
    busy.store(false, Ordering::SeqCst);
    let changed = spec(json!({"id": id.to_string(), "kind": "claim", "name": "door", "tag": "again"}));
    t.apply(vec![changed], &[], &[]);
    assert_eq!(t.statuses().len(), 1, "the same spec, changed");
    assert_eq!(t.status("door"), Some(Status::Active));
}
