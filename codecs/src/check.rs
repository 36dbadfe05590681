//! The checks a write runs on a resource before anything is stored, shared by `weir apply` and the
//! `syscall` node: a spec's own fields against its kind's JSON Schema (fields holding a Go template,
//! `'{{ .PORT }}'`, are checked only once rendered, when the spec loads), and a chart's specs the
//! same way. An unknown kind is a warning, not an error: a chart may define it later.

use serde_json::Value as Json;

use crate::codec::Scheme;
use crate::resource::{Chart, FieldIssue, Spec};

/// Whether the value at `path` (`routes.0.port`), or one of its parents, is a string holding a template.
pub fn templated(root: &Json, path: &str) -> bool {
    let mut node = root;
    let is_template = |v: &Json| v.as_str().is_some_and(|s| s.contains("{{"));
    if is_template(node) {
        return true;
    }
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let next = match node {
            Json::Object(m) => m.get(part),
            Json::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(n) if is_template(n) => return true,
            Some(n) => node = n,
            None => return false,
        }
    }
    false
}

/// `field` within `prefix` (`specs[0]` + `code` → `specs[0].code`).
pub fn within(prefix: &str, field: &str) -> String {
    match (prefix.is_empty(), field.is_empty()) {
        (true, _) => field.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{field}"),
    }
}

/// A spec's own fields against its kind's schema; `prefix` names where the spec sits (`specs[0]`).
pub fn check_spec(
    spec: &Spec,
    scheme: &Scheme,
    prefix: &str,
    issues: &mut Vec<FieldIssue>,
    warnings: &mut Vec<FieldIssue>,
) {
    for e in spec.validate() {
        issues.push(FieldIssue::new(within(prefix, &e.field), e.message));
    }
    let Some(codec) = scheme.get(&spec.kind) else {
        warnings.push(FieldIssue::new(
            within(prefix, "kind"),
            format!(
                "unknown kind \"{}\": the spec stays inactive until a chart of that name is applied",
                spec.kind
            ),
        ));
        return;
    };
    let fields = Json::Object(spec.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    if let Err(found) = codec.decode(&fields) {
        for i in found.into_iter().filter(|i| !templated(&fields, &i.field)) {
            issues.push(FieldIssue::new(within(prefix, &i.field), i.message));
        }
    }
}

/// A chart: its own shape, its name not a built-in kind, and each of its specs.
pub fn check_chart(
    chart: &Chart,
    scheme: &Scheme,
    issues: &mut Vec<FieldIssue>,
    warnings: &mut Vec<FieldIssue>,
) {
    for e in chart.validate() {
        issues.push(FieldIssue::new(e.field, e.message));
    }
    if scheme.is_built_in(&chart.name) {
        issues.push(FieldIssue::new(
            "name",
            format!(
                "\"{}\" is a built-in kind; a chart never overrides one",
                chart.name
            ),
        ));
    }
    for (i, spec) in chart.specs.iter().enumerate() {
        check_spec(spec, scheme, &format!("specs[{i}]"), issues, warnings);
    }
}
