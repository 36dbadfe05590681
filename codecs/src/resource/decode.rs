//! Reading resources out of JSON values field by field, so that every problem names the field it
//! is in (`ports['out[0]'][1].port`), and the shared pieces of the format: port references, env
//! references, annotations, ids.

use indexmap::IndexMap;
use serde::Serializer;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::port::PortName;
use super::{EnvRef, PortRef};

/// A problem with one field of a resource: `field` is its path from the resource's top
/// (`routes[0].port`), empty for the resource as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}", if field.is_empty() { String::new() } else { format!("field {field:?}: ") })]
pub struct FieldIssue {
    pub field: String,
    pub message: String,
}

impl FieldIssue {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldIssue {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub(crate) type Result<T> = std::result::Result<T, FieldIssue>;

/// `path.key`, or `path['key']` when the key is not a plain name.
pub(crate) fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    match (plain, path.is_empty()) {
        (true, true) => key.to_string(),
        (true, false) => format!("{path}.{key}"),
        (false, _) => format!("{path}['{key}']"),
    }
}

pub(crate) fn join_index(path: &str, i: usize) -> String {
    format!("{path}[{i}]")
}

/// How a value reads in a message: `a string ("x")`, `a number (3)`, `a list`.
pub(crate) fn found(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("a boolean ({b})"),
        Value::Number(n) => format!("a number ({n})"),
        Value::String(s) => format!("a string ({s:?})"),
        Value::Array(_) => "a list".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// An object being decoded, and where it is.
pub(crate) struct Obj<'a> {
    pub map: &'a Map<String, Value>,
    pub path: String,
}

impl<'a> Obj<'a> {
    pub fn new(v: &'a Value, path: &str) -> Result<Self> {
        match v {
            Value::Object(map) => Ok(Obj {
                map,
                path: path.to_string(),
            }),
            other => Err(FieldIssue::new(
                path,
                format!("expected an object, found {}", found(other)),
            )),
        }
    }

    pub fn at(&self, key: &str) -> String {
        join(&self.path, key)
    }

    /// The value of `key`; an explicit null counts as absent.
    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// Rejects keys outside `allowed`; `hint` is added to the message.
    pub fn only(&self, allowed: &[&str], hint: &str) -> Result<()> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            None => Ok(()),
            Some(k) => Err(FieldIssue::new(
                self.at(k),
                format!("unknown field (expected {}){hint}", allowed.join(", ")),
            )),
        }
    }

    pub fn string(&self, key: &str) -> Result<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(FieldIssue::new(
                self.at(key),
                format!("expected a string, found {}", found(other)),
            )),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<String> {
        match self.string(key)? {
            None => Err(FieldIssue::new(self.at(key), "missing")),
            Some(s) if s.is_empty() => Err(FieldIssue::new(self.at(key), "must not be empty")),
            Some(s) => Ok(s),
        }
    }

    /// A string, or a number or boolean taken as its text (YAML readers are lenient so).
    pub fn text(&self, key: &str) -> Result<Option<String>> {
        self.get(key).map(|v| scalar_text(v, &self.at(key))).transpose()
    }

    pub fn uuid(&self, key: &str) -> Result<Option<Uuid>> {
        let Some(s) = self.string(key)? else {
            return Ok(None);
        };
        Uuid::parse_str(&s)
            .map(Some)
            .map_err(|e| FieldIssue::new(self.at(key), format!("invalid UUID {s:?}: {e}")))
    }

    /// Annotations: a map of strings (numbers and booleans taken as their text).
    pub fn annotations(&self, key: &str) -> Result<IndexMap<String, String>> {
        let Some(v) = self.get(key) else {
            return Ok(IndexMap::new());
        };
        let obj = Obj::new(v, &self.at(key))?;
        obj.map
            .iter()
            .map(|(k, v)| Ok((k.clone(), scalar_text(v, &obj.at(k))?)))
            .collect()
    }

    /// A map of port name → port references (`ports`, `inbounds`, `outbounds`).
    pub fn port_map(&self, key: &str) -> Result<IndexMap<String, Vec<PortRef>>> {
        let Some(v) = self.get(key) else {
            return Ok(IndexMap::new());
        };
        let obj = Obj::new(v, &self.at(key))?;
        let mut out = IndexMap::new();
        for (name, refs) in obj.map {
            let path = obj.at(name);
            PortName::parse(name).map_err(|e| FieldIssue::new(&path, e.to_string()))?;
            let refs = one_or_many(refs, &path, port_ref)?;
            out.insert(name.clone(), refs);
        }
        Ok(out)
    }

    /// A map of env key → env references; one reference may stand alone instead of in a list.
    pub fn env_map(&self, key: &str) -> Result<IndexMap<String, Vec<EnvRef>>> {
        let Some(v) = self.get(key) else {
            return Ok(IndexMap::new());
        };
        let obj = Obj::new(v, &self.at(key))?;
        let mut out = IndexMap::new();
        for (name, refs) in obj.map {
            if name.is_empty() {
                return Err(FieldIssue::new(obj.at(name), "an env key must not be empty"));
            }
            out.insert(name.clone(), one_or_many(refs, &obj.at(name), env_ref)?);
        }
        Ok(out)
    }
}

fn scalar_text(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(FieldIssue::new(
            path,
            format!("expected a string, found {}", found(other)),
        )),
    }
}

/// A list of items, or a single item where a list is expected.
fn one_or_many<T>(v: &Value, path: &str, item: fn(&Value, &str) -> Result<T>) -> Result<Vec<T>> {
    match v {
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, x)| item(x, &join_index(path, i)))
            .collect(),
        Value::Null => Ok(Vec::new()),
        single => Ok(vec![item(single, path)?]),
    }
}

fn port_ref(v: &Value, path: &str) -> Result<PortRef> {
    let obj = Obj::new(v, path)?;
    obj.only(&["id", "name", "port"], "")?;
    let r = PortRef {
        id: obj.uuid("id")?,
        name: obj.text("name")?.filter(|s| !s.is_empty()),
        port: obj.required_string("port")?,
    };
    PortName::parse(&r.port).map_err(|e| FieldIssue::new(obj.at("port"), e.to_string()))?;
    if r.id.is_none() && r.name.is_none() {
        return Err(FieldIssue::new(
            path,
            "a port reference needs a \"name\" or an \"id\"",
        ));
    }
    Ok(r)
}

fn env_ref(v: &Value, path: &str) -> Result<EnvRef> {
    let obj = Obj::new(v, path)?;
    obj.only(&["id", "name", "data", "value"], "")?;
    if obj.map.contains_key("data") && obj.map.contains_key("value") {
        return Err(FieldIssue::new(
            obj.at("value"),
            "give \"data\" or its older spelling \"value\", not both",
        ));
    }
    let data = obj.map.get("data").or_else(|| obj.map.get("value")).cloned();
    Ok(EnvRef {
        id: obj.uuid("id")?,
        name: obj.text("name")?.filter(|s| !s.is_empty()),
        data,
    })
}

/// Decodes a list (or a single object) of `T` at `key`.
pub(crate) fn list_of<T>(obj: &Obj<'_>, key: &str, item: fn(&Value, &str) -> Result<T>) -> Result<Vec<T>> {
    match obj.get(key) {
        None => Ok(Vec::new()),
        Some(v) => one_or_many(v, &obj.at(key), item),
    }
}

/// Serializes an optional UUID as its hyphenated text.
pub(crate) fn ser_uuid<S: Serializer>(id: &Option<Uuid>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match id {
        Some(id) => s.collect_str(id),
        None => s.serialize_none(),
    }
}

/// Prefixes every issue's field with `path` (for resources nested in others, like a chart's specs).
pub(crate) fn within(path: &str, issue: FieldIssue) -> FieldIssue {
    let field = match (path.is_empty(), issue.field.is_empty()) {
        (true, _) => issue.field,
        (false, true) => path.to_string(),
        (false, false) if issue.field.starts_with('[') => format!("{path}{}", issue.field),
        (false, false) => format!("{path}.{}", issue.field),
    };
    FieldIssue {
        field,
        message: issue.message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_read_like_access_expressions() {
        assert_eq!(join("", "ports"), "ports");
        assert_eq!(join("ports", "out[0]"), "ports['out[0]']");
        assert_eq!(join_index(&join("ports", "out"), 2), "ports.out[2]");
        assert_eq!(
            within("specs[1]", FieldIssue::new("kind", "missing")).field,
            "specs[1].kind"
        );
    }

    #[test]
    fn port_map_accepts_one_reference_or_a_list_and_checks_names() {
        let v = json!({"ports": {"out": {"name": "a", "port": "in"}, "out[1]": [{"id": "01908c74-8b22-7cbf-a475-6b6bc871b01a", "port": "in[0]"}]}});
        let obj = Obj::new(&v, "").unwrap();
        let ports = obj.port_map("ports").unwrap();
        assert_eq!(ports["out"][0].name.as_deref(), Some("a"));
        assert!(ports["out[1]"][0].id.is_some());
        let bad = |v: Value| {
            Obj::new(&v, "")
                .unwrap()
                .port_map("ports")
                .unwrap_err()
                .to_string()
        };
        assert!(bad(json!({"ports": {"outt": []}}))
            .starts_with("field \"ports.outt\": invalid port name \"outt\""));
        assert_eq!(
            bad(json!({"ports": {"out": [{"name": "a"}]}})),
            "field \"ports.out[0].port\": missing"
        );
        assert_eq!(
            bad(json!({"ports": {"out": [{"port": "in"}]}})),
            "field \"ports.out[0]\": a port reference needs a \"name\" or an \"id\""
        );
        assert_eq!(
            bad(json!({"ports": {"out": [{"name": "a", "port": "in", "nmae": 1}]}})),
            "field \"ports.out[0].nmae\": unknown field (expected id, name, port)"
        );
        assert_eq!(
            bad(json!({"ports": {"out": [{"name": "a", "port": 1}]}})),
            "field \"ports.out[0].port\": expected a string, found a number (1)"
        );
    }

    #[test]
    fn env_accepts_data_or_value_and_a_single_reference() {
        let v = json!({"env": {"A": {"data": "{{ .A }}"}, "B": [{"name": "db", "value": "x"}], "C": [{"id": "not-a-uuid"}]}});
        let obj = Obj::new(&v, "").unwrap();
        let e = obj.env_map("env").unwrap_err();
        assert_eq!(e.field, "env.C[0].id");
        let v = json!({"env": {"A": {"data": "{{ .A }}"}, "B": [{"name": "db", "value": "x"}]}});
        let env = Obj::new(&v, "").unwrap().env_map("env").unwrap();
        assert_eq!(
            env["A"],
            vec![EnvRef {
                id: None,
                name: None,
                data: Some(json!("{{ .A }}"))
            }]
        );
        assert_eq!(env["B"][0].data, Some(json!("x")));
    }

    #[test]
    fn annotations_take_scalars_as_text() {
        let v = json!({"annotations": {"version": 1.0, "on": true, "d": "x"}});
        let a = Obj::new(&v, "").unwrap().annotations("annotations").unwrap();
        assert_eq!(a["version"], "1.0");
        assert_eq!(a["on"], "true");
        let v = json!({"annotations": {"x": [1]}});
        assert!(Obj::new(&v, "").unwrap().annotations("annotations").is_err());
    }
}
