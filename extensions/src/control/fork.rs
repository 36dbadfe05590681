//! `fork`: answers its caller at once with nothing (`None`) and sends the packet to `out` in a child
//! process of the caller's (uniflow's fork node), so the work downstream does not hold the caller.
//! When `out`'s reply is an error and `error` is connected, the error is sent there, still in the
//! child. The child process exits when that work is done: with the error when it failed and was not
//! handled, else with success.
//!
//! The child is a child: it sees its parent's store, and it ends when the parent ends (DESIGN:
//! a parent's exit ends its children), so work forked from a request is cut short when the request's
//! process ends before it is done.
//!
//! No fields. Ports: `in` → `out`, `error`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::slot::Target;
use weir_engine::{BoxedNode, Cx, Input, Node, Origin, OutPort, Packet, Process, Result, Value};

use super::request::Requests;

/// A `fork` spec has no fields of its own.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForkFields {}

/// The `fork` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForkKind;

impl Kind for ForkKind {
    const KIND: &'static str = "fork";
    type Fields = ForkFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Answers at once with nothing and sends the packet to out in a child process."
    }

    fn compile(&self, _: ForkFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Fork))
    }
}

/// The node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fork;

impl Node for Fork {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let child = cx.process().fork();
        let out = cx.targets(OutPort::OUT).to_vec();
        let error = cx.targets(OutPort::Error).to_vec();
        let packet = Packet::new(input.packet.value, Origin::entry(child.id(), 0));
        tokio::spawn(run_child(child, out, error, packet));
        Ok(())
    }
}

/// The child's work: `out`, then `error` if `out` failed; then the child's exit.
async fn run_child(child: Arc<Process>, out: Vec<Target>, error: Vec<Target>, packet: Packet) {
    let mut lanes = Requests::default();
    let work = async {
        let p = lanes.send(&child, 0, &out, packet.clone()).await?;
        match lanes.collect(p).await {
            Ok(_) => Ok(()),
            Err(e) if error.is_empty() => Err(e),
            Err(e) => {
                let p = lanes
                    .send(&child, 1, &error, packet.with_value(Value::Error(e)))
                    .await?;
                lanes.collect(p).await.map(|_| ())
            }
        }
    };
    let result = tokio::select! {
        biased;
        _ = child.done() => return,
        r = work => r,
    };
    lanes.close();
    child.exit(result.err());
}

#[cfg(test)]
#[path = "fork_tests.rs"]
mod tests;
