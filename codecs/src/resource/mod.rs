//! The resource model in uniflow's format, which weir reads unchanged: [`Spec`]s (nodes),
//! [`ValueResource`]s (uniflow's values, once called secrets) and [`Chart`]s (composite kinds),
//! read from YAML or JSON files ([`parse_specs`], [`parse_values`], [`parse_charts`]), with errors
//! that name the entry, the resource and the field. [`FieldError`] is the sentence later layers use
//! to report a problem in a stored resource:
//! `namespace "billing": spec "tax" (kind snippet): field "language": unknown language "cobol"`.
//!
//! What the format allows, as uniflow reads it: `namespace` defaults to `default`; `ports` maps
//! an out-port name (`out`, `out[0]`, `error`, …, see [`PortName`]) to references `{name|id, port}`;
//! `env` maps a key to references `{name|id, data}`, one object standing for a list of one; every
//! other key of a spec is the kind's own field, kept in order. Strings like `'{{ .PORT }}'` are
//! kept verbatim; rendering them is [`crate::template`]'s job, and only for specs with an env.

mod chart;
mod decode;
mod file;
mod identity;
mod port;
mod spec;
mod value;

use std::fmt;

pub use chart::Chart;
pub use decode::FieldIssue;
pub use file::{parse_charts, parse_specs, parse_values, read_entries, Format, ParseError, Problem};
pub use identity::Identity;
pub use port::{PortBase, PortName, PortNameError, IO_PORT};
pub use spec::{EnvRef, PortRef, Spec, SPEC_KEYS};
pub use value::ValueResource;

/// The namespace of a resource that names none.
pub const DEFAULT_NAMESPACE: &str = "default";

/// A problem with one field of a stored resource, reading as a sentence:
/// `namespace "billing": spec "tax" (kind snippet): field "language": unknown language "cobol"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    pub namespace: String,
    /// `spec`, `value` or `chart`.
    pub resource_kind: &'static str,
    /// The resource's name, or its id when it has no name.
    pub name_or_id: String,
    /// For a spec, its kind.
    pub spec_kind: Option<String>,
    /// The field's path (`routes[0].port`); empty for the resource as a whole.
    pub field: String,
    pub message: String,
}

impl FieldError {
    /// A problem with `spec`.
    pub fn for_spec(spec: &Spec, issue: FieldIssue) -> Self {
        FieldError {
            namespace: spec.namespace.clone(),
            resource_kind: "spec",
            name_or_id: spec.name_or_id(),
            spec_kind: Some(spec.kind.clone()),
            field: issue.field,
            message: issue.message,
        }
    }

    /// A problem with `value`.
    pub fn for_value(value: &ValueResource, issue: FieldIssue) -> Self {
        FieldError {
            namespace: value.namespace.clone(),
            resource_kind: "value",
            name_or_id: value.name_or_id(),
            spec_kind: None,
            field: issue.field,
            message: issue.message,
        }
    }

    /// A problem with `chart`.
    pub fn for_chart(chart: &Chart, issue: FieldIssue) -> Self {
        FieldError {
            namespace: chart.namespace.clone(),
            resource_kind: "chart",
            name_or_id: chart.name_or_id(),
            spec_kind: None,
            field: issue.field,
            message: issue.message,
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "namespace {:?}: {}", self.namespace, self.resource_kind)?;
        if self.name_or_id.is_empty() {
            f.write_str(" (unnamed)")?;
        } else {
            write!(f, " {:?}", self.name_or_id)?;
        }
        if let Some(kind) = &self.spec_kind {
            write!(f, " (kind {kind})")?;
        }
        if !self.field.is_empty() {
            write!(f, ": field {:?}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_error_reads_as_a_sentence() {
        let mut spec = Spec::new("snippet");
        spec.namespace = "billing".into();
        spec.name = Some("tax".into());
        let e = FieldError::for_spec(&spec, FieldIssue::new("language", "unknown language \"cobol\""));
        assert_eq!(
            e.to_string(),
            "namespace \"billing\": spec \"tax\" (kind snippet): field \"language\": unknown language \"cobol\""
        );
        let v = ValueResource::new("db", json!({}));
        let e = FieldError::for_value(&v, FieldIssue::new("", "is bound by 3 specs"));
        assert_eq!(
            e.to_string(),
            "namespace \"default\": value \"db\": is bound by 3 specs"
        );
        let anon = Spec::new("if");
        let e = FieldError::for_spec(&anon, FieldIssue::new("when", "missing"));
        assert_eq!(
            e.to_string(),
            "namespace \"default\": spec (unnamed) (kind if): field \"when\": missing"
        );
    }
}
