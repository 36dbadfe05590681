//! A chart: a composite node kind built from specs. Its `name` becomes a kind in its namespace;
//! `inbounds` and `outbounds` map the chart's ports to ports of the specs inside it; `env` entries
//! without a name or id are the chart's arguments, rendered against the spec that uses the chart.

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::decode::{join_index, list_of, ser_uuid, within, FieldIssue, Obj};
use super::spec::{name_or_id, port_map_issues, EnvRef, PortRef, Spec};
use super::DEFAULT_NAMESPACE;

const CHART_KEYS: [&str; 8] = [
    "id",
    "namespace",
    "name",
    "annotations",
    "specs",
    "inbounds",
    "outbounds",
    "env",
];

/// A chart resource.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Chart {
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "ser_uuid")]
    pub id: Option<Uuid>,
    pub namespace: String,
    /// The kind this chart defines; required.
    pub name: String,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub annotations: IndexMap<String, String>,
    pub specs: Vec<Spec>,
    /// The chart's in-ports → ports of specs inside it.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub inbounds: IndexMap<String, Vec<PortRef>>,
    /// The chart's out-ports → ports of specs inside it.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub outbounds: IndexMap<String, Vec<PortRef>>,
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, Vec<EnvRef>>,
}

impl Chart {
    /// Reads a chart from a JSON object; its specs' fields are named `specs[i].…`.
    pub fn from_value(v: &Value) -> Result<Self, FieldIssue> {
        let obj = Obj::new(v, "")?;
        obj.only(
            &CHART_KEYS,
            "; a chart links its ports with \"inbounds\" and \"outbounds\"",
        )?;
        let specs = list_of(&obj, "specs", |v, path| {
            Spec::from_value(v).map_err(|e| within(path, e))
        })?;
        Ok(Chart {
            id: obj.uuid("id")?,
            namespace: obj
                .string("namespace")?
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            name: obj.required_string("name")?,
            annotations: obj.annotations("annotations")?,
            specs,
            inbounds: obj.port_map("inbounds")?,
            outbounds: obj.port_map("outbounds")?,
            env: obj.env_map("env")?,
        })
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The chart's id, setting a fresh UUID v7 first if it has none.
    pub fn ensure_id(&mut self) -> Uuid {
        *self.id.get_or_insert_with(Uuid::now_v7)
    }

    /// The name (charts always have one).
    pub fn name_or_id(&self) -> String {
        name_or_id(Some(&self.name), self.id)
    }

    pub(crate) fn issues(&self) -> Vec<FieldIssue> {
        let mut issues = Vec::new();
        if self.name.is_empty() {
            issues.push(FieldIssue::new("name", "must not be empty"));
        }
        for (i, spec) in self.specs.iter().enumerate() {
            let path = join_index("specs", i);
            issues.extend(spec.issues().into_iter().map(|e| within(&path, e)));
        }
        issues.extend(port_map_issues("inbounds", &self.inbounds));
        issues.extend(port_map_issues("outbounds", &self.outbounds));
        issues
    }

    /// Checks what a chart built in code might get wrong (see [`Spec::validate`]).
    pub fn validate(&self) -> Vec<super::FieldError> {
        self.issues()
            .into_iter()
            .map(|i| super::FieldError::for_chart(self, i))
            .collect()
    }
}

impl<'de> Deserialize<'de> for Chart {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Chart::from_value(&v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sqlite() -> Value {
        json!({
            "id": "01908c74-8b22-7cbf-a475-6b6bc871b01b",
            "namespace": "default",
            "name": "sqlite",
            "annotations": {"version": "v1.0.0"},
            "specs": [{"kind": "sql", "namespace": "default", "name": "sql", "driver": "sqlite3", "source": "file::{{ .FILENAME }}:?cache=shared"}],
            "inbounds": {"in": [{"name": "sql", "port": "in"}]},
            "outbounds": {"out": [{"name": "sql", "port": "out"}]},
            "env": {"FILENAME": [{"data": "{{ .filename }}"}]}
        })
    }

    #[test]
    fn round_trips() {
        let chart = Chart::from_value(&sqlite()).unwrap();
        assert_eq!(chart.specs[0].field("driver"), Some(&json!("sqlite3")));
        assert_eq!(chart.to_value(), sqlite());
        assert!(chart.validate().is_empty());
    }

    #[test]
    fn errors_name_nested_fields() {
        let mut v = sqlite();
        v["specs"][0].as_object_mut().unwrap().remove("kind");
        assert_eq!(
            Chart::from_value(&v).unwrap_err().to_string(),
            "field \"specs[0].kind\": missing"
        );
        let mut v = sqlite();
        v["ports"] = json!({});
        assert_eq!(
            Chart::from_value(&v).unwrap_err().to_string(),
            "field \"ports\": unknown field (expected id, namespace, name, annotations, specs, inbounds, outbounds, env); a chart links its ports with \"inbounds\" and \"outbounds\""
        );
        let mut v = sqlite();
        v.as_object_mut().unwrap().remove("name");
        assert_eq!(
            Chart::from_value(&v).unwrap_err().to_string(),
            "field \"name\": missing"
        );
    }
}
