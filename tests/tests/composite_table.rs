//! `block` and `step` through the real symbol table: the table hands the scheme to the codec so the
//! inner specs compile, a bad inner spec makes the outer spec inactive with an error naming the
//! field, and a block relinked by the table (its target replaced) sends to the new target.

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use weir_codecs::resource::{parse_specs, Format, Spec};
use weir_engine::{Process, Value};
use weir_symbols::{Hook, HostEnv, Status, SymbolInfo, Table};

/// The names of the symbols loaded and unloaded, in order.
#[derive(Default)]
struct Events(Mutex<Vec<String>>);

impl Hook for Events {
    fn load(&self, s: &SymbolInfo) {
        self.0
            .lock()
            .unwrap()
            .push(format!("load {}", s.name.as_deref().unwrap_or("")));
    }
    fn unload(&self, s: &SymbolInfo) {
        self.0
            .lock()
            .unwrap()
            .push(format!("unload {}", s.name.as_deref().unwrap_or("")));
    }
}

fn specs(text: &str) -> Vec<Spec> {
    parse_specs(text, Format::Yaml).unwrap()
}

fn table() -> Table {
    Table::new("flow", Arc::new(weir_extensions::scheme()), HostEnv::new())
}

async fn call(table: &Table, name: &str, input: i64) -> weir_engine::Result<Vec<Value>> {
    let slot = table.slot(name).unwrap();
    let p = Process::new();
    let out = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        weir_engine::call(&slot, &p, 0, Value::from(input)),
    )
    .await
    .unwrap();
    p.exit(None);
    out
}

const BLOCK: &str = r#"
- kind: block
  namespace: flow
  name: b
  specs:
    - kind: snippet
      language: cel
      code: self + 1
    - kind: step
      specs:
        - kind: snippet
          language: cel
          code: self * 10
  ports:
    out:
      - name: answer
        port: in
"#;

const ANSWER: &str = r#"
- kind: snippet
  namespace: flow
  name: answer
  language: cel
  code: "'first ' + string(self)"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_compiles_inner_specs_and_follows_its_relinked_target() {
    let mut t = table();
    let events = Arc::new(Events::default());
    t.add_hook(events.clone());
    let mut first = specs(ANSWER);
    let old_id = first[0].ensure_id();
    let mut all = specs(BLOCK);
    all.append(&mut first);
    t.apply(all, &[], &[]);
    assert_eq!(t.status("b"), Some(Status::Active));
    assert_eq!(call(&t, "b", 1).await.unwrap(), vec![Value::from("first 20")]);

    // The target is replaced by a new spec of the same name: the table relinks the block without
    // reloading it, and the inner node that leads out follows.
    let mut second = specs(&ANSWER.replace("first", "second"));
    second[0].ensure_id();
    t.apply(second, &[old_id], &[]);
    assert_eq!(t.status("b"), Some(Status::Active));
    assert_eq!(call(&t, "b", 2).await.unwrap(), vec![Value::from("second 30")]);
    assert!(
        !events.0.lock().unwrap().contains(&"unload b".to_string()),
        "the block was relinked, not reloaded: {:?}",
        events.0.lock().unwrap()
    );
    t.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_inner_spec_makes_the_block_inactive_naming_the_field() {
    let mut t = table();
    t.apply(
        specs(
            r#"
- kind: step
  namespace: flow
  name: s
  specs:
    - kind: snippet
      language: cel
      code: self
    - kind: teleport
"#,
        ),
        &[],
        &[],
    );
    match t.status("s") {
        Some(Status::Inactive(why)) => {
            assert!(why.contains("namespace \"flow\""), "{why}");
            assert!(why.contains("spec \"s\""), "{why}");
            assert!(why.contains("field \"specs[1].kind\""), "{why}");
            assert!(why.contains("unknown kind \"teleport\""), "{why}");
        }
        other => panic!("expected inactive, got {other:?}"),
    }
    t.close();
}
