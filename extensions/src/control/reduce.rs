//! `reduce`: folds the packets of a process into one value and answers with it when the process's
//! input ends (uniflow's reduce node, whose `action` and `init` it keeps). Each packet runs `action`
//! with the accumulator, the packet's payload and its index (CEL: `self[0]`, `self[1]`, `self[2]`;
//! JavaScript/TypeScript: `function (acc, cur, index)`); the result is the next accumulator. The
//! accumulator starts as `init` (`null` when unset) and belongs to the process.
//!
//! Replies (uniflow emits the running value per packet; weir's reduce collects, as DESIGN says):
//! every input but the last is answered with nothing when the next one arrives; the last one is held
//! open until the input ends, and then the accumulated value goes out on `out` and downstream's
//! reply to it (or the value itself, with `out` unconnected) is the last input's reply. An `action`
//! that fails answers its own input with the error (on `error` when connected) and leaves the
//! accumulator as it was (when that was the last input, the value still goes out on `out` at the
//! end, but no input's reply carries it). A process whose input ends before any packet folded emits
//! nothing. The held input keeps one unit of its link's credit: a link into `reduce` needs a
//! `buffer` of at least 2.
//!
//! Fields: `action` (code), `language` (default `cel`), `init`, `timeout` (of one `action` run,
//! default 10 s). Ports: `in` → `out`, `error`.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Input, Node, OutPort, Result, Value};

use super::language::{self, Options, Program};
use super::snippet::duration_schema;

/// The fields of a `reduce` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct ReduceFields {
    /// The fold: code that takes the accumulator, the payload and its index and returns the next
    /// accumulator. CEL sees them as `self[0]`, `self[1]`, `self[2]`; JavaScript's default export is
    /// called as `(acc, cur, index)`.
    pub action: String,
    /// The language of `action`: `cel` (the default), `javascript`, `typescript`, or a constant
    /// language (`text`, `json`, `yaml`).
    #[serde(default)]
    pub language: Option<String>,
    /// The accumulator's first value; `null` when unset.
    #[serde(default)]
    pub init: Option<serde_json::Value>,
    /// The deadline of one `action` run (`"500ms"`, `"2s"` or milliseconds); default 10s, `0` for none.
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<serde_json::Value>,
}

/// The `reduce` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReduceKind;

impl Kind for ReduceKind {
    const KIND: &'static str = "reduce";
    type Fields = ReduceFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Folds a process's packets with an action (acc, cur, index) from init; answers the last with the result."
    }

    fn compile(&self, fields: ReduceFields, _cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let timeout = match &fields.timeout {
            None | Some(serde_json::Value::Null) => Some(language::DEFAULT_TIMEOUT),
            Some(v) => Some(weir_codecs::coerce::to_duration(v, "timeout")?).filter(|t| !t.is_zero()),
        };
        let lang = fields.language.as_deref().unwrap_or("cel");
        let program = language::compile(lang, &fields.action, &Options { timeout }).map_err(|e| {
            let field = match e.field() {
                "code" => "action",
                other => other,
            };
            FieldIssue::new(field, e.to_string())
        })?;
        let init = fields.init.map(Value::from).unwrap_or_default();
        Ok(BoxedNode::new(Reduce::new(program, init)))
    }
}

/// The node.
pub struct Reduce {
    action: Arc<Program>,
    init: Value,
}

impl Reduce {
    pub fn new(action: Program, init: Value) -> Self {
        Reduce {
            action: Arc::new(action),
            init,
        }
    }
}

/// A process's accumulator: `None` until the first packet folds.
#[derive(Default)]
pub struct Acc {
    value: Option<Value>,
    index: i64,
}

impl Node for Reduce {
    type State = Acc;
    const ON_EOS: bool = false;

    async fn on_packet(&self, acc: &mut Acc, cx: &mut Cx, input: Input) -> Result<()> {
        let current = acc.value.clone().unwrap_or_else(|| self.init.clone());
        let index = acc.index;
        acc.index += 1;
        let args = vec![current, input.packet.value, Value::from(index)];
        let next = self.action.run_args(cx.process(), args).await?;
        acc.value = Some(next);
        cx.hold_reply();
        Ok(())
    }

    async fn on_finish(&self, acc: &mut Acc, cx: &mut Cx) -> Result<()> {
        match acc.value.clone() {
            Some(v) => cx.emit(OutPort::OUT, v).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "reduce_tests.rs"]
mod tests;
