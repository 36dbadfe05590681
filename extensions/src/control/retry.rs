//! `retry`: sends the packet to `out` and, while the reply is an error, sends it again, at most
//! `threshold` more times: a threshold of N means up to N+1 attempts (uniflow's retry node). The
//! reply of an attempt is read whole before it is judged (part of a failed reply cannot be taken
//! back), then forwarded. When every attempt failed, the last error goes to `error` when connected,
//! else it is the reply. With `out` unconnected the packet itself is the reply.
//!
//! Fields: `threshold` (default 0: one attempt). Ports: `in` → `out`, `error`.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result};

use super::request::Requests;

/// The fields of a `retry` spec.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryFields {
    /// How many times a failed packet is sent again: N means at most N+1 attempts. Default 0.
    #[serde(default)]
    #[schemars(range(max = 1000000))]
    pub threshold: u32,
}

/// The `retry` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryKind;

impl Kind for RetryKind {
    const KIND: &'static str = "retry";
    type Fields = RetryFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Sends the packet to out again while its reply is an error, up to `threshold` more times."
    }

    fn compile(&self, fields: RetryFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Retry {
            threshold: fields.threshold,
        }))
    }
}

/// The node.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retry {
    /// Attempts after the first.
    pub threshold: u32,
}

impl Node for Retry {
    type State = Requests;
    const ON_EOS: bool = false;

    async fn on_packet(&self, lanes: &mut Requests, cx: &mut Cx, input: Input) -> Result<()> {
        let process = cx.process().clone();
        let targets = cx.targets(OutPort::OUT).to_vec();
        let mut attempt = 0;
        loop {
            let pending = lanes.send(&process, 0, &targets, input.packet.clone()).await?;
            match lanes.collect(pending).await {
                Ok(values) => {
                    for v in values {
                        cx.reply(v).await?;
                    }
                    return Ok(());
                }
                Err(e) if attempt >= self.threshold || process.is_done() => return Err(e),
                Err(_) => attempt += 1,
            }
        }
    }

    async fn on_finish(&self, lanes: &mut Requests, _cx: &mut Cx) -> Result<()> {
        lanes.close();
        Ok(())
    }
}

#[cfg(test)]
#[path = "retry_tests.rs"]
mod tests;
