//! `step`: inner specs run as a chain (uniflow's step node): the packet goes to the first, each one's
//! `out` feeds the next one's `in`, and the last one's reply is the step's reply, element by element
//! as it comes. Every inner `error` not linked inside goes to the step's `error` (when that is
//! unconnected, the error is the reply). One inner spec is a chain too. See [`super::subgraph`].
//!
//! Fields: `specs`, specs of any registered kind (named `$0`, `$1`… when they have no name).
//! Ports: `in` → `out`, `error`.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value as Json;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Result};

use super::block::specs_schema;
use super::subgraph::{read_specs, Composite, Defaults, Parts, Subgraph};

/// The fields of a `step` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StepFields {
    /// The inner specs, in chain order: specs of any kind (`kind` required).
    #[schemars(schema_with = "specs_schema")]
    pub specs: Vec<Json>,
}

/// The `step` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct StepKind;

impl Kind for StepKind {
    const KIND: &'static str = "step";
    type Fields = StepFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Runs inner specs as a chain: each one's out feeds the next one's in."
    }

    fn compile(&self, fields: StepFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let parts = Parts {
            specs: read_specs("specs", &fields.specs)?,
            defaults: Defaults {
                chain: true,
                ends: true,
                errors: true,
            },
            ..Parts::default()
        };
        Ok(BoxedNode::new(Composite::new(Subgraph::compile(parts, cx)?)))
    }
}

#[cfg(test)]
#[path = "step_tests.rs"]
mod tests;
