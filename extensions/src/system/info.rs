//! `namespaces.read` and `kinds.read`: what the host runs and what it can run.
//!
//! - `namespaces.read` answers `[{name, specs: [{id, name, kind, status, error?}]}]`, one entry per
//!   namespace holding specs within the caller's reach; `status` is `active` or `inactive` as a
//!   running host last recorded it, `unknown` when no host runs the namespace. A filter
//!   `{namespace}` (or `{name}`) picks one.
//! - `kinds.read` answers `[{name, builtin, schema, ports: {inputs, outputs}, doc}]`: every built-in
//!   kind, then the charts of the namespace asked for (`{namespace}`, default the caller's).

use std::collections::BTreeMap;

use serde_json::{json, Value as Json};
use weir_codecs::codec::Scheme;
use weir_engine::{Error, ErrorKind, Result, Value};
use weir_loader::Store;

use super::ops::{store_error, Scope};

fn wanted_namespace(input: &Value) -> Result<Option<String>> {
    let Some(map) = input.as_map() else {
        return match input {
            Value::Null => Ok(None),
            other => Err(Error::new(
                ErrorKind::UnsupportedType,
                format!(
                    "expected a filter object {{namespace}}, not {}",
                    other.type_name()
                ),
            )),
        };
    };
    for key in ["namespace", "name"] {
        match map.get(key) {
            Some(Value::String(s)) if !s.is_empty() => return Ok(Some(s.to_string())),
            Some(Value::List(l)) if l.len() == 1 => {
                if let Value::String(s) = &l[0] {
                    return Ok(Some(s.to_string()));
                }
            }
            _ => {}
        }
    }
    Ok(None)
}

pub(crate) fn namespaces(store: &dyn Store, scope: &Scope, input: &Value) -> Result<Value> {
    let only = wanted_namespace(input)?;
    if let Some(ns) = &only {
        scope.check(ns)?;
    }
    let statuses: BTreeMap<_, _> = store
        .statuses(only.as_deref())
        .map_err(store_error)?
        .into_iter()
        .map(|s| (s.id, s))
        .collect();
    let mut by_ns: BTreeMap<String, Vec<Json>> = BTreeMap::new();
    for spec in store.specs(only.as_deref()).map_err(store_error)? {
        if !scope.allows(&spec.namespace) {
            continue;
        }
        let status = spec.id.and_then(|id| statuses.get(&id));
        let mut entry = json!({
            "id": spec.id.map(|i| i.to_string()),
            "name": spec.name,
            "kind": spec.kind,
            "status": match status {
                None => "unknown",
                Some(s) if s.is_active() => "active",
                Some(_) => "inactive",
            },
        });
        if let (Some(s), Some(m)) = (status, entry.as_object_mut()) {
            if let Some(e) = &s.error {
                m.insert("error".into(), Json::String(e.clone()));
            }
        }
        by_ns.entry(spec.namespace.clone()).or_default().push(entry);
    }
    Ok(Value::from(Json::Array(
        by_ns
            .into_iter()
            .map(|(name, specs)| json!({"name": name, "specs": specs}))
            .collect(),
    )))
}

pub(crate) fn kinds(store: &dyn Store, scheme: &Scheme, scope: &Scope, input: &Value) -> Result<Value> {
    let ns = wanted_namespace(input)?.unwrap_or_else(|| scope.default_namespace());
    scope.check(&ns)?;
    let mut out = Vec::new();
    for name in scheme.kinds() {
        let Some(codec) = scheme.get(name) else { continue };
        out.push(json!({
            "name": name,
            "builtin": true,
            "schema": codec.schema(),
            "ports": codec.ports(),
            "doc": codec.doc(),
        }));
    }
    for chart in store.charts(Some(&ns)).map_err(store_error)? {
        if scheme.is_built_in(&chart.name) {
            continue;
        }
        let mut inputs: Vec<&String> = chart.inbounds.keys().collect();
        inputs.sort();
        let mut outputs: Vec<&String> = chart.outbounds.keys().collect();
        outputs.sort();
        let env: Vec<&String> = chart.env.keys().collect();
        out.push(json!({
            "name": chart.name,
            "builtin": false,
            "namespace": chart.namespace,
            "schema": {"type": "object", "description": "a chart: its specs take their settings from env", "env": env},
            "ports": {"inputs": inputs, "outputs": outputs},
            "doc": chart.annotations.get("description").cloned().unwrap_or_default(),
        }));
    }
    Ok(Value::from(Json::Array(out)))
}
