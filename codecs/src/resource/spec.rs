//! A node spec in uniflow's format: the common fields (`id`, `kind`, `namespace`, `name`,
//! `annotations`, `ports`, `env`) and the kind's own fields, kept in order.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::decode::{ser_uuid, FieldIssue, Obj};
use super::port::PortName;
use super::{FieldError, DEFAULT_NAMESPACE};

/// The keys a spec reserves; every other key is one of the kind's own fields.
pub const SPEC_KEYS: [&str; 7] = ["id", "kind", "namespace", "name", "annotations", "ports", "env"];

/// A reference from a port to a port of another node (by the node's name or id) or, in a chart's
/// `inbounds`/`outbounds`, of a node inside the chart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortRef {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_uuid")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The target's port (`in`, `io`, `in[1]`, …).
    pub port: String,
}

impl PortRef {
    /// A reference to port `port` of the node called `name`.
    pub fn named(name: impl Into<String>, port: impl Into<String>) -> Self {
        PortRef {
            id: None,
            name: Some(name.into()),
            port: port.into(),
        }
    }
}

/// One source for an env key: a Value bound by `name` or `id` (in the spec's namespace), whose
/// data `data` selects from as a template (`'{{ .password }}'`); with neither, `data` itself is
/// the value (rendered against the host's environment).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EnvRef {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_uuid")]
    pub id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl EnvRef {
    /// Whether this reference names a Value (by id or name).
    pub fn is_identified(&self) -> bool {
        self.id.is_some() || self.name.is_some()
    }
}

/// A node spec.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spec {
    /// Filled with a fresh UUID v7 by [`Spec::ensure_id`] when absent.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_uuid")]
    pub id: Option<Uuid>,
    pub kind: String,
    /// `default` when the file gives none.
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: IndexMap<String, String>,
    /// Out-port name → the ports it is linked to.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub ports: IndexMap<String, Vec<PortRef>>,
    /// Env key → its sources (a single object in the file is read as a list of one).
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, Vec<EnvRef>>,
    /// The kind's own fields, in file order. Never holds one of [`SPEC_KEYS`].
    #[serde(flatten)]
    pub fields: IndexMap<String, Value>,
}

impl Spec {
    /// A spec of `kind` in the default namespace, with nothing else set.
    pub fn new(kind: impl Into<String>) -> Self {
        Spec {
            id: None,
            kind: kind.into(),
            namespace: DEFAULT_NAMESPACE.to_string(),
            name: None,
            annotations: IndexMap::new(),
            ports: IndexMap::new(),
            env: IndexMap::new(),
            fields: IndexMap::new(),
        }
    }

    /// Reads a spec from a JSON object.
    pub fn from_value(v: &Value) -> Result<Self, FieldIssue> {
        let obj = Obj::new(v, "")?;
        let fields = obj
            .map
            .iter()
            .filter(|(k, _)| !SPEC_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        Ok(Spec {
            id: obj.uuid("id")?,
            kind: obj.required_string("kind")?,
            namespace: obj
                .string("namespace")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            name: obj.text("name")?.filter(|s| !s.is_empty()),
            annotations: obj.annotations("annotations")?,
            ports: obj.port_map("ports")?,
            env: obj.env_map("env")?,
            fields,
        })
    }

    /// The spec as a JSON object, as it would be written to a file.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The spec's id, setting a fresh UUID v7 first if it has none.
    pub fn ensure_id(&mut self) -> Uuid {
        *self.id.get_or_insert_with(Uuid::now_v7)
    }

    /// The name if it has one, else the id, else `""`.
    pub fn name_or_id(&self) -> String {
        name_or_id(self.name.as_deref(), self.id)
    }

    /// A kind's own field.
    pub fn field(&self, key: &str) -> Option<&Value> {
        self.fields.get(key)
    }

    /// The out-ports this spec links, parsed.
    pub fn port_names(&self) -> impl Iterator<Item = (PortName, &[PortRef])> {
        self.ports
            .iter()
            .filter_map(|(k, refs)| PortName::parse(k).ok().map(|p| (p, refs.as_slice())))
    }

    /// Checks what a spec built in code might get wrong and a parsed one cannot: an empty kind,
    /// port names, port references without a target, reserved keys among the fields.
    pub fn validate(&self) -> Vec<FieldError> {
        self.issues()
            .into_iter()
            .map(|i| FieldError::for_spec(self, i))
            .collect()
    }

    pub(crate) fn issues(&self) -> Vec<FieldIssue> {
        let mut issues = Vec::new();
        if self.kind.is_empty() {
            issues.push(FieldIssue::new("kind", "must not be empty"));
        }
        issues.extend(port_map_issues("ports", &self.ports));
        for k in self.fields.keys().filter(|k| SPEC_KEYS.contains(&k.as_str())) {
            issues.push(FieldIssue::new(
                k.as_str(),
                "is a spec field and cannot also be one of the kind's fields",
            ));
        }
        issues
    }
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Spec::from_value(&v).map_err(serde::de::Error::custom)
    }
}

pub(crate) fn name_or_id(name: Option<&str>, id: Option<Uuid>) -> String {
    match (name, id) {
        (Some(n), _) => n.to_string(),
        (None, Some(id)) => id.to_string(),
        (None, None) => String::new(),
    }
}

/// Problems in a map of port name → references.
pub(crate) fn port_map_issues(field: &str, ports: &IndexMap<String, Vec<PortRef>>) -> Vec<FieldIssue> {
    let mut issues = Vec::new();
    for (name, refs) in ports {
        let path = super::decode::join(field, name);
        if let Err(e) = PortName::parse(name) {
            issues.push(FieldIssue::new(&path, e.to_string()));
        }
        for (i, r) in refs.iter().enumerate() {
            let at = super::decode::join_index(&path, i);
            if let Err(e) = PortName::parse(&r.port) {
                issues.push(FieldIssue::new(format!("{at}.port"), e.to_string()));
            }
            if r.id.is_none() && r.name.is_none() {
                issues.push(FieldIssue::new(
                    at,
                    "a port reference needs a \"name\" or an \"id\"",
                ));
            }
        }
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn full() -> Value {
        json!({
            "id": "01908c74-8b22-7cbf-a475-6b6bc871b01a",
            "kind": "listener",
            "namespace": "default",
            "name": "example-listener",
            "annotations": {"description": "Example listener", "version": "1.0"},
            "ports": {"out": [{"name": "proxy", "port": "in"}], "out[1]": [{"id": "01908c74-8b22-7cbf-a475-6b6bc871b01b", "port": "in[0]"}]},
            "env": {"PORT": [{"name": "network", "data": "{{ .PORT }}"}]},
            "protocol": "http",
            "port": "{{ .PORT }}",
            "nested": {"b": 1, "a": [true, null]}
        })
    }

    #[test]
    fn round_trips_to_the_same_json() {
        let spec = Spec::from_value(&full()).unwrap();
        assert_eq!(
            spec.fields.keys().collect::<Vec<_>>(),
            ["protocol", "port", "nested"]
        );
        assert_eq!(spec.to_value(), full());
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            serde_json::to_string(&full()).unwrap()
        );
        let again: Spec = serde_json::from_value(spec.to_value()).unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn round_trips_through_yaml() {
        let spec = Spec::from_value(&full()).unwrap();
        let text = serde_yaml_ng::to_string(&spec).unwrap();
        let back: Spec = serde_yaml_ng::from_str(&text).unwrap();
        assert_eq!(back, spec);
    }

    #[test]
    fn defaults_and_ids() {
        let mut spec = Spec::from_value(&json!({"kind": "snippet", "namespace": ""})).unwrap();
        assert_eq!(spec.namespace, "default");
        assert_eq!((spec.id, spec.name_or_id()), (None, String::new()));
        let id = spec.ensure_id();
        assert_eq!(id.get_version_num(), 7);
        assert_eq!(spec.ensure_id(), id);
        assert_eq!(spec.name_or_id(), id.to_string());
    }

    #[test]
    fn kind_is_required() {
        let e = Spec::from_value(&json!({"name": "x"})).unwrap_err();
        assert_eq!(e.to_string(), "field \"kind\": missing");
        let e = Spec::from_value(&json!({"kind": 3})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field \"kind\": expected a string, found a number (3)"
        );
        let e = Spec::from_value(&json!("listener")).unwrap_err();
        assert_eq!(e.to_string(), "expected an object, found a string (\"listener\")");
    }

    #[test]
    fn validate_checks_specs_built_in_code() {
        let mut spec = Spec::new("router");
        spec.name = Some("r".into());
        spec.ports
            .insert("out[x]".into(), vec![PortRef::named("a", "in")]);
        spec.ports.insert(
            "out".into(),
            vec![PortRef {
                id: None,
                name: None,
                port: "nope".into(),
            }],
        );
        spec.fields.insert("kind".into(), json!("x"));
        let errors: Vec<String> = spec.validate().iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 4, "{errors:#?}");
        assert!(errors[0].starts_with(
            "namespace \"default\": spec \"r\" (kind router): field \"ports['out[x]']\": invalid port name"
        ));
        assert!(Spec::from_value(&full()).unwrap().validate().is_empty());
        let parsed = Spec::from_value(&full()).unwrap();
        assert_eq!(
            parsed
                .port_names()
                .map(|(p, _)| p.to_string())
                .collect::<Vec<_>>(),
            ["out", "out[1]"]
        );
    }
}
