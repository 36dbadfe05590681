//! `snippet`: runs a piece of code per packet and answers with its result (uniflow's snippet node).
//! The code is compiled once, when the spec is compiled; see [`crate::control::language`] for the
//! languages (`text`, `json`, `yaml`, `cel`, `javascript`) and how each treats the payload.
//!
//! Fields: `language`, `code`, and `timeout` (a duration, `"500ms"` or a number of milliseconds; the
//! deadline of one run, default 10 s; `0` for none). Ports: `in` → `out`, `error`. A script's failure
//! (a `throw`, a CEL evaluation error, the timeout) goes to `error` when it is connected, else it is
//! the reply.
//!
//! A JavaScript (or TypeScript) generator function streams: each `yield` is emitted on `out` as it is
//! produced, each packet a child of the input's lineage, and the input's reply is the stream of
//! their replies. Any other result is emitted once with the input's own lineage.

use std::sync::Arc;

use futures::StreamExt;
use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::template::OneToOne;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Packet, Process, Result, Value};

use super::language::{self, Options, Piece, Program};

/// The fields of a `snippet` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct SnippetFields {
    /// The language of `code`: `text`, `json`, `yaml`, `cel`, `javascript` or `typescript`.
    pub language: String,
    /// The code. `text`: the answer itself; `json`/`yaml`: a constant value; `cel`: an expression over
    /// `self` (the payload); `javascript`/`typescript`: a module with `export default function (args)
    /// { ... }`, called with the payload (a generator function, `function*`, streams its yields).
    #[serde(default)]
    pub code: String,
    /// The deadline of one run (`"500ms"`, `"2s"` or a number of milliseconds); default 10s, `0` for
    /// none. A JavaScript run is interrupted at it; a CEL run is abandoned.
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<serde_json::Value>,
}

/// A duration: Go's syntax or a number of milliseconds.
pub(crate) fn duration_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": ["string", "integer", "number", "null"],
        "description": "a duration: \"500ms\", \"1.5s\", \"1h30m\", or a number of milliseconds"
    })
}

/// The `snippet` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct SnippetKind;

impl Kind for SnippetKind {
    const KIND: &'static str = "snippet";
    type Fields = SnippetFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Runs code (text, json, yaml, cel, javascript, typescript) on each payload and answers with its result; a JavaScript generator streams."
    }

    fn compile(&self, fields: SnippetFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Snippet::new(&fields)?))
    }
}

/// A compiled snippet: a node that runs its program on each payload.
#[derive(Debug, Clone)]
pub struct Snippet {
    program: Program,
}

impl Snippet {
    /// Compiles the snippet's code; errors name the field at fault.
    pub fn new(fields: &SnippetFields) -> std::result::Result<Self, FieldIssue> {
        let timeout = match &fields.timeout {
            None | Some(serde_json::Value::Null) => Some(language::DEFAULT_TIMEOUT),
            Some(v) => Some(weir_codecs::coerce::to_duration(v, "timeout")?).filter(|t| !t.is_zero()),
        };
        Self::with_options(&fields.language, &fields.code, &Options { timeout })
            .map_err(|e| FieldIssue::new(e.field(), e.to_string()))
    }

    /// Compiles `code` in `language`.
    pub fn with_options(
        language: &str,
        code: &str,
        options: &Options,
    ) -> std::result::Result<Self, language::CompileError> {
        Ok(Snippet {
            program: language::compile(language, code, options)?,
        })
    }
}

impl OneToOne for Snippet {
    async fn call(&self, process: &Arc<Process>, value: Value) -> Result<Value> {
        self.program.run(process, value).await
    }
}

impl Node for Snippet {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let origin = input.packet.origin;
        let stream = self.program.stream(cx.process(), input.packet.value);
        futures::pin_mut!(stream);
        let mut index = 0u32;
        while let Some(piece) = stream.next().await {
            match piece? {
                Piece::Result(v) => cx.emit(OutPort::OUT, v).await?,
                Piece::Yield(v) => {
                    cx.emit_packet(OutPort::OUT, Packet::new(v, origin.child(index)))
                        .await?;
                    index += 1;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "snippet_tests.rs"]
mod tests;
