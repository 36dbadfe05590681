//! `apply`'s checks before anything is written: each entry decodes, has a name or an id, is not
//! named twice in the batch, and (specs, and the specs inside charts) its own fields match its kind's
//! JSON Schema. Fields holding a Go template (`'{{ .PORT }}'`) are checked only once rendered, when
//! the spec loads. An unknown kind is not an error here (a chart may define it later); it is a
//! warning, and the spec stays inactive until its kind exists.

use std::collections::HashSet;

use serde_json::Value as Json;
use weir_codecs::check::{check_chart, check_spec};
use weir_codecs::codec::Scheme;
use weir_codecs::resource::{Chart, FieldIssue, Spec, ValueResource};

use crate::resources::{Entry, Stored, MASK};

/// A problem, reading as a sentence: `FILE: entry N: namespace "x": spec "y": field "f": …`.
pub fn sentence(origin: &str, namespace: &str, kind: &str, name: Option<&str>, issue: &FieldIssue) -> String {
    let mut s = format!("{origin}: namespace {namespace:?}: {kind}");
    match name {
        Some(n) => s.push_str(&format!(" {n:?}")),
        None => s.push_str(" (unnamed)"),
    }
    if !issue.field.is_empty() {
        s.push_str(&format!(": field {:?}", issue.field));
    }
    s.push_str(": ");
    s.push_str(&issue.message);
    s
}

/// What validating a batch found.
#[derive(Default)]
pub struct Report {
    pub errors: Vec<String>,
    pub warnings: Vec<String>,
}

/// A resource kind's own checks.
pub trait Check: Stored {
    fn check(&self, scheme: &Scheme, report: &mut Vec<FieldIssue>, warnings: &mut Vec<FieldIssue>);
}

impl Check for Spec {
    fn check(&self, scheme: &Scheme, issues: &mut Vec<FieldIssue>, warnings: &mut Vec<FieldIssue>) {
        check_spec(self, scheme, "", issues, warnings);
    }
}

impl Check for ValueResource {
    fn check(&self, _: &Scheme, issues: &mut Vec<FieldIssue>, _: &mut Vec<FieldIssue>) {
        if self.data == Json::String(MASK.into()) {
            issues.push(FieldIssue::new(
                "data",
                "is the mask `weir get` prints: applying it would overwrite the data; get the value with --show-values to edit it",
            ));
        }
    }
}

impl Check for Chart {
    fn check(&self, scheme: &Scheme, issues: &mut Vec<FieldIssue>, warnings: &mut Vec<FieldIssue>) {
        check_chart(self, scheme, issues, warnings);
    }
}

/// Checks every entry; returns the decoded resources when there is no error.
pub fn validate<T: Check>(entries: Vec<Entry<T>>, scheme: &Scheme) -> (Vec<T>, Report) {
    let mut report = Report::default();
    let mut items = Vec::with_capacity(entries.len());
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for entry in entries {
        let say = |issue: &FieldIssue| {
            sentence(
                &entry.origin,
                &entry.namespace,
                T::KIND,
                entry.name.as_deref(),
                issue,
            )
        };
        let item = match entry.decoded {
            Ok(item) => item,
            Err(issue) => {
                report.errors.push(say(&issue));
                continue;
            }
        };
        let mut issues = Vec::new();
        let mut warnings = Vec::new();
        if item.id().is_none() && item.name().is_none() {
            issues.push(FieldIssue::new(
                "name",
                "an entry needs a name or an id (it would otherwise match nothing to update)",
            ));
        }
        if let Some(name) = item.name() {
            if !names.insert((item.namespace().to_string(), name.to_string())) {
                issues.push(FieldIssue::new("name", "appears twice in this apply"));
            }
        }
        if let Some(id) = item.id() {
            if !ids.insert(id) {
                issues.push(FieldIssue::new("id", "appears twice in this apply"));
            }
        }
        item.check(scheme, &mut issues, &mut warnings);
        report.errors.extend(issues.iter().map(say));
        report.warnings.extend(warnings.iter().map(say));
        items.push(item);
    }
    (items, report)
}

#[cfg(test)]
#[path = "validate_tests.rs"]
mod tests;
