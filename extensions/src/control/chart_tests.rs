//! Packet-level tests of charts' nodes: a chart's kind compiled through a namespace's scheme, its
//! env rendered from the spec, its inner specs wired by `inbounds` and `outbounds`.

use serde_json::{json, Value as Json};
use weir_codecs::chart::{BoundChart, ChartEnv};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::{Chart, FieldIssue};
use weir_engine::testing::{Collect, Graph};
use weir_engine::{BoxedNode, OutPort, Value};

use crate::control::testkit::{call, install, scheme, values};

fn with_charts(charts: &[Json]) -> Scheme {
    let (s, refused) = scheme().with_charts(charts.iter().map(|c| BoundChart {
        chart: Chart::from_value(c).unwrap(),
        env: Ok(ChartEnv::new()),
    }));
    assert!(refused.is_empty(), "{refused:?}");
    s
}

fn compile(scheme: &Scheme, kind: &str, fields: Json) -> Result<BoxedNode, Vec<FieldIssue>> {
    let cx = CompileContext::new("default", "use").with_scheme(scheme);
    scheme.get(kind).unwrap().compile(&fields, &cx)
}

fn adder() -> Json {
    json!({
        "name": "adder",
        "specs": [
            {"kind": "snippet", "name": "add", "language": "cel", "code": "self + {{ .N }}",
             "ports": {"out": [{"name": "label", "port": "in"}]}},
            {"kind": "snippet", "name": "label", "language": "text", "code": "{{ .LABEL }}"},
        ],
        "inbounds": {"in": [{"name": "add", "port": "in"}]},
        "outbounds": {"out": [{"name": "add", "port": "out"}]},
        "env": {"N": [{"data": "{{ .n }}"}], "LABEL": {"data": "added {{ .n }}"}}
    })
}

#[tokio::test]
async fn a_spec_of_a_chart_kind_runs_the_charts_specs_with_its_env() {
    let scheme = with_charts(&[adder()]);
    let mut g = Graph::new();
    let node = compile(&scheme, "adder", json!({"n": 5})).unwrap();
    let slot = install(&mut g, "use", node, &[]);
    // `add` is linked inside to `label`, whose answer is the reply.
    assert_eq!(call(&slot, json!(1)).await, values(&[json!("added 5")]));
}

#[tokio::test]
async fn outbounds_lead_to_what_the_spec_is_linked_to() {
    let scheme = with_charts(&[adder()]);
    let mut g = Graph::new();
    let sink = Collect::default();
    g.add("sink", sink.clone(), &[]);
    let node = compile(&scheme, "adder", json!({"n": 2})).unwrap();
    let slot = install(&mut g, "use", node, &[(OutPort::OUT, "sink", 0)]);
    call(&slot, json!(40)).await.unwrap();
    assert_eq!(sink.seen.lock().values, vec![Value::from(42)]);
}

#[tokio::test]
async fn a_chart_may_use_another_chart() {
    let outer = json!({
        "name": "twice",
        "specs": [{"kind": "adder", "name": "inner", "n": "{{ .TIMES }}"}],
        "inbounds": {"in": [{"name": "inner", "port": "in"}]},
        "env": {"TIMES": {"data": "{{ .times }}"}}
    });
    let scheme = with_charts(&[adder(), outer]);
    let mut g = Graph::new();
    let node = compile(&scheme, "twice", json!({"times": 3})).unwrap();
    let slot = install(&mut g, "use", node, &[]);
    assert_eq!(call(&slot, json!(0)).await, values(&[json!("added 3")]));
}

#[test]
fn a_wrong_reference_names_the_chart_and_its_field() {
    let mut bad = adder();
    bad["inbounds"] = json!({"in": [{"name": "nobody", "port": "in"}]});
    let scheme = with_charts(&[bad]);
    let issues = compile(&scheme, "adder", json!({"n": 1})).err().unwrap();
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].field, "kind");
    assert!(
        issues[0]
            .message
            .starts_with("chart \"adder\": field \"inbounds.in[0]\": no inner spec \"nobody\""),
        "{issues:?}"
    );
}
