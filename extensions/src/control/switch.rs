//! `switch`: sends the packet to the port of the first match whose CEL condition over `self` (the
//! payload) holds (uniflow's switch node). With no match the packet itself is the reply.
//!
//! Fields: `matches`, a list of `{when, port}`; `port` must be indexed (`out[0]`, `out[1]`…): `out`
//! alone is a validation error, as for the router. Ports: `in` → `out[*]`, `error`.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result};

use super::condition::Condition;

/// The fields of a `switch` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SwitchFields {
    /// The matches, tried in order; the first whose condition holds wins.
    #[serde(default)]
    pub matches: Vec<MatchField>,
}

/// One match.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MatchField {
    /// A CEL expression over `self` (the payload) giving a boolean.
    pub when: String,
    /// The indexed out port a match goes to: `out[0]`, `out[1]`…
    #[schemars(regex(pattern = r"^out\[[0-9]+\]$"))]
    pub port: String,
}

/// The `switch` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct SwitchKind;

/// Reads `out[N]` as `N`.
pub(crate) fn out_index(port: &str) -> Option<usize> {
    port.trim().strip_prefix("out[")?.strip_suffix(']')?.parse().ok()
}

impl Kind for SwitchKind {
    const KIND: &'static str = "switch";
    type Fields = SwitchFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &["out[*]", "error"])
    }

    fn doc(&self) -> &'static str {
        "Sends the packet to the port of the first match whose CEL condition holds; no match echoes it."
    }

    fn compile(&self, fields: SwitchFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let mut matches = Vec::with_capacity(fields.matches.len());
        for (i, m) in fields.matches.iter().enumerate() {
            let Some(port) = out_index(&m.port) else {
                let msg = if m.port.trim() == "out" {
                    "a match's port must be indexed: write out[0], not out".to_string()
                } else {
                    format!("{:?} is not an indexed out port like out[0]", m.port)
                };
                return Err(FieldIssue::new(format!("matches.{i}.port"), msg));
            };
            let when = Condition::compile(&m.when, &format!("matches.{i}.when"))?;
            matches.push((when, OutPort::Out(port)));
        }
        Ok(BoxedNode::new(Switch { matches }))
    }
}

/// The node.
#[derive(Debug, Clone)]
pub struct Switch {
    matches: Vec<(Condition, OutPort)>,
}

impl Node for Switch {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        for (when, port) in &self.matches {
            if when.test(cx.process(), &input.packet.value).await? {
                return cx.emit_packet(*port, input.packet).await;
            }
        }
        cx.reply(input.packet.value).await
    }
}

#[cfg(test)]
#[path = "switch_tests.rs"]
mod tests;
