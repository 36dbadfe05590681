//! `if`: sends the packet to `out[0]` when a CEL condition over `self` (the payload) holds, else to
//! `out[1]` (uniflow's if node). A condition that fails to evaluate or is not a boolean is an error.
//!
//! Fields: `when`. Ports: `in` → `out[0]` (also `out`), `out[1]`, `error`. A branch whose port is
//! unconnected answers with the packet itself.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result};

use super::condition::Condition;

/// The fields of an `if` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IfFields {
    /// A CEL expression over `self` (the payload) giving a boolean: true → `out[0]`, false → `out[1]`.
    pub when: String,
}

/// The `if` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct IfKind;

impl Kind for IfKind {
    const KIND: &'static str = "if";
    type Fields = IfFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &["out[0]", "out[1]", "error"])
    }

    fn doc(&self) -> &'static str {
        "Sends the packet to out[0] when the CEL condition `when` holds, else to out[1]."
    }

    fn compile(&self, fields: IfFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(If {
            when: Condition::compile(&fields.when, "when")?,
        }))
    }
}

/// The node.
#[derive(Debug, Clone)]
pub struct If {
    when: Condition,
}

impl Node for If {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let port = if self.when.test(cx.process(), &input.packet.value).await? {
            OutPort::Out(0)
        } else {
            OutPort::Out(1)
        };
        cx.emit_packet(port, input.packet).await
    }
}

#[cfg(test)]
#[path = "if_tests.rs"]
mod tests;
