//! A Value (uniflow's values, formerly secrets): named data in a namespace that specs bind
//! through `env`.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::decode::{ser_uuid, FieldIssue, Obj};
use super::spec::name_or_id;
use super::DEFAULT_NAMESPACE;

const VALUE_KEYS: [&str; 5] = ["id", "namespace", "name", "annotations", "data"];

/// A Value resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ValueResource {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_uuid")]
    pub id: Option<Uuid>,
    pub namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: IndexMap<String, String>,
    /// Any JSON; required (uniflow validates it as such).
    pub data: Value,
}

impl ValueResource {
    /// A value named `name` in the default namespace.
    pub fn new(name: impl Into<String>, data: Value) -> Self {
        ValueResource {
            id: None,
            namespace: DEFAULT_NAMESPACE.to_string(),
            name: Some(name.into()),
            annotations: IndexMap::new(),
            data,
        }
    }

    /// Reads a value from a JSON object.
    pub fn from_value(v: &Value) -> Result<Self, FieldIssue> {
        let obj = Obj::new(v, "")?;
        obj.only(&VALUE_KEYS, "")?;
        let data = obj
            .map
            .get("data")
            .cloned()
            .ok_or_else(|| FieldIssue::new("data", "missing"))?;
        Ok(ValueResource {
            id: obj.uuid("id")?,
            namespace: obj
                .string("namespace")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            name: obj.text("name")?.filter(|s| !s.is_empty()),
            annotations: obj.annotations("annotations")?,
            data,
        })
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The value's id, setting a fresh UUID v7 first if it has none.
    pub fn ensure_id(&mut self) -> Uuid {
        *self.id.get_or_insert_with(Uuid::now_v7)
    }

    /// The name if it has one, else the id, else `""`.
    pub fn name_or_id(&self) -> String {
        name_or_id(self.name.as_deref(), self.id)
    }
}

impl<'de> Deserialize<'de> for ValueResource {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        ValueResource::from_value(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_and_writes_uniflow_values() {
        let v = json!({
            "id": "01908c74-8b22-7cbf-a475-6b6bc871b01b",
            "namespace": "default",
            "name": "database",
            "annotations": {"description": "Database information"},
            "data": {"password": "super-secret-password", "port": 5432}
        });
        let value = ValueResource::from_value(&v).unwrap();
        assert_eq!(value.data["port"], 5432);
        assert_eq!(value.to_value(), v);
    }

    #[test]
    fn data_is_required_and_unknown_fields_are_named() {
        let e = ValueResource::from_value(&json!({"name": "x"})).unwrap_err();
        assert_eq!(e.to_string(), "field \"data\": missing");
        let e = ValueResource::from_value(&json!({"name": "x", "data": 1, "dat": 2})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "field \"dat\": unknown field (expected id, namespace, name, annotations, data)"
        );
        let v = ValueResource::from_value(&json!({"data": null})).unwrap();
        assert_eq!((v.data, v.namespace.as_str()), (Value::Null, "default"));
    }
}
