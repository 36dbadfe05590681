//! `try`: sends the packet to `out` and watches the reply (uniflow's try node): its elements are the
//! reply as they come, and an error in it is caught and sent to `error`, whose reply then ends the
//! node's reply. With `error` unconnected the error stays the reply. With `out` unconnected the packet
//! itself is the reply.
//!
//! No fields. Ports: `in` → `out`, `error`.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result, Value};

use super::request::Requests;

/// A `try` spec has no fields of its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TryFields {}

/// The `try` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct TryKind;

impl Kind for TryKind {
    const KIND: &'static str = "try";
    type Fields = TryFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Sends the packet to out; an error in out's reply is caught and sent to error."
    }

    fn compile(&self, _: TryFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Try))
    }
}

/// The node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Try;

impl Node for Try {
    type State = Requests;
    const ON_EOS: bool = false;

    async fn on_packet(&self, lanes: &mut Requests, cx: &mut Cx, input: Input) -> Result<()> {
        let process = cx.process().clone();
        let targets = cx.targets(OutPort::OUT).to_vec();
        let mut pending = lanes.send(&process, 0, &targets, input.packet.clone()).await?;
        while let Some(element) = lanes.next(&mut pending).await {
            match element {
                Ok(v) => cx.reply(v).await?,
                Err(e) => {
                    return cx
                        .emit_packet(OutPort::Error, input.packet.with_value(Value::Error(e)))
                        .await
                }
            }
        }
        Ok(())
    }

    async fn on_finish(&self, lanes: &mut Requests, _cx: &mut Cx) -> Result<()> {
        lanes.close();
        Ok(())
    }
}

#[cfg(test)]
#[path = "try_tests.rs"]
mod tests;
