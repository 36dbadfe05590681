//! `block`: inner specs run as one node (uniflow's block node). `specs` are specs of any registered
//! kind; an inner spec without a name is named by its index (`$0`, `$1`…) and the inner specs link to
//! each other through their own `ports`. `inbounds` maps the block's in ports to inner specs' in
//! ports and `outbounds` maps its out ports to inner specs' out ports, as a chart does.
//!
//! Without `inbounds`, `in` goes to the first inner spec; without an `out` in `outbounds`, `out` comes
//! from the last one; without an `error` in `outbounds`, every inner `error` not linked inside goes to
//! the block's `error`. A block with no wiring at all (no `inbounds`, no `outbounds`, no inner
//! `ports`) chains its specs in order, as uniflow's block does. See [`super::subgraph`].
//!
//! Ports: `in[*]` (`in` is `in[0]`) and `io` → `out[*]`, `error`, as `inbounds`/`outbounds` map them.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Result};

use super::subgraph::{read_ports, read_specs, Composite, Defaults, Parts, Subgraph};

/// The fields of a `block` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockFields {
    /// The inner specs: specs of any kind (`kind` required), without `namespace` or `env` of their own.
    #[schemars(schema_with = "specs_schema")]
    pub specs: Vec<Json>,
    /// The block's in ports (`in`, `in[N]`, `io`) → inner specs' in ports: `{name|id, port}`, one or a list.
    #[serde(default)]
    #[schemars(schema_with = "bounds_schema")]
    pub inbounds: IndexMap<String, Json>,
    /// The block's out ports (`out`, `out[N]`, `error`) → inner specs' out ports: `{name|id, port}`.
    #[serde(default)]
    #[schemars(schema_with = "bounds_schema")]
    pub outbounds: IndexMap<String, Json>,
}

/// A list of inner specs.
pub(crate) fn specs_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["kind"],
            "properties": {"kind": {"type": "string", "minLength": 1}, "name": {"type": "string"}}
        }
    })
}

/// A map of port name → one reference `{name|id, port}` or a list of them.
fn bounds_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let port_ref = serde_json::json!({
        "type": "object",
        "required": ["port"],
        "properties": {
            "name": {"type": "string"},
            "id": {"type": "string"},
            "port": {"type": "string"}
        }
    });
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": {
            "anyOf": [port_ref, {"type": "array", "items": port_ref}]
        }
    })
}

/// The `block` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlockKind;

impl Kind for BlockKind {
    const KIND: &'static str = "block";
    type Fields = BlockFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in[*]", "io"], &["out[*]", "error"])
    }

    fn doc(&self) -> &'static str {
        "Runs inner specs as one node; inbounds and outbounds map its ports to theirs."
    }

    fn compile(&self, fields: BlockFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let specs = read_specs("specs", &fields.specs)?;
        let inbounds = read_ports("inbounds", &fields.inbounds)?;
        let outbounds = read_ports("outbounds", &fields.outbounds)?;
        let unwired = inbounds.is_empty() && outbounds.is_empty() && specs.iter().all(|s| s.ports.is_empty());
        let parts = Parts {
            specs,
            inbounds,
            outbounds,
            defaults: Defaults {
                chain: unwired,
                ends: true,
                errors: true,
            },
        };
        Ok(BoxedNode::new(Composite::new(Subgraph::compile(parts, cx)?)))
    }
}

#[cfg(test)]
#[path = "block_tests.rs"]
mod tests;
