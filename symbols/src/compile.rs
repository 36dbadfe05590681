//! From a stored spec to a node: bind its env (Values of the namespace by name or id, then the host's
//! `--env` for keys the spec does not set), render every string field containing `{{` as a Go template
//! when the spec has any env (uniflow's rule), and hand the fields to the kind's codec. Whatever fails
//! here becomes the symbol's status, in a sentence naming namespace, spec and field.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use weir_codecs::codec::{CompileContext, Scheme};
use weir_codecs::resource::{FieldError, FieldIssue, Spec, ValueResource};
use weir_codecs::template::{render_value, GoTemplate, Renderer};
use weir_engine::BoxedNode;

/// Env given to the host (`--env K=V`), seen by every spec for keys it does not set itself.
pub type HostEnv = BTreeMap<String, String>;

/// A spec's env after binding: key → data.
pub(crate) type BoundEnv = Map<String, Json>;

fn issue(spec: &Spec, field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError::for_spec(spec, FieldIssue::new(field, message))
}

/// The host env as the data templates see, built once per table.
pub(crate) fn host_env(host: &HostEnv) -> BoundEnv {
    host.iter()
        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
        .collect()
}

/// Binds a spec's env against the namespace's values and the host env (see [`host_env`]).
pub(crate) fn bind_env(spec: &Spec, values: &[ValueResource], host: &BoundEnv) -> Result<BoundEnv, String> {
    let renderer = GoTemplate;
    let mut env = host.clone();
    for (key, refs) in &spec.env {
        let mut bound = None;
        for r in refs {
            let source = if r.id.is_some() || r.name.is_some() {
                let found = values.iter().find(|v| {
                    v.namespace == spec.namespace
                        && (r.id.is_some() && v.id == r.id || r.name.is_some() && v.name == r.name)
                });
                match found {
                    Some(v) => v.data.clone(),
                    None => continue,
                }
            } else {
                Json::Object(host.clone())
            };
            let data = match &r.data {
                Some(template) => render_value(&renderer, template, &source)
                    .map_err(|e| issue(spec, format!("env.{key}"), e.to_string()).to_string())?,
                None => source,
            };
            bound = Some(data);
        }
        match bound {
            Some(data) => {
                env.insert(key.clone(), data);
            }
            None => {
                let wanted: Vec<String> = refs
                    .iter()
                    .map(|r| match (&r.name, &r.id) {
                        (Some(n), _) => format!("value \"{n}\""),
                        (None, Some(id)) => format!("value {id}"),
                        _ => "the host env".to_string(),
                    })
                    .collect();
                return Err(issue(
                    spec,
                    format!("env.{key}"),
                    format!("{} not found", wanted.join(" or ")),
                )
                .to_string());
            }
        }
    }
    Ok(env)
}

/// Renders the spec's own fields against its env (only when it has one) and compiles them.
pub(crate) fn compile(spec: &Spec, env: &BoundEnv, scheme: &Scheme) -> Result<BoxedNode, String> {
    let Some(codec) = scheme.get(&spec.kind) else {
        return Err(issue(spec, "kind", format!("unknown kind \"{}\"", spec.kind)).to_string());
    };
    let mut fields = Json::Object(spec.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    if !env.is_empty() {
        let renderer: &dyn Renderer = &GoTemplate;
        fields = render_value(renderer, &fields, &Json::Object(env.clone()))
            .map_err(|e| issue(spec, e.field.clone(), e.source.to_string()).to_string())?;
    }
    let name = spec.name_or_id();
    let cx = CompileContext::new(&spec.namespace, &name).with_scheme(scheme);
    codec.compile(&fields, &cx).map_err(|issues| {
        issues
            .into_iter()
            .map(|i| FieldError::for_spec(spec, i).to_string())
            .collect::<Vec<_>>()
            .join("; ")
    })
}
