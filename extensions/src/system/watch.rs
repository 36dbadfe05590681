//! The `specs|values|charts.watch` opcodes of `syscall`: the check before a watch stream opens.
//!
//! The system workflow answers `GET /v1/<r>?watch=true` by upgrading the request to a WebSocket
//! (`gateway`) and keeping it as a `session` that a `signal` on the store topic feeds. What the
//! workflow cannot see by itself is the caller's reach: a scoped token's namespaces live in the
//! request's process (`auth.check` put them there), not in the request. This opcode reads them:
//! it refuses (`forbidden`) a `?namespace=` out of reach, and passes the request on with `reach`
//! added, the namespaces whose events this watcher may see (`null`: every namespace). The workflow
//! then filters each event against its session's `reach` in CEL.

use weir_engine::{Error, ErrorKind, Result, Value};

use super::ops::Scope;

/// The key the request gains: the namespaces the watcher sees, or `null` for all.
pub const REACH_KEY: &str = "reach";

/// The namespaces named by `?namespace=` (each value of the query list, empty ones skipped).
fn requested(request: &Value) -> Result<Option<Vec<String>>> {
    let Some(value) = request.get("query").and_then(|q| q.get("namespace")) else {
        return Ok(None);
    };
    let items: Vec<&Value> = match value {
        Value::List(l) => l.iter().collect(),
        Value::Null => Vec::new(),
        v => vec![v],
    };
    let mut names = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) if s.trim().is_empty() => {}
            Value::String(s) => names.push(s.trim().to_string()),
            other => {
                return Err(Error::new(
                    ErrorKind::UnsupportedType,
                    format!(
                        "query \"namespace\": expected a string, not {}",
                        other.type_name()
                    ),
                ))
            }
        }
    }
    Ok((!names.is_empty()).then_some(names))
}

/// Checks a watch request against `scope` and answers it with [`REACH_KEY`] set.
pub(crate) fn check(scope: &Scope, resource: &str, request: &Value) -> Result<Value> {
    let Value::Map(map) = request else {
        return Err(Error::new(
            ErrorKind::UnsupportedType,
            format!(
                "{resource}.watch: expected the HTTP request, not {}",
                request.type_name()
            ),
        ));
    };
    let reach = match requested(request)? {
        Some(names) => {
            for n in &names {
                scope.check(n)?;
            }
            Some(names)
        }
        None => scope.allowed.clone(),
    };
    let mut out = (**map).clone();
    out.insert(
        REACH_KEY.into(),
        match reach {
            Some(names) => Value::list(names.into_iter().map(Value::from)),
            None => Value::Null,
        },
    );
    Ok(Value::Map(std::sync::Arc::new(out)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn scope(allowed: Option<&[&str]>) -> Scope {
        Scope {
            node: "system".into(),
            allowed: allowed.map(|a| a.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn request(query: serde_json::Value) -> Value {
        Value::from(&serde_json::json!({"method": "GET", "path": "/v1/specs", "query": query}))
    }

    #[test]
    fn an_open_caller_without_a_namespace_sees_every_namespace() {
        let out = check(
            &scope(None),
            "specs",
            &request(serde_json::json!({"watch": ["true"]})),
        )
        .unwrap();
        assert_eq!(out.get(REACH_KEY), Some(&Value::Null));
        assert_eq!(out.get("path").and_then(Value::as_str), Some("/v1/specs"));
    }

    #[test]
    fn a_namespace_in_the_query_narrows_the_reach() {
        let out = check(
            &scope(None),
            "specs",
            &request(serde_json::json!({"namespace": ["a"]})),
        )
        .unwrap();
        assert_eq!(out.get(REACH_KEY).unwrap().to_json(), serde_json::json!(["a"]));
    }

    #[test]
    fn a_scoped_token_sees_its_namespaces_and_is_refused_others() {
        let s = scope(Some(&["app"]));
        let out = check(&s, "specs", &request(serde_json::json!({}))).unwrap();
        assert_eq!(out.get(REACH_KEY).unwrap().to_json(), serde_json::json!(["app"]));
        let e = check(&s, "specs", &request(serde_json::json!({"namespace": ["other"]}))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Forbidden);
        assert!(e.to_string().contains("namespace \"other\""), "{e}");
    }

    #[test]
    fn not_a_request_is_unsupported_type() {
        let e = check(&scope(None), "specs", &Value::from(3)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::UnsupportedType);
    }
}
