//! The resource opcodes of `syscall`: `create`, `read`, `update`, `delete` over specs, values and
//! charts, within the caller's [`Scope`].
//!
//! - `create` takes one resource or a list; every entry is checked (shape, the kind's JSON Schema, a
//!   name or id not already used) before anything is written, and then all are written in one store
//!   write. Answers what it created, in the shape it was given.
//! - `read` takes a filter `{id, namespace, name}` (specs also `kind`; values `unmask`), each a string
//!   or a list of one (an HTTP query's shape); answers a list (uniflow's shape, which its scripts
//!   read as `args.length > 1 ? args : args[0]`), or with an unknown `id` `null`.
//!   A list of filters (uniflow's shape: `[{namespace: a}, {name: b}]`) answers what any of them
//!   selects, as a list; an empty list selects everything.
//! - `update` takes an RFC 7396 merge patch (or a list) naming its target by `id`, or by `name` (and
//!   `namespace`); the patch wins; the result is checked like a create. Answers the updated
//!   resources as a list, as uniflow does.
//! - `delete` takes a filter as `read` does (at least one of `id`, `namespace`, `name`); answers what
//!   it deleted; an unknown `id` is not found. A list of filters deletes what any selects, each
//!   filter naming at least one of those keys.
//!
//! Errors carry a category: bad input is `unsupported type` / `unsupported value`, a used name is
//! `conflict`, an unknown id `not found`, a namespace out of the caller's reach `forbidden`.

use std::collections::HashSet;

use serde_json::Value as Json;
use uuid::Uuid;
use weir_codecs::codec::Scheme;
use weir_codecs::resource::FieldIssue;
use weir_engine::{Error, ErrorKind, Result, Value};
use weir_loader::{Store, StoreError};

use super::resource::{merge_patch, Resource};

/// The namespaces a call may act on: its node's own, or any (or those of its token) in `system`.
#[derive(Debug, Clone)]
pub(crate) struct Scope {
    /// The namespace of the calling node.
    pub node: String,
    /// `None`: every namespace.
    pub allowed: Option<Vec<String>>,
}

impl Scope {
    pub fn allows(&self, namespace: &str) -> bool {
        self.allowed
            .as_ref()
            .is_none_or(|a| a.iter().any(|n| n == namespace))
    }

    /// Where a resource naming no namespace goes.
    pub fn default_namespace(&self) -> String {
        match &self.allowed {
            Some(a) if a.len() == 1 => a[0].clone(),
            _ if self.node != weir_engine::channel::SYSTEM => self.node.clone(),
            _ => weir_codecs::resource::DEFAULT_NAMESPACE.to_string(),
        }
    }

    pub fn check(&self, namespace: &str) -> Result<()> {
        if self.allows(namespace) {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "namespace \"{namespace}\" is out of reach of this caller (namespace \"{}\"{})",
                    self.node,
                    match &self.allowed {
                        Some(a) if self.node == weir_engine::channel::SYSTEM =>
                            format!(", token scoped to {a:?}"),
                        _ => String::new(),
                    }
                ),
            ))
        }
    }
}

/// `namespace "x": spec "y": field "f": message`.
fn sentence(namespace: &str, one: &str, name: Option<&str>, field: &str, message: &str) -> String {
    let mut s = format!("namespace \"{namespace}\": {one}");
    match name {
        Some(n) => s.push_str(&format!(" \"{n}\"")),
        None => s.push_str(" (unnamed)"),
    }
    if !field.is_empty() {
        s.push_str(&format!(": field \"{field}\""));
    }
    s.push_str(": ");
    s.push_str(message);
    s
}

pub(crate) fn store_error(e: StoreError) -> Error {
    match e {
        StoreError::Duplicate { .. } => Error::new(ErrorKind::Conflict, e.to_string()),
        StoreError::Unidentified { .. } => Error::new(ErrorKind::UnsupportedValue, e.to_string()),
        StoreError::Backend(_) => Error::new(ErrorKind::Internal, e.to_string()),
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::UnsupportedValue, message)
}

/// A payload that is one object or a list of objects, and whether it was a list.
fn entries(input: &Value, what: &str) -> Result<(Vec<Json>, bool)> {
    match input {
        Value::Map(_) => Ok((vec![input.to_json()], false)),
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if !matches!(item, Value::Map(_)) {
                    return Err(Error::new(
                        ErrorKind::UnsupportedType,
                        format!("entry {i}: {what} must be an object, not {}", item.type_name()),
                    ));
                }
                out.push(item.to_json());
            }
            if out.is_empty() {
                return Err(bad(format!("the list is empty: nothing to {what}")));
            }
            Ok((out, true))
        }
        other => Err(Error::new(
            ErrorKind::UnsupportedType,
            format!(
                "body: expected {what} as an object or a list of objects, not {}",
                other.type_name()
            ),
        )),
    }
}

fn answer(items: Vec<Json>, many: bool) -> Value {
    if many {
        Value::from(Json::Array(items))
    } else {
        items.into_iter().next().map(Value::from).unwrap_or(Value::Null)
    }
}

fn store_list<R: Resource>(store: &dyn Store, ns: Option<&str>) -> Result<Vec<R>> {
    R::list(store, ns).map_err(store_error)
}

/// Every problem found, as one error: bad input first, else conflicts.
fn verdict(bad_input: Vec<String>, conflicts: Vec<String>) -> Result<()> {
    if !bad_input.is_empty() {
        return Err(bad(format!(
            "{} error(s), nothing was written: {}",
            bad_input.len(),
            bad_input.join("; ")
        )));
    }
    if !conflicts.is_empty() {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!("nothing was written: {}", conflicts.join("; ")),
        ));
    }
    Ok(())
}

pub(crate) fn create<R: Resource>(
    store: &dyn Store,
    scheme: &Scheme,
    scope: &Scope,
    input: &Value,
) -> Result<Value> {
    let (raw, many) = entries(input, "a resource")?;
    let mut items = Vec::with_capacity(raw.len());
    let mut bad_input = Vec::new();
    let mut conflicts = Vec::new();
    for (i, mut j) in raw.into_iter().enumerate() {
        if let Some(m) = j.as_object_mut() {
            if m.get("namespace").is_none_or(|n| n.is_null() || n == "") {
                m.insert("namespace".into(), Json::String(scope.default_namespace()));
            }
        }
        let ns = j
            .get("namespace")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        match R::from_json(&j) {
            Ok(item) => items.push(item),
            Err(issue) => bad_input.push(sentence(
                &ns,
                &format!("{} entry {i}", R::ONE),
                None,
                &issue.field,
                &issue.message,
            )),
        }
    }
    for item in &items {
        scope.check(item.namespace())?;
    }
    let existing = store_list::<R>(store, None)?;
    let mut names = HashSet::new();
    let mut ids = HashSet::new();
    for item in &items {
        let say = |field: &str, msg: &str| sentence(item.namespace(), R::ONE, item.name(), field, msg);
        let mut issues: Vec<FieldIssue> = Vec::new();
        if item.name().is_none() {
            issues.push(FieldIssue::new("name", "is required to create a resource"));
        }
        item.check(scheme, &mut issues);
        bad_input.extend(issues.iter().map(|i| say(&i.field, &i.message)));
        if let Some(name) = item.name() {
            if !names.insert((item.namespace().to_string(), name.to_string())) {
                bad_input.push(say("name", "appears twice in this request"));
            }
            if let Some(other) = existing
                .iter()
                .find(|e| e.namespace() == item.namespace() && e.name() == Some(name))
            {
                let other = other.id().map(|i| i.to_string()).unwrap_or_default();
                conflicts.push(say("name", &format!("already used by {other}")));
            }
        }
        if let Some(id) = item.id() {
            if !ids.insert(id) {
                bad_input.push(say("id", "appears twice in this request"));
            }
            if existing.iter().any(|e| e.id() == Some(id)) {
                conflicts.push(say("id", &format!("{id} already exists")));
            }
        }
    }
    verdict(bad_input, conflicts)?;
    for item in &mut items {
        item.ensure_id();
    }
    R::apply(store, items.clone()).map_err(store_error)?;
    Ok(answer(items.iter().map(R::to_json).collect(), many))
}

/// A parsed read/delete filter.
#[derive(Debug, Default)]
struct Filter {
    id: Option<Uuid>,
    namespace: Option<String>,
    name: Option<String>,
    extra: Vec<(String, String)>,
    unmask: bool,
}

/// A filter value: a string, or a list of one string (an HTTP query's shape).
fn text(key: &str, v: &Value) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.to_string())),
        Value::List(l) if l.is_empty() => Ok(None),
        Value::List(l) if l.len() == 1 => text(key, &l[0]),
        other => Err(Error::new(
            ErrorKind::UnsupportedType,
            format!("field \"{key}\": expected a string, not {}", other.type_name()),
        )),
    }
}

fn filter(input: &Value) -> Result<Filter> {
    let mut f = Filter::default();
    let map = match input {
        Value::Null => return Ok(f),
        Value::Map(m) => m,
        other => {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!(
                    "expected a filter object {{id, namespace, name}}, not {}",
                    other.type_name()
                ),
            ))
        }
    };
    for (k, v) in map.iter() {
        match k.as_str() {
            "id" => {
                if let Some(s) = text(k, v)? {
                    f.id = Some(
                        Uuid::parse_str(s.trim())
                            .map_err(|e| bad(format!("field \"id\": {s:?} is not a UUID: {e}")))?,
                    );
                }
            }
            "namespace" => f.namespace = text(k, v)?.filter(|s| !s.is_empty()),
            "name" => f.name = text(k, v)?.filter(|s| !s.is_empty()),
            "unmask" => {
                f.unmask = match v {
                    Value::Bool(b) => *b,
                    other => text(k, other)?.is_some_and(|s| s == "true" || s == "1"),
                }
            }
            _ => {
                if let Ok(Some(s)) = text(k, v) {
                    f.extra.push((k.clone(), s));
                }
            }
        }
    }
    Ok(f)
}

fn select<R: Resource>(store: &dyn Store, scope: &Scope, f: &Filter) -> Result<Vec<R>> {
    if let Some(ns) = &f.namespace {
        scope.check(ns)?;
    }
    Ok(store_list::<R>(store, f.namespace.as_deref())?
        .into_iter()
        .filter(|r| scope.allows(r.namespace()))
        .filter(|r| f.id.is_none_or(|id| r.id() == Some(id)))
        .filter(|r| f.name.as_deref().is_none_or(|n| r.name() == Some(n)))
        .filter(|r| f.extra.iter().all(|(k, v)| r.matches_extra(k, v).unwrap_or(true)))
        .collect())
}

/// The filters of a `read` or `delete`: one filter object, or a list of them (uniflow's shape, one
/// `{key: value}` per query value) whose matches are joined, each once, in store order.
fn filters(input: &Value) -> Result<Option<Vec<Filter>>> {
    match input {
        Value::List(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| filter(item).map_err(|e| e.context(format!("filter {i}"))))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        _ => Ok(None),
    }
}

/// What any of `fs` selects, each once (an empty list selects everything).
fn select_any<R: Resource>(store: &dyn Store, scope: &Scope, fs: &[Filter]) -> Result<Vec<R>> {
    if fs.is_empty() {
        return select::<R>(store, scope, &Filter::default());
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for f in fs {
        for r in select::<R>(store, scope, f)? {
            if seen.insert(r.id()) {
                out.push(r);
            }
        }
    }
    Ok(out)
}

pub(crate) fn read<R: Resource>(store: &dyn Store, scope: &Scope, input: &Value) -> Result<Value> {
    if let Some(fs) = filters(input)? {
        let unmask = fs.iter().any(|f| f.unmask);
        let found = select_any::<R>(store, scope, &fs)?;
        return Ok(Value::from(Json::Array(
            found.iter().map(|r| r.shown(unmask)).collect(),
        )));
    }
    let f = filter(input)?;
    let found = select::<R>(store, scope, &f)?;
    if f.id.is_some() && found.is_empty() {
        return Ok(Value::Null);
    }
    Ok(Value::from(Json::Array(
        found.iter().map(|r| r.shown(f.unmask)).collect(),
    )))
}

pub(crate) fn delete<R: Resource>(store: &dyn Store, scope: &Scope, input: &Value) -> Result<Value> {
    let needs = "a delete needs a filter: at least one of \"id\", \"namespace\", \"name\"";
    if let Some(fs) = filters(input)? {
        if fs.is_empty()
            || fs
                .iter()
                .any(|f| f.id.is_none() && f.namespace.is_none() && f.name.is_none())
        {
            return Err(bad(format!("{needs} in every filter of the list")));
        }
        let found = select_any::<R>(store, scope, &fs)?;
        let ids: Vec<Uuid> = found.iter().filter_map(R::id).collect();
        R::delete(store, &ids).map_err(store_error)?;
        return Ok(answer(found.iter().map(|r| r.shown(false)).collect(), true));
    }
    let f = filter(input)?;
    if f.id.is_none() && f.namespace.is_none() && f.name.is_none() {
        return Err(bad(needs));
    }
    let found = select::<R>(store, scope, &f)?;
    if let Some(id) = f.id {
        if found.is_empty() {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("{} {id} not found", R::ONE),
            ));
        }
    }
    let ids: Vec<Uuid> = found.iter().filter_map(R::id).collect();
    R::delete(store, &ids).map_err(store_error)?;
    let shown: Vec<Json> = found.iter().map(|r| r.shown(false)).collect();
    Ok(answer(shown, f.id.is_none()))
}

pub(crate) fn update<R: Resource>(
    store: &dyn Store,
    scheme: &Scheme,
    scope: &Scope,
    input: &Value,
) -> Result<Value> {
    let (patches, _) = entries(input, "a merge patch")?;
    let existing = store_list::<R>(store, None)?;
    let mut out = Vec::with_capacity(patches.len());
    let mut bad_input = Vec::new();
    let mut conflicts = Vec::new();
    let mut seen = HashSet::new();
    for (i, patch) in patches.iter().enumerate() {
        let id = match patch.get("id") {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(
                Uuid::parse_str(s.trim())
                    .map_err(|e| bad(format!("patch {i}: field \"id\": {s:?} is not a UUID: {e}")))?,
            ),
            Some(other) => {
                return Err(Error::new(
                    ErrorKind::UnsupportedType,
                    format!("patch {i}: field \"id\": expected a string, not {other}"),
                ))
            }
        };
        let target = match (id, patch.get("name").and_then(Json::as_str)) {
            (Some(id), _) => existing
                .iter()
                .find(|e| e.id() == Some(id) && scope.allows(e.namespace()))
                .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("{} {id} not found", R::ONE)))?,
            (None, Some(name)) => {
                let ns = patch
                    .get("namespace")
                    .and_then(Json::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| scope.default_namespace());
                scope.check(&ns)?;
                existing
                    .iter()
                    .find(|e| e.namespace() == ns && e.name() == Some(name))
                    .ok_or_else(|| {
                        Error::new(
                            ErrorKind::NotFound,
                            format!("namespace \"{ns}\": {} \"{name}\" not found", R::ONE),
                        )
                    })?
            }
            (None, None) => {
                return Err(bad(format!(
                    "patch {i}: field \"id\": an update names its target by \"id\" or \"name\""
                )))
            }
        };
        let target_id = target.id();
        if !seen.insert(target_id) {
            bad_input.push(format!("patch {i}: updates the same {} twice", R::ONE));
            continue;
        }
        let mut merged = target.to_json();
        let mut patch = patch.clone();
        if id.is_some() {
            // The name in a patch by id renames; by name it identifies, so it stays.
        } else if let Some(m) = patch.as_object_mut() {
            m.remove("name");
        }
        merge_patch(&mut merged, &patch);
        let say = |field: &str, msg: &str| sentence(target.namespace(), R::ONE, target.name(), field, msg);
        if merged.get("namespace").and_then(Json::as_str) != Some(target.namespace()) {
            bad_input.push(say("namespace", "cannot change: delete and create instead"));
            continue;
        }
        if let Some(m) = merged.as_object_mut() {
            if let Some(id) = target_id {
                m.insert("id".into(), Json::String(id.to_string()));
            }
        }
        let item = match R::from_json(&merged) {
            Ok(item) => item,
            Err(issue) => {
                bad_input.push(say(&issue.field, &issue.message));
                continue;
            }
        };
        let mut issues = Vec::new();
        item.check(scheme, &mut issues);
        bad_input.extend(issues.iter().map(|i| say(&i.field, &i.message)));
        match item.name() {
            None => bad_input.push(say("name", "cannot be removed")),
            Some(name) => {
                if let Some(other) = existing.iter().find(|e| {
                    e.namespace() == item.namespace() && e.name() == Some(name) && e.id() != target_id
                }) {
                    let other = other.id().map(|i| i.to_string()).unwrap_or_default();
                    conflicts.push(say("name", &format!("\"{name}\" is already used by {other}")));
                }
            }
        }
        out.push(item);
    }
    verdict(bad_input, conflicts)?;
    R::apply(store, out.clone()).map_err(store_error)?;
    Ok(answer(out.iter().map(R::to_json).collect(), true))
}
