//! Golden tests: uniflow's own example files (in `fixtures/uniflow/`) parse unchanged, every spec
//! keeps its kind, name and ports as written, and YAML scalars read as Go's yaml.v3 reads them.

use serde_json::{json, Value};
use weir_codecs::resource::{parse_specs, parse_values, Format, PortName, Spec};
use weir_codecs::template::{render_value, GoTemplate};

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/uniflow/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn specs(name: &str) -> Vec<Spec> {
    parse_specs(&fixture(name), Format::Yaml).unwrap_or_else(|e| panic!("{name}:\n{e}"))
}

/// `(out-port, [(target name, target port)])` for each linked port, in file order.
fn links(spec: &Spec) -> Vec<(String, Vec<(String, String)>)> {
    spec.ports
        .iter()
        .map(|(p, refs)| {
            (
                p.clone(),
                refs.iter()
                    .map(|r| (r.name.clone().unwrap_or_default(), r.port.clone()))
                    .collect(),
            )
        })
        .collect()
}

fn link(port: &str, targets: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    (
        port.to_string(),
        targets
            .iter()
            .map(|(n, p)| (n.to_string(), p.to_string()))
            .collect(),
    )
}

#[test]
fn ping_parses_as_written() {
    let specs = specs("ping.yaml");
    let summary: Vec<(&str, Option<&str>)> = specs
        .iter()
        .map(|s| (s.kind.as_str(), s.name.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("listener", Some("listener")),
            ("router", Some("router")),
            ("snippet", Some("pong"))
        ]
    );
    assert_eq!(links(&specs[0]), [link("out", &[("router", "in")])]);
    assert_eq!(links(&specs[1]), [link("out[0]", &[("pong", "in")])]);
    assert!(links(&specs[2]).is_empty());
    for s in &specs {
        assert_eq!(s.namespace, "default");
        assert_eq!(s.id, None);
    }

    let listener = &specs[0];
    // Templated strings are kept verbatim, quoted numbers stay strings.
    assert_eq!(listener.field("port"), Some(&json!("{{ .PORT }}")));
    assert_eq!(listener.field("protocol"), Some(&json!("http")));
    // `env: {PORT: {data: …}}`: a single object is a list of one, bound to nothing by name or id.
    let port_env = &listener.env["PORT"];
    assert_eq!(port_env.len(), 1);
    assert!(!port_env[0].is_identified());
    assert_eq!(port_env[0].data, Some(json!("{{ .PORT }}")));

    let router = &specs[1];
    assert_eq!(
        router.field("routes"),
        Some(&json!([{"method": "GET", "path": "/ping", "port": "out[0]"}]))
    );
    assert_eq!(specs[2].field("code"), Some(&json!("pong")));
}

#[test]
fn ping_renders_its_port_from_the_env() {
    let specs = specs("ping.yaml");
    let fields = serde_json::to_value(&specs[0].fields).unwrap();
    let rendered = render_value(&GoTemplate, &fields, &json!({"PORT": 8000})).unwrap();
    assert_eq!(rendered["port"], json!("8000"));
    let rendered = render_value(&GoTemplate, &fields, &json!({})).unwrap();
    assert_eq!(rendered["port"], json!("<no value>"));
}

#[test]
fn loopback_parses_as_written() {
    let specs = specs("loopback.yaml");
    let summary: Vec<(&str, Option<&str>)> = specs
        .iter()
        .map(|s| (s.kind.as_str(), s.name.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [("listener", Some("listener")), ("snippet", Some("loopback"))]
    );
    assert_eq!(links(&specs[0]), [link("out", &[("loopback", "in")])]);
    assert_eq!(specs[1].field("language"), Some(&json!("cel")));
}

#[test]
fn system_parses_as_written() {
    let specs = specs("system.yaml");
    assert_eq!(specs.len(), 32);
    let mut expected: Vec<(String, String)> = vec![
        ("listener".into(), "listener".into()),
        ("router".into(), "router".into()),
    ];
    for r in ["specs", "values", "charts"] {
        expected.push(("if".into(), format!("{r}_read_or_watch")));
        for step in [
            "create",
            "read_with_query",
            "update",
            "delete_with_query",
            "read_with_params",
            "update_with_params",
            "delete_with_params",
        ] {
            expected.push(("step".into(), format!("{r}_{step}")));
        }
        expected.push(("block".into(), format!("{r}_watch")));
    }
    expected.push(("switch".into(), "catch".into()));
    expected.push(("snippet".into(), "status_400".into()));
    expected.push(("snippet".into(), "status_500".into()));
    let actual: Vec<(String, String)> = specs
        .iter()
        .map(|s| (s.kind.clone(), s.name.clone().unwrap_or_default()))
        .collect();
    assert_eq!(actual, expected);

    assert_eq!(
        links(&specs[0]),
        [
            link("out", &[("router", "in")]),
            link("error", &[("catch", "in")])
        ]
    );

    // The router: 21 routes to out[0]..out[20], each port linked to the node its route serves.
    let router = &specs[1];
    let routes = router.field("routes").and_then(Value::as_array).unwrap();
    assert_eq!(routes.len(), 21);
    assert_eq!(
        routes[4],
        json!({"method": "GET", "path": "/v1/specs/:id", "port": "out[4]"})
    );
    let ports: Vec<PortName> = router.port_names().map(|(p, _)| p).collect();
    assert_eq!(
        ports,
        (0..21)
            .map(|i| PortName::parse(&format!("out[{i}]")).unwrap())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        links(router)[20],
        link("out[20]", &[("charts_delete_with_params", "in")])
    );
    for (i, route) in routes.iter().enumerate() {
        assert_eq!(route["port"], json!(format!("out[{i}]")));
    }

    let if_node = &specs[2];
    assert_eq!(
        links(if_node),
        [
            link("out[0]", &[("specs_read_with_query", "in")]),
            link("out[1]", &[("specs_watch", "io")])
        ]
    );
    assert!(if_node
        .field("when")
        .and_then(Value::as_str)
        .unwrap()
        .starts_with("!has(self.query.watch)"));

    // Composite kinds keep their inner specs and inbounds as their own fields.
    let step = &specs[3];
    let inner = step.field("specs").and_then(Value::as_array).unwrap();
    assert_eq!(inner.len(), 3);
    assert_eq!(inner[1], json!({"kind": "syscall", "opcode": "specs.create"}));
    assert_eq!(inner[0]["code"], json!("has(self.body) ? self.body : null"));
    let watch = &specs[10];
    assert_eq!(watch.name.as_deref(), Some("specs_watch"));
    assert_eq!(
        watch.field("inbounds"),
        Some(&json!({"io": [{"name": "websocket", "port": "io"}, {"name": "session", "port": "io"}]}))
    );
    // The inner specs are themselves specs.
    for v in watch.field("specs").and_then(Value::as_array).unwrap() {
        Spec::from_value(v).unwrap();
    }

    let catch = &specs[29];
    assert_eq!(
        links(catch),
        [
            link("out[0]", &[("status_400", "in")]),
            link("out[1]", &[("status_500", "in")])
        ]
    );
    assert_eq!(catch.field("matches").unwrap()[1]["when"], json!("true"));
    assert!(specs[31]
        .field("code")
        .and_then(Value::as_str)
        .unwrap()
        .ends_with("\"status\": 500\n}"));

    for s in &specs {
        assert!(s.validate().is_empty(), "{:?}", s.validate());
        assert!(s.env.is_empty());
    }
}

#[test]
fn fixtures_round_trip_through_json_and_yaml() {
    for name in ["ping.yaml", "loopback.yaml", "system.yaml"] {
        let specs = specs(name);
        let json = serde_json::to_string(&specs).unwrap();
        assert_eq!(
            parse_specs(&json, Format::Json).unwrap(),
            specs,
            "{name} via JSON"
        );
        let yaml = serde_yaml_ng::to_string(&specs).unwrap();
        assert_eq!(
            parse_specs(&yaml, Format::Yaml).unwrap(),
            specs,
            "{name} via YAML"
        );
    }
}

/// Go's yaml.v3 (YAML 1.2 core schema) reads `on`, `yes`, `no`, `off`, `y` as strings; only
/// `true`/`false` (any case form) are booleans; quoted numbers stay strings; dates stay strings.
#[test]
fn yaml_scalars_read_as_in_go_yaml_v3() {
    let text = "\
kind: probe
port: '8000'
number: 8000
float: 1.5
on: on
yes: yes
no: no
off: off
y: y
t: true
T: True
quoted: 'true'
nothing: ~
date: 2001-12-14
hex: 0x1F
template: '{{ .PORT }}'
";
    let spec = &parse_specs(text, Format::Yaml).unwrap()[0];
    let f = |k: &str| spec.field(k).cloned().unwrap_or_else(|| panic!("no field {k}"));
    assert_eq!(f("port"), json!("8000"));
    assert_eq!(f("number"), json!(8000));
    assert_eq!(f("float"), json!(1.5));
    for k in ["on", "yes", "no", "off", "y"] {
        assert_eq!(f(k), json!(k), "{k}");
    }
    assert_eq!(f("t"), json!(true));
    assert_eq!(f("T"), json!(true));
    assert_eq!(f("quoted"), json!("true"));
    assert_eq!(f("nothing"), Value::Null);
    assert_eq!(f("date"), json!("2001-12-14"));
    assert_eq!(f("hex"), json!(31));
    assert_eq!(f("template"), json!("{{ .PORT }}"));
}

/// Where serde_yaml_ng and yaml.v3 differ (YAML 1.1 leftovers that yaml.v3 still honours), weir
/// keeps serde_yaml_ng's reading; this pins it so a change is noticed.
#[test]
fn yaml_1_1_integer_forms_stay_strings() {
    let spec = &parse_specs("kind: probe\noctal: 010\nunderscored: 1_000\n", Format::Yaml).unwrap()[0];
    assert_eq!(spec.field("octal"), Some(&json!("010")));
    assert_eq!(spec.field("underscored"), Some(&json!("1_000")));
}

#[test]
fn uniflow_values_parse() {
    let text = "\
- id: 01908c74-8b22-7cbf-a475-6b6bc871b01b
  namespace: default
  name: database
  annotations:
    description: \"Database information\"
  data:
    password: \"super-secret-password\"
";
    let values = parse_values(text, Format::Yaml).unwrap();
    assert_eq!(values[0].name.as_deref(), Some("database"));
    assert_eq!(values[0].data, json!({"password": "super-secret-password"}));
}
