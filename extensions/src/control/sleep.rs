//! `sleep`: delays each packet by `interval`, then passes it on unchanged (uniflow's sleep node).
//! Packets of one process are delayed one after another (a process keeps its order); processes sleep
//! concurrently. When the process ends (cancelled, its caller gone) the sleep stops at once.
//!
//! Ports: `in` → `out`, `error`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result};

use super::snippet::duration_schema;

/// The fields of a `sleep` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SleepFields {
    /// How long each packet waits: `"500ms"`, `"2s"`, `"1h30m"` or a number of milliseconds.
    #[schemars(schema_with = "duration_schema")]
    pub interval: serde_json::Value,
}

/// The `sleep` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct SleepKind;

impl Kind for SleepKind {
    const KIND: &'static str = "sleep";
    type Fields = SleepFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Delays each packet by an interval, then passes it on."
    }

    fn compile(&self, fields: SleepFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let interval = weir_codecs::coerce::to_duration(&fields.interval, "interval")?;
        Ok(BoxedNode::new(Sleep { interval }))
    }
}

/// The node.
#[derive(Debug, Clone, Copy)]
pub struct Sleep {
    pub interval: Duration,
}

impl Node for Sleep {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        // The session drops this future when the process ends, which ends the sleep; the select
        // makes that explicit for callers that drive the node by hand.
        let process = cx.process().clone();
        tokio::select! {
            biased;
            _ = process.done() => return Err(process.ended_error()),
            _ = tokio::time::sleep(self.interval) => {}
        }
        cx.emit_packet(OutPort::OUT, input.packet).await
    }
}

#[cfg(test)]
#[path = "sleep_tests.rs"]
mod tests;
