//! `split`: divides a list payload into its elements, element i going out on `out[i]` (uniflow's
//! split node). A payload that is not a list goes out on `out[0]` as it is. Every element keeps the
//! input's lineage, so a `merge` with `zip_all` downstream pairs the parts of one input again.
//!
//! No fields. Ports: `in` → `out[*]` (`out` is `out[0]`), `error`. The reply is the replies of the
//! elements in order; an element whose port is unconnected answers with itself.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result, Value};

/// A `split` spec has no fields of its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitFields {}

/// The `split` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct SplitKind;

impl Kind for SplitKind {
    const KIND: &'static str = "split";
    type Fields = SplitFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &["out[*]", "error"])
    }

    fn doc(&self) -> &'static str {
        "Splits a list payload: element i goes out on out[i]; anything else goes out on out[0]."
    }

    fn compile(&self, _: SplitFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Split))
    }
}

/// The node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Split;

impl Node for Split {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        match &input.packet.value {
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    cx.emit_packet(OutPort::Out(i), input.packet.with_value(item.clone()))
                        .await?;
                }
                Ok(())
            }
            _ => cx.emit_packet(OutPort::OUT, input.packet).await,
        }
    }
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
