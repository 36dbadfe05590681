//! `for`: sends each element of a list payload to `out[0]` as its own packet, then the replies,
//! joined in element order into one list, to `out[1]` (uniflow's for node). A payload that is not a
//! list is sent once, as it is. Each element's reply counts as one value: `null` when empty, the
//! value when one, a list when several. An error in any reply goes to `error` when connected, else it
//! is the reply. With `out[0]` unconnected each element answers with itself; with `out[1]`
//! unconnected the joined list is the reply.
//!
//! All elements are sent before the first reply is read, so the downstream works on them at once
//! (within its credit); `for` waits for every reply, since collecting is its job.
//!
//! No fields. Ports: `in` → `out[0]` (also `out`), `out[1]`, `error`.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Packet, Result, Value};

use super::request::{joined, Requests};

/// A `for` spec has no fields of its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForFields {}

/// The `for` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForKind;

impl Kind for ForKind {
    const KIND: &'static str = "for";
    type Fields = ForFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &["out[0]", "out[1]", "error"])
    }

    fn doc(&self) -> &'static str {
        "Sends each element of a list to out[0]; the replies, joined in order, go to out[1]."
    }

    fn compile(&self, _: ForFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(For))
    }
}

/// The node.
#[derive(Debug, Clone, Copy, Default)]
pub struct For;

impl Node for For {
    type State = Requests;
    const ON_EOS: bool = false;

    async fn on_packet(&self, lanes: &mut Requests, cx: &mut Cx, input: Input) -> Result<()> {
        let process = cx.process().clone();
        let targets = cx.targets(OutPort::Out(0)).to_vec();
        let packet = input.packet;
        let elements: Vec<Value> = match &packet.value {
            Value::List(items) => items.iter().cloned().collect(),
            other => vec![other.clone()],
        };
        let mut pending = Vec::with_capacity(elements.len());
        let mut failure = None;
        for (i, element) in elements.into_iter().enumerate() {
            let origin = packet.origin.child(u32::try_from(i).unwrap_or(u32::MAX));
            match lanes
                .send(&process, 0, &targets, Packet::new(element, origin))
                .await
            {
                Ok(p) => pending.push(p),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let mut results = Vec::with_capacity(pending.len());
        for p in pending {
            // Read every reply, even after an error, so the lanes stay in step for the next input.
            match lanes.collect(p).await {
                Ok(values) => results.push(joined(values)),
                Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
        cx.emit_packet(OutPort::Out(1), packet.with_value(Value::list(results)))
            .await
    }

    async fn on_finish(&self, lanes: &mut Requests, _cx: &mut Cx) -> Result<()> {
        lanes.close();
        Ok(())
    }
}

#[cfg(test)]
#[path = "for_tests.rs"]
mod tests;
