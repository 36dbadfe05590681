//! `pipe`: sends the packet to `out[0]`, then each element of that reply to `out[1]`; the node's
//! reply is what `out[1]` answers (uniflow's pipe node). An error in `out[0]`'s reply goes to
//! `error` when connected, else it is the reply. With `out[0]` unconnected the packet itself goes on
//! to `out[1]`; with `out[1]` unconnected the elements of `out[0]`'s reply are the reply. The reply
//! streams: each element of `out[0]`'s reply goes on as soon as it arrives.
//!
//! No fields. Ports: `in` → `out[0]` (also `out`), `out[1]`, `error`.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result};

use super::request::Requests;

/// A `pipe` spec has no fields of its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PipeFields {}

/// The `pipe` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct PipeKind;

impl Kind for PipeKind {
    const KIND: &'static str = "pipe";
    type Fields = PipeFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &["out[0]", "out[1]", "error"])
    }

    fn doc(&self) -> &'static str {
        "Sends the packet to out[0] and each element of its reply to out[1]; out[1]'s reply is the reply."
    }

    fn compile(&self, _: PipeFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Pipe))
    }
}

/// The node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pipe;

impl Node for Pipe {
    type State = Requests;
    const ON_EOS: bool = false;

    async fn on_packet(&self, lanes: &mut Requests, cx: &mut Cx, input: Input) -> Result<()> {
        let process = cx.process().clone();
        let first = cx.targets(OutPort::Out(0)).to_vec();
        let packet = input.packet;
        let mut pending = lanes.send(&process, 0, &first, packet.clone()).await?;
        while let Some(element) = lanes.next(&mut pending).await {
            cx.emit_packet(OutPort::Out(1), packet.with_value(element?))
                .await?;
        }
        Ok(())
    }

    async fn on_finish(&self, lanes: &mut Requests, _cx: &mut Cx) -> Result<()> {
        lanes.close();
        Ok(())
    }
}

#[cfg(test)]
#[path = "pipe_tests.rs"]
mod tests;
