//! Kind codecs. Each node kind has a typed codec ([`Kind`]): a fields struct whose JSON Schema is
//! derived from it (so schema and struct cannot drift), its ports, and `compile`, which turns decoded
//! fields into a running node. The [`Scheme`] stores the erased form ([`Codec`]) by kind name.
//!
//! Decoding a spec's own fields goes: lenient coercion guided by the schema (`'8000'` into an integer
//! field, a scalar into a list), validation against the schema reporting every violation at once,
//! then deserialisation into the typed struct and compilation.

use std::sync::Arc;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value as Json;
use weir_engine::BoxedNode;

use crate::chart::{BoundChart, ChartCodec, ChartCompiler};
use crate::resource::{FieldError, FieldIssue};

/// The ports a kind declares, by name: `in`, `out`, `error`; an indexed family is written `out[*]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Ports {
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

impl Ports {
    pub fn new(inputs: &[&str], outputs: &[&str]) -> Self {
        Ports {
            inputs: inputs.iter().map(|s| s.to_string()).collect(),
            outputs: outputs.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// `in` → `out`, `error`: the one-to-one shape.
    pub fn one_to_one() -> Self {
        Self::new(&["in"], &["out", "error"])
    }
}

/// What a codec knows about the spec it compiles, besides its fields.
#[derive(Clone, Debug)]
pub struct CompileContext<'a> {
    pub namespace: &'a str,
    /// The spec's name, or its id when it has none.
    pub name: &'a str,
    /// The scheme the spec is compiled with, so that a composite kind (`block`, `step`, a chart) can
    /// compile the specs inside it. `None` where a kind is compiled on its own.
    pub scheme: Option<&'a Scheme>,
}

impl<'a> CompileContext<'a> {
    /// A context without a scheme (composite kinds then refuse to compile).
    pub const fn new(namespace: &'a str, name: &'a str) -> Self {
        CompileContext {
            namespace,
            name,
            scheme: None,
        }
    }

    /// The same context with `scheme` for inner specs.
    pub const fn with_scheme(mut self, scheme: &'a Scheme) -> Self {
        self.scheme = Some(scheme);
        self
    }
}

/// A typed node kind.
pub trait Kind: Send + Sync + 'static {
    /// The kind's name in specs (`kind: router`).
    const KIND: &'static str;
    /// The kind's own fields.
    type Fields: DeserializeOwned + JsonSchema;

    fn ports(&self) -> Ports;

    /// A line or two for `/v1/kinds` and the docs.
    fn doc(&self) -> &'static str {
        ""
    }

    /// Builds the node. Errors name the field; they make the spec an inactive placeholder.
    fn compile(&self, fields: Self::Fields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue>;
}

/// The erased form of [`Kind`], stored in the [`Scheme`].
pub trait Codec: Send + Sync {
    fn kind(&self) -> &str;
    fn schema(&self) -> &Json;
    fn ports(&self) -> Ports;
    fn doc(&self) -> &str;
    /// Coerces and validates the fields; every problem at once.
    fn decode(&self, fields: &Json) -> Result<Json, Vec<FieldIssue>>;
    /// Decodes and builds the node.
    fn compile(&self, fields: &Json, cx: &CompileContext<'_>) -> Result<BoxedNode, Vec<FieldIssue>>;
}

/// The typed codec behind the erased one.
struct KindCodec<K: Kind> {
    kind: K,
    schema: Json,
    validator: jsonschema::Validator,
}

impl<K: Kind> Codec for KindCodec<K> {
    fn kind(&self) -> &str {
        K::KIND
    }

    fn schema(&self) -> &Json {
        &self.schema
    }

    fn ports(&self) -> Ports {
        self.kind.ports()
    }

    fn doc(&self) -> &str {
        self.kind.doc()
    }

    fn decode(&self, fields: &Json) -> Result<Json, Vec<FieldIssue>> {
        let mut fields = fields.clone();
        coerce_by_schema(&mut fields, &self.schema, &self.schema);
        let mut issues: Vec<FieldIssue> = self
            .validator
            .iter_errors(&fields)
            .map(|e| {
                let path = e.instance_path().to_string();
                let field = path.trim_start_matches('/').replace('/', ".");
                FieldIssue::new(field, e.to_string())
            })
            .collect();
        if issues.is_empty() {
            Ok(fields)
        } else {
            issues.sort_by(|a, b| a.field.cmp(&b.field).then(a.message.cmp(&b.message)));
            issues.dedup();
            Err(issues)
        }
    }

    fn compile(&self, fields: &Json, cx: &CompileContext<'_>) -> Result<BoxedNode, Vec<FieldIssue>> {
        let fields = self.decode(fields)?;
        let typed: K::Fields =
            serde_json::from_value(fields).map_err(|e| vec![FieldIssue::new("", e.to_string())])?;
        self.kind.compile(typed, cx).map_err(|e| vec![e])
    }
}

/// Kind name → codec: the built-in kinds, and in a namespace's scheme ([`Scheme::with_charts`]) the
/// namespace's charts, which never override a built-in kind.
#[derive(Default, Clone)]
pub struct Scheme {
    codecs: IndexMap<String, Arc<dyn Codec>>,
    charts: IndexMap<String, Arc<dyn Codec>>,
    chart_compiler: Option<Arc<dyn ChartCompiler>>,
}

impl std::fmt::Debug for Scheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.codecs.keys().chain(self.charts.keys()))
            .finish()
    }
}

impl Scheme {
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a kind; a later registration of the same name replaces the earlier.
    pub fn register<K: Kind>(&mut self, kind: K) {
        let schema = serde_json::to_value(schemars::schema_for!(K::Fields)).unwrap_or(Json::Bool(true));
        // A schema derived from a Rust type is always valid; fall back to "anything" if not.
        let validator = jsonschema::validator_for(&schema)
            .or_else(|_| jsonschema::validator_for(&Json::Bool(true)))
            .unwrap_or_else(|_| unreachable!("the schema `true` is valid"));
        self.codecs.insert(
            K::KIND.to_string(),
            Arc::new(KindCodec {
                kind,
                schema,
                validator,
            }),
        );
    }

    /// The codec of a built-in kind, or of a chart of this scheme's namespace.
    pub fn get(&self, kind: &str) -> Option<&Arc<dyn Codec>> {
        self.codecs.get(kind).or_else(|| self.charts.get(kind))
    }

    /// The built-in kinds.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.codecs.keys().map(String::as_str)
    }

    /// Whether `kind` is built in (a chart of that name is refused).
    pub fn is_built_in(&self, kind: &str) -> bool {
        self.codecs.contains_key(kind)
    }

    /// The kinds the namespace's charts define (see [`Scheme::with_charts`]).
    pub fn charts(&self) -> impl Iterator<Item = &str> {
        self.charts.keys().map(String::as_str)
    }

    /// Sets what builds a chart's node (`weir-extensions` registers a sub-graph).
    pub fn set_chart_compiler(&mut self, compiler: Arc<dyn ChartCompiler>) {
        self.chart_compiler = Some(compiler);
    }

    /// This scheme's built-in kinds plus a kind per chart: a namespace's scheme. A chart named like a
    /// built-in kind is left out, with an error naming its namespace, the chart and its field `name`.
    pub fn with_charts(&self, charts: impl IntoIterator<Item = BoundChart>) -> (Scheme, Vec<FieldError>) {
        let mut scheme = Scheme {
            codecs: self.codecs.clone(),
            charts: IndexMap::new(),
            chart_compiler: self.chart_compiler.clone(),
        };
        let mut refused = Vec::new();
        for bound in charts {
            if self.is_built_in(&bound.chart.name) {
                refused.push(FieldError::for_chart(
                    &bound.chart,
                    FieldIssue::new(
                        "name",
                        format!(
                            "\"{}\" is a built-in kind; a chart never overrides one",
                            bound.chart.name
                        ),
                    ),
                ));
                continue;
            }
            let name = bound.chart.name.clone();
            let codec = ChartCodec::new(bound, self.chart_compiler.clone());
            scheme.charts.insert(name, Arc::new(codec));
        }
        (scheme, refused)
    }
}

fn resolve<'a>(schema: &'a Json, root: &'a Json) -> &'a Json {
    if let Some(r) = schema.get("$ref").and_then(Json::as_str) {
        if let Some(path) = r.strip_prefix("#/") {
            let mut node = root;
            for part in path.split('/') {
                match node.get(part) {
                    Some(n) => node = n,
                    None => return schema,
                }
            }
            return node;
        }
    }
    schema
}

fn types(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

/// uniflow's lenient decoding: a numeric string into an integer or number field, "true"/"false" into
/// a boolean field, a scalar where a list is expected into a list of one. Only where the schema asks
/// for that type and the value is not already acceptable.
pub fn coerce_by_schema(value: &mut Json, schema: &Json, root: &Json) {
    let schema = resolve(schema, root);
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(Json::Array(subs)) = schema.get(key) {
            for sub in subs {
                let sub = resolve(sub, root);
                let ts = types(sub);
                if ts.iter().any(|t| fits(value, t)) {
                    coerce_by_schema(value, sub, root);
                    return;
                }
            }
            if let Some(first) = subs.iter().find(|s| !types(resolve(s, root)).contains(&"null")) {
                coerce_by_schema(value, first, root);
            }
            return;
        }
    }
    let ts = types(schema);
    if !ts.is_empty() && !ts.iter().any(|t| fits(value, t)) {
        for t in &ts {
            if let Some(v) = convert(value, t) {
                *value = v;
                break;
            }
        }
    }
    match value {
        Json::Object(map) => {
            let props = schema.get("properties").and_then(Json::as_object);
            let extra = schema.get("additionalProperties");
            for (k, v) in map.iter_mut() {
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    coerce_by_schema(v, s, root);
                } else if let Some(s) = extra.filter(|s| s.is_object()) {
                    coerce_by_schema(v, s, root);
                }
            }
        }
        Json::Array(items) => {
            if let Some(s) = schema.get("items").filter(|s| s.is_object()) {
                for v in items.iter_mut() {
                    coerce_by_schema(v, s, root);
                }
            }
        }
        _ => {}
    }
}

fn fits(value: &Json, ty: &str) -> bool {
    match ty {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "string" => value.is_string(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        _ => false,
    }
}

fn convert(value: &Json, ty: &str) -> Option<Json> {
    match (ty, value) {
        ("integer", Json::String(s)) => s.trim().parse::<i64>().ok().map(Json::from),
        ("integer", Json::Number(n)) => n
            .as_f64()
            .filter(|f| f.fract() == 0.0)
            .map(|f| Json::from(f as i64)),
        ("number", Json::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Json::Number),
        ("boolean", Json::String(s)) => match s.trim() {
            "true" | "TRUE" | "True" | "1" | "t" | "T" => Some(Json::Bool(true)),
            "false" | "FALSE" | "False" | "0" | "f" | "F" => Some(Json::Bool(false)),
            _ => None,
        },
        ("string", Json::Number(n)) => Some(Json::String(n.to_string())),
        ("string", Json::Bool(b)) => Some(Json::String(b.to_string())),
        ("array", v) if !v.is_null() => Some(Json::Array(vec![v.clone()])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;
    use weir_engine::testing::map;

    #[derive(Deserialize, JsonSchema)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct ListenerFields {
        protocol: String,
        port: u16,
        #[serde(default)]
        hosts: Vec<String>,
        #[serde(default)]
        tls: Option<bool>,
    }

    struct Listener;

    impl Kind for Listener {
        const KIND: &'static str = "listener";
        type Fields = ListenerFields;
        fn ports(&self) -> Ports {
            Ports::new(&[], &["out"])
        }
        fn compile(&self, fields: ListenerFields, _: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
            if fields.protocol != "http" {
                return Err(FieldIssue::new(
                    "protocol",
                    format!("unsupported protocol \"{}\"", fields.protocol),
                ));
            }
            Ok(BoxedNode::new(map(Ok)))
        }
    }

    fn scheme() -> Scheme {
        let mut s = Scheme::new();
        s.register(Listener);
        s
    }

    const CX: CompileContext<'static> = CompileContext::new("default", "l");

    #[test]
    fn coerces_like_uniflow() {
        let s = scheme();
        let codec = s.get("listener").unwrap();
        let out = codec
            .decode(&json!({"protocol": "http", "port": "8000", "hosts": "a", "tls": "true"}))
            .unwrap();
        assert_eq!(
            out,
            json!({"protocol": "http", "port": 8000, "hosts": ["a"], "tls": true})
        );
    }

    #[test]
    fn reports_every_violation_with_its_field() {
        let s = scheme();
        let codec = s.get("listener").unwrap();
        let issues = codec
            .decode(&json!({"port": "eighty", "hosts": [1, {}], "extra": 1}))
            .unwrap_err();
        let fields: Vec<_> = issues.iter().map(|i| i.field.as_str()).collect();
        assert!(fields.contains(&"port"), "{issues:?}");
        assert!(fields.contains(&"hosts.1"), "{issues:?}");
        assert!(
            issues.iter().any(|i| i.message.contains("protocol")),
            "{issues:?}"
        );
        assert!(issues.iter().any(|i| i.message.contains("extra")), "{issues:?}");
    }

    #[test]
    fn compile_errors_name_the_field() {
        let s = scheme();
        let err = s
            .get("listener")
            .unwrap()
            .compile(&json!({"protocol": "gopher", "port": 1}), &CX)
            .err()
            .unwrap();
        assert_eq!(
            err,
            vec![FieldIssue::new("protocol", "unsupported protocol \"gopher\"")]
        );
        assert!(s
            .get("listener")
            .unwrap()
            .compile(&json!({"protocol": "http", "port": 1}), &CX)
            .is_ok());
    }
}
