//! `merge`: combines one packet from each of its in ports into one list (uniflow's merge node), with
//! the engine's input sync: `zip_all` (the default) fires once per origin present on every port, a
//! port that ended after exactly one packet being reused; `on_any` fires on every arrival with the
//! latest value of every port (`null` where a port has received nothing yet).
//!
//! Fields: `sync` (`zip_all` or `on_any`) and `inputs` (how many in ports, default 2; a node cannot
//! see who links to it, and `zip_all` has to know which ports to wait for). Ports: `in[*]` (`in` is
//! `in[0]`) → `out`, `error`. If one of the values is an error, that error is the result.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::sync::{ManyToOne, ManyToOneNode, SyncMode};
use weir_engine::{BoxedNode, Process, Result, Value};

/// How `merge` pairs its inputs.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum MergeSync {
    /// Once per origin present on every port (a port that ended after one packet is reused).
    #[default]
    ZipAll,
    /// On every arrival, with the latest value of every port.
    OnAny,
}

/// The fields of a `merge` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeFields {
    /// How inputs are paired: `zip_all` (default) or `on_any`.
    #[serde(default)]
    pub sync: MergeSync,
    /// The number of in ports, `in[0]` to `in[N-1]`; default 2.
    #[serde(default = "two")]
    #[schemars(range(min = 1, max = 1024))]
    pub inputs: usize,
}

fn two() -> usize {
    2
}

/// The `merge` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct MergeKind;

impl Kind for MergeKind {
    const KIND: &'static str = "merge";
    type Fields = MergeFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in[*]"], &["out", "error"])
    }

    fn doc(&self) -> &'static str {
        "Merges one packet per in port into a list, paired by zip_all (default) or on_any."
    }

    fn compile(&self, fields: MergeFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        if fields.inputs == 0 {
            return Err(FieldIssue::new("inputs", "a merge needs at least one in port"));
        }
        let mode = match fields.sync {
            MergeSync::ZipAll => SyncMode::ZipAll,
            MergeSync::OnAny => SyncMode::OnAny,
        };
        Ok(BoxedNode::new(ManyToOneNode::new(Merge, fields.inputs, mode)))
    }
}

/// The merge itself: the values in port order, `null` where absent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Merge;

impl ManyToOne for Merge {
    async fn call(&self, _process: &Arc<Process>, inputs: Vec<Option<Value>>) -> Result<Value> {
        let mut out = Vec::with_capacity(inputs.len());
        for v in inputs {
            match v {
                Some(Value::Error(e)) => return Err(e),
                Some(v) => out.push(v),
                None => out.push(Value::Null),
            }
        }
        Ok(Value::list(out))
    }
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
