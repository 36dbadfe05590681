#![allow(clippy::unwrap_used)]

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::sync::Mutex;
use weir_engine::testing::map;

use super::*;
use crate::codec::{Kind, Scheme};
use crate::resource::ValueResource;

#[derive(Deserialize, JsonSchema)]
#[allow(dead_code)]
struct TextFields {
    /// Any text.
    text: String,
}

struct Text;

impl Kind for Text {
    const KIND: &'static str = "text";
    type Fields = TextFields;
    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }
    fn compile(&self, _: TextFields, _: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(map(Ok)))
    }
}

/// Keeps the rendered charts it was given and compiles each inner spec with the scheme in `cx`.
#[derive(Default)]
struct Recorder(Mutex<Vec<Chart>>);

impl ChartCompiler for Recorder {
    fn compile(&self, chart: &Chart, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        self.0.lock().unwrap().push(chart.clone());
        let scheme = cx.scheme.unwrap();
        for (i, spec) in chart.specs.iter().enumerate() {
            let fields = Json::Object(spec.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
            let codec = scheme
                .get(&spec.kind)
                .ok_or_else(|| FieldIssue::new(format!("specs[{i}].kind"), "unknown"))?;
            codec.compile(&fields, cx).map_err(|mut e| {
                let e = e.remove(0);
                FieldIssue::new(format!("specs[{i}].{}", e.field), e.message)
            })?;
        }
        Ok(BoxedNode::new(map(Ok)))
    }
}

fn chart(v: Json) -> Chart {
    Chart::from_value(&v).unwrap()
}

fn greeter() -> Chart {
    chart(json!({
        "name": "greeter",
        "specs": [{"kind": "text", "name": "t", "text": "hello {{ .WHO }} ({{ .KEY }})"}],
        "inbounds": {"in": [{"name": "t", "port": "in"}]},
        "outbounds": {"out": [{"name": "t", "port": "out"}]},
        "env": {"WHO": [{"data": "{{ .who }}"}], "KEY": [{"name": "secret", "data": "{{ .key }}"}]}
    }))
}

fn base(recorder: &Arc<Recorder>) -> Scheme {
    let mut s = Scheme::new();
    s.register(Text);
    s.set_chart_compiler(recorder.clone());
    s
}

fn secret() -> ValueResource {
    ValueResource::new("secret", json!({"key": "k-1"}))
}

#[test]
fn a_chart_is_a_kind_whose_inner_specs_render_against_the_spec_and_values() {
    let recorder = Arc::new(Recorder::default());
    let c = greeter();
    let env = bind_chart_env(&c, &[secret()]);
    let (scheme, refused) = base(&recorder).with_charts([BoundChart { chart: c, env }]);
    assert!(refused.is_empty());
    assert_eq!(scheme.charts().collect::<Vec<_>>(), vec!["greeter"]);
    assert!(!scheme.is_built_in("greeter"));
    let codec = scheme.get("greeter").unwrap();
    assert_eq!(codec.ports(), Ports::new(&["in"], &["out"]));
    let cx = CompileContext::new("default", "g").with_scheme(&scheme);
    codec.compile(&json!({"who": "ada"}), &cx).unwrap();
    let rendered = recorder.0.lock().unwrap().pop().unwrap();
    assert_eq!(rendered.specs[0].fields["text"], json!("hello ada (k-1)"));
}

#[test]
fn a_missing_value_and_a_bad_inner_spec_are_errors_naming_the_chart_and_field() {
    let c = greeter();
    let err = bind_chart_env(&c, &[]).unwrap_err();
    assert_eq!(
        err,
        "namespace \"default\": chart \"greeter\": field \"env.KEY\": value \"secret\" not found"
    );
    let recorder = Arc::new(Recorder::default());
    let (scheme, _) = base(&recorder).with_charts([BoundChart {
        chart: c.clone(),
        env: Err(err.clone()),
    }]);
    let cx = CompileContext::new("default", "g").with_scheme(&scheme);
    let issues = scheme
        .get("greeter")
        .unwrap()
        .compile(&json!({}), &cx)
        .err()
        .unwrap();
    assert_eq!(issues, vec![FieldIssue::new("kind", err)]);

    let mut bad = c;
    bad.env.shift_remove("KEY");
    bad.specs[0].fields.shift_remove("text");
    let (scheme, _) = base(&recorder).with_charts([BoundChart {
        chart: bad,
        env: Ok(ChartEnv::new()),
    }]);
    let cx = CompileContext::new("default", "g").with_scheme(&scheme);
    let issues = scheme
        .get("greeter")
        .unwrap()
        .compile(&json!({}), &cx)
        .err()
        .unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].field, "kind");
    assert!(
        issues[0]
            .message
            .starts_with("chart \"greeter\": field \"specs[0]"),
        "{issues:?}"
    );
}

#[test]
fn a_chart_never_overrides_a_built_in_kind() {
    let recorder = Arc::new(Recorder::default());
    let mut c = greeter();
    c.name = "text".into();
    let (scheme, refused) = base(&recorder).with_charts([BoundChart {
        chart: c,
        env: Ok(ChartEnv::new()),
    }]);
    assert_eq!(scheme.charts().count(), 0);
    assert_eq!(
        refused[0].to_string(),
        "namespace \"default\": chart \"text\": field \"name\": \"text\" is a built-in kind; a chart never overrides one"
    );
    assert!(scheme.get("text").unwrap().schema()["properties"]["text"].is_object());
}

#[test]
fn a_chart_inside_itself_is_an_error_not_a_stack_overflow() {
    let recorder = Arc::new(Recorder::default());
    let a = chart(json!({"name": "a", "specs": [{"kind": "b", "name": "x"}]}));
    let b = chart(json!({"name": "b", "specs": [{"kind": "a", "name": "y"}]}));
    let (scheme, _) = base(&recorder).with_charts([a, b].map(|chart| BoundChart {
        chart,
        env: Ok(ChartEnv::new()),
    }));
    let cx = CompileContext::new("default", "s").with_scheme(&scheme);
    let issues = scheme.get("a").unwrap().compile(&json!({}), &cx).err().unwrap();
    assert!(
        issues[0]
            .message
            .contains("chart \"a\" contains itself (a → b → a)"),
        "{issues:?}"
    );
}

#[test]
fn without_a_compiler_a_chart_does_not_compile() {
    let (scheme, _) = Scheme::new().with_charts([BoundChart {
        chart: greeter(),
        env: Ok(ChartEnv::new()),
    }]);
    let cx = CompileContext::new("default", "g").with_scheme(&scheme);
    let issues = scheme
        .get("greeter")
        .unwrap()
        .compile(&json!({}), &cx)
        .err()
        .unwrap();
    assert!(issues[0].message.contains("no chart compiler"), "{issues:?}");
}
