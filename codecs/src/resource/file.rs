//! Resource files: YAML or JSON, each holding one object or a list of them (YAML files may hold
//! several `---` documents). Duplicate keys are refused, as Go's yaml.v3 refuses them; every
//! problem is reported with the entry (from 1), the resource's name when it has one, and the field.

use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::decode::FieldIssue;
use super::{Chart, Spec, ValueResource};

/// A file's syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// JSON for a `.json` file, YAML for `.yaml`/`.yml`; otherwise JSON when the text starts with
    /// `{` or `[` (after whitespace), else YAML.
    pub fn detect(path: &Path, text: &str) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("json") => Format::Json,
            Some("yaml" | "yml") => Format::Yaml,
            _ if text.trim_start().starts_with(['{', '[']) => Format::Json,
            _ => Format::Yaml,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Yaml => "YAML",
        })
    }
}

/// One problem in a resource file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `specs`, `values` or `charts`.
    pub file: &'static str,
    /// The entry (from 1), unless the problem is with the file as a whole.
    pub entry: Option<usize>,
    /// `spec "tax"`, when the entry has a name or id.
    pub resource: Option<String>,
    /// The field's path within the entry (empty for the entry as a whole).
    pub field: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} file: ", self.file)?;
        if let Some(n) = self.entry {
            write!(f, "entry {n}")?;
            if let Some(r) = &self.resource {
                write!(f, " ({r})")?;
            }
            f.write_str(": ")?;
        }
        if !self.field.is_empty() {
            write!(f, "field {:?}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a resource file was refused: every problem found, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ParseError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

/// A resource type that files hold.
trait Resource: Sized {
    const FILE: &'static str;
    const KIND: &'static str;
    fn decode(v: &Value) -> Result<Self, FieldIssue>;
}

impl Resource for Spec {
    const FILE: &'static str = "specs";
    const KIND: &'static str = "spec";
    fn decode(v: &Value) -> Result<Self, FieldIssue> {
        Spec::from_value(v)
    }
}

impl Resource for ValueResource {
    const FILE: &'static str = "values";
    const KIND: &'static str = "value";
    fn decode(v: &Value) -> Result<Self, FieldIssue> {
        ValueResource::from_value(v)
    }
}

impl Resource for Chart {
    const FILE: &'static str = "charts";
    const KIND: &'static str = "chart";
    fn decode(v: &Value) -> Result<Self, FieldIssue> {
        Chart::from_value(v)
    }
}

/// Reads the specs in a file.
pub fn parse_specs(text: &str, format: Format) -> Result<Vec<Spec>, ParseError> {
    parse_file(text, format)
}

/// Reads the values in a file.
pub fn parse_values(text: &str, format: Format) -> Result<Vec<ValueResource>, ParseError> {
    parse_file(text, format)
}

/// Reads the charts in a file.
pub fn parse_charts(text: &str, format: Format) -> Result<Vec<Chart>, ParseError> {
    parse_file(text, format)
}

fn parse_file<T: Resource>(text: &str, format: Format) -> Result<Vec<T>, ParseError> {
    let whole = |message: String| ParseError {
        problems: vec![Problem {
            file: T::FILE,
            entry: None,
            resource: None,
            field: String::new(),
            message,
        }],
    };
    let entries = read_entries(text, format).map_err(whole)?;
    let mut out = Vec::with_capacity(entries.len());
    let mut problems = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        match T::decode(entry) {
            Ok(r) => out.push(r),
            Err(issue) => problems.push(Problem {
                file: T::FILE,
                entry: Some(i + 1),
                resource: label(T::KIND, entry),
                field: issue.field,
                message: issue.message,
            }),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(ParseError { problems })
    }
}

/// `spec "tax"` from the raw entry's name, or its id.
fn label(kind: &str, entry: &Value) -> Option<String> {
    let pick = |key: &str| match entry.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    pick("name")
        .or_else(|| pick("id"))
        .map(|n| format!("{kind} {n:?}"))
}

/// The file's entries: its object, or the items of its list, over all YAML documents.
pub fn read_entries(text: &str, format: Format) -> Result<Vec<Value>, String> {
    let docs = match format {
        Format::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            let doc = Strict::deserialize(&mut de)
                .and_then(|d| de.end().map(|()| d))
                .map_err(|e| {
                    format!(
                        "JSON syntax error at line {}, column {}: {}",
                        e.line(),
                        e.column(),
                        json_message(&e)
                    )
                })?;
            vec![doc.0]
        }
        Format::Yaml => {
            let mut docs = Vec::new();
            for doc in serde_yaml_ng::Deserializer::from_str(text) {
                let v = Strict::deserialize(doc).map_err(|e| format!("YAML syntax error: {e}"))?;
                docs.push(v.0);
            }
            docs
        }
    };
    let mut entries = Vec::new();
    for doc in docs {
        match doc {
            Value::Null => {}
            Value::Array(items) => entries.extend(items),
            other => entries.push(other),
        }
    }
    Ok(entries)
}

/// serde_json's message without its own " at line L column C" suffix.
fn json_message(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// A JSON value read with duplicate keys refused.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-compatible value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(i64::try_from(v)
            .map(Value::from)
            .unwrap_or_else(|_| float(v as f64)))
    }

    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(u64::try_from(v)
            .map(Value::from)
            .unwrap_or_else(|_| float(v as f64)))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(float(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

/// A float as JSON holds it; infinities and NaN (YAML's `.inf`, `.nan`) become null, as in serde_json.
fn float(v: f64) -> Value {
    Number::from_f64(v).map_or(Value::Null, Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_the_format() {
        assert_eq!(Format::detect(Path::new("a.json"), "- x"), Format::Json);
        assert_eq!(Format::detect(Path::new("a.yaml"), "[a, b]"), Format::Yaml);
        assert_eq!(Format::detect(Path::new("-"), "  \n [ {} ]"), Format::Json);
        assert_eq!(Format::detect(Path::new("specs"), "{"), Format::Json);
        assert_eq!(Format::detect(Path::new("specs.txt"), "- kind: x"), Format::Yaml);
    }

    #[test]
    fn a_file_holds_an_object_a_list_or_several_documents() {
        let one = parse_specs("kind: a\n", Format::Yaml).unwrap();
        assert_eq!(one.len(), 1);
        let many = parse_specs("- kind: a\n- kind: b\n---\nkind: c\n---\n", Format::Yaml).unwrap();
        assert_eq!(
            many.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        assert!(parse_specs("", Format::Yaml).unwrap().is_empty());
        assert_eq!(
            parse_specs(r#"[{"kind": "a"}, {"kind": "b"}]"#, Format::Json)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            parse_values(r#"{"name": "v", "data": 1}"#, Format::Json).unwrap()[0].data,
            json!(1)
        );
    }

    #[test]
    fn problems_name_the_entry_the_resource_and_the_field() {
        let text = "- kind: a\n- kind: b\n- name: tax\n  language: cobol\n- kind: c\n  ports: {outt: []}\n";
        let e = parse_specs(text, Format::Yaml).unwrap_err();
        assert_eq!(e.problems.len(), 2);
        assert_eq!(
            e.problems[0].to_string(),
            "specs file: entry 3 (spec \"tax\"): field \"kind\": missing"
        );
        assert!(e
            .to_string()
            .contains("\nspecs file: entry 4: field \"ports.outt\": invalid port name \"outt\""));
        let e = parse_values("- name: v\n", Format::Yaml).unwrap_err();
        assert_eq!(
            e.to_string(),
            "values file: entry 1 (value \"v\"): field \"data\": missing"
        );
        let e = parse_specs("- 3\n", Format::Yaml).unwrap_err();
        assert_eq!(
            e.to_string(),
            "specs file: entry 1: expected an object, found a number (3)"
        );
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let e = parse_specs("- kind: [a\n- b", Format::Yaml).unwrap_err();
        assert!(
            e.to_string().starts_with("specs file: YAML syntax error: "),
            "{e}"
        );
        assert!(e.to_string().contains("line"), "{e}");
        let e = parse_specs("[{\"kind\": }]", Format::Json).unwrap_err();
        assert_eq!(
            e.to_string(),
            "specs file: JSON syntax error at line 1, column 11: expected value"
        );
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let e = parse_specs("kind: a\nports: {}\nports: {}\n", Format::Yaml).unwrap_err();
        assert!(e.to_string().contains("duplicate key \"ports\""), "{e}");
        let e = parse_specs(r#"{"kind": "a", "kind": "b"}"#, Format::Json).unwrap_err();
        assert!(e.to_string().contains("duplicate key \"kind\""), "{e}");
    }
}
