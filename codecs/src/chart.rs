//! Charts as kinds. A chart's `name` is a kind in its namespace: [`Scheme::with_charts`] gives a
//! namespace its own scheme, the built-in kinds plus one [`Codec`] per chart. Compiling a spec of a
//! chart's kind goes:
//!
//! 1. the chart's env: entries naming a Value (by name or id) were bound by the symbol table when the
//!    chart arrived ([`BoundChart::env`]); the others are the chart's arguments, their `data` rendered
//!    as a Go template against the instantiating spec's own fields (`FILENAME: {data: "{{ .file }}"}`
//!    with `file: a.db` in the spec); an argument without `data` takes the spec's field of its key;
//! 2. every inner spec's fields containing `{{` rendered against that env (when it is not empty);
//! 3. the scheme's [`ChartCompiler`] (registered by `weir-extensions`: a sub-graph run as one node)
//!    builds the node from the rendered chart, compiling inner specs with the namespace's scheme, so a
//!    chart may use another chart. A chart that contains itself, directly or not, is an error.
//!
//! Errors are reported on the instantiating spec's field `kind`, naming the chart and its field.

use std::cell::RefCell;
use std::sync::Arc;

use serde_json::{Map, Value as Json};
use weir_engine::BoxedNode;

use crate::codec::{Codec, CompileContext, Ports};
use crate::resource::{Chart, FieldIssue};
use crate::template::{render_value, GoTemplate};

/// Env data by key.
pub type ChartEnv = Map<String, Json>;

/// Builds the node of one use of a chart whose inner specs' fields are rendered already.
pub trait ChartCompiler: Send + Sync {
    /// Errors name the chart's field (`specs[0].code`, `inbounds.in[0]`).
    fn compile(&self, chart: &Chart, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue>;
}

/// A chart with the env entries that name Values bound (or why they could not be).
#[derive(Debug, Clone, PartialEq)]
pub struct BoundChart {
    pub chart: Chart,
    /// The entries that name a Value, bound; an error names the namespace, chart and field.
    pub env: Result<ChartEnv, String>,
}

/// The codec of a chart's kind.
pub(crate) struct ChartCodec {
    bound: BoundChart,
    schema: Json,
    compiler: Option<Arc<dyn ChartCompiler>>,
}

thread_local! {
    /// The charts being compiled on this thread, outermost first (a chart inside itself is refused).
    static COMPILING: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Pops the chart pushed on [`COMPILING`] when compiling it ends.
struct Compiling;

impl Compiling {
    fn enter(name: &str) -> Result<Compiling, String> {
        COMPILING.with(|c| {
            let mut c = c.borrow_mut();
            if c.iter().any(|n| n == name) {
                let mut path = c.clone();
                path.push(name.to_string());
                return Err(format!("chart \"{name}\" contains itself ({})", path.join(" → ")));
            }
            c.push(name.to_string());
            Ok(Compiling)
        })
    }
}

impl Drop for Compiling {
    fn drop(&mut self) {
        COMPILING.with(|c| {
            c.borrow_mut().pop();
        });
    }
}

impl ChartCodec {
    pub(crate) fn new(bound: BoundChart, compiler: Option<Arc<dyn ChartCompiler>>) -> Self {
        let chart = &bound.chart;
        let args: Vec<&String> = chart
            .env
            .iter()
            .filter(|(_, refs)| !refs.iter().any(|r| r.is_identified()))
            .map(|(k, _)| k)
            .collect();
        let schema = serde_json::json!({
            "type": "object",
            "title": chart.name,
            "description": format!(
                "chart \"{}\": its specs take their settings from the chart's env ({})",
                chart.name,
                args.iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
            ),
        });
        ChartCodec {
            bound,
            schema,
            compiler,
        }
    }

    fn issue(&self, field: &str, message: impl std::fmt::Display) -> FieldIssue {
        let name = &self.bound.chart.name;
        if field.is_empty() {
            FieldIssue::new("kind", format!("chart \"{name}\": {message}"))
        } else {
            FieldIssue::new("kind", format!("chart \"{name}\": field \"{field}\": {message}"))
        }
    }

    /// The chart's env for a spec with these (rendered) fields.
    fn env(&self, fields: &Json) -> Result<ChartEnv, FieldIssue> {
        let mut env = match &self.bound.env {
            Ok(env) => env.clone(),
            Err(e) => return Err(FieldIssue::new("kind", e.clone())),
        };
        for (key, refs) in &self.bound.chart.env {
            for r in refs.iter().filter(|r| !r.is_identified()) {
                let data = match &r.data {
                    Some(template) => render_value(&GoTemplate, template, fields)
                        .map_err(|e| self.issue(&format!("env.{key}"), e.source))?,
                    None => fields.get(key).cloned().unwrap_or(Json::Null),
                };
                env.insert(key.clone(), data);
            }
        }
        Ok(env)
    }
}

impl Codec for ChartCodec {
    fn kind(&self) -> &str {
        &self.bound.chart.name
    }

    fn schema(&self) -> &Json {
        &self.schema
    }

    fn ports(&self) -> Ports {
        let chart = &self.bound.chart;
        Ports {
            inputs: chart.inbounds.keys().cloned().collect(),
            outputs: chart.outbounds.keys().cloned().collect(),
        }
    }

    fn doc(&self) -> &str {
        self.bound
            .chart
            .annotations
            .get("description")
            .map(String::as_str)
            .unwrap_or("")
    }

    fn decode(&self, fields: &Json) -> Result<Json, Vec<FieldIssue>> {
        if fields.is_object() {
            Ok(fields.clone())
        } else {
            Err(vec![FieldIssue::new("", "a spec's fields are an object")])
        }
    }

    fn compile(&self, fields: &Json, cx: &CompileContext<'_>) -> Result<BoxedNode, Vec<FieldIssue>> {
        let fields = self.decode(fields)?;
        let chart = &self.bound.chart;
        let _guard = Compiling::enter(&chart.name).map_err(|e| vec![FieldIssue::new("kind", e)])?;
        let Some(compiler) = &self.compiler else {
            return Err(vec![
                self.issue("", "charts cannot be compiled here (no chart compiler)")
            ]);
        };
        let env = self.env(&fields).map_err(|e| vec![e])?;
        let mut rendered = chart.clone();
        if !env.is_empty() {
            let env = Json::Object(env);
            for (i, spec) in rendered.specs.iter_mut().enumerate() {
                let own = Json::Object(spec.fields.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
                let Json::Object(out) = render_value(&GoTemplate, &own, &env).map_err(|e| {
                    vec![self.issue(&crate::check::within(&format!("specs[{i}]"), &e.field), e.source)]
                })?
                else {
                    continue;
                };
                spec.fields = out.into_iter().collect();
            }
        }
        compiler
            .compile(&rendered, cx)
            .map_err(|e| vec![self.issue(&e.field, e.message)])
    }
}

/// Binds the env entries of `chart` that name a Value against the namespace's `values` (by id or
/// name, the entry's `data` rendered against the Value's data when given); the last entry found wins.
pub fn bind_chart_env(chart: &Chart, values: &[crate::resource::ValueResource]) -> Result<ChartEnv, String> {
    let mut env = ChartEnv::new();
    for (key, refs) in &chart.env {
        let named: Vec<_> = refs.iter().filter(|r| r.is_identified()).collect();
        if named.is_empty() {
            continue;
        }
        let mut bound = None;
        for r in &named {
            let Some(v) = values.iter().find(|v| {
                v.namespace == chart.namespace
                    && (r.id.is_some() && v.id == r.id || r.name.is_some() && v.name == r.name)
            }) else {
                continue;
            };
            let data = match &r.data {
                Some(template) => render_value(&GoTemplate, template, &v.data).map_err(|e| {
                    crate::resource::FieldError::for_chart(
                        chart,
                        FieldIssue::new(format!("env.{key}"), e.source.to_string()),
                    )
                    .to_string()
                })?,
                None => v.data.clone(),
            };
            bound = Some(data);
        }
        match bound {
            Some(data) => {
                env.insert(key.clone(), data);
            }
            None => {
                let wanted: Vec<String> = named
                    .iter()
                    .map(|r| match (&r.name, &r.id) {
                        (Some(n), _) => format!("value \"{n}\""),
                        (None, Some(id)) => format!("value {id}"),
                        _ => String::new(),
                    })
                    .collect();
                return Err(crate::resource::FieldError::for_chart(
                    chart,
                    FieldIssue::new(format!("env.{key}"), format!("{} not found", wanted.join(" or "))),
                )
                .to_string());
            }
        }
    }
    Ok(env)
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
