//! `throw`: answers every packet with an error (uniflow's throw node). The error's message is the
//! spec's `message` when it has one, else it is built from the payload: a string is the message, an
//! error is re-thrown as it is, a list joins the messages of its non-null elements with `": "`, any
//! other value is its JSON text. A `null` payload with no `message` still throws (uniflow answers it
//! with nothing; a node named throw that does not throw surprises).
//!
//! Ports: `in` → `error`. With `error` connected, the error packet goes there; otherwise the error is
//! the reply.

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_engine::{BoxedNode, Cx, Error, Input, Node, Result, Value};

/// The fields of a `throw` spec.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ThrowFields {
    /// A fixed error message; when absent the message is built from the payload.
    #[serde(default)]
    pub message: Option<String>,
}

/// The `throw` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct ThrowKind;

impl Kind for ThrowKind {
    const KIND: &'static str = "throw";
    type Fields = ThrowFields;

    fn ports(&self) -> Ports {
        Ports::new(&["in"], &["error"])
    }

    fn doc(&self) -> &'static str {
        "Answers every packet with an error built from the payload, or with a fixed message."
    }

    fn compile(&self, fields: ThrowFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(Throw {
            message: fields.message,
            name: cx.name.to_string(),
        }))
    }
}

/// The node: every input fails with the error it builds.
#[derive(Debug, Clone)]
pub struct Throw {
    message: Option<String>,
    name: String,
}

impl Throw {
    /// A node that throws `message`, or builds the message from each payload when it is `None`.
    pub fn new(message: Option<String>) -> Self {
        Throw {
            message,
            name: "throw".into(),
        }
    }

    /// The error thrown for `payload`.
    pub fn error_for(&self, payload: Value) -> Error {
        if let Some(m) = &self.message {
            return Error::node(m.clone());
        }
        match payload {
            Value::Error(e) => e,
            Value::Null => Error::node(format!("node \"{}\" threw (the payload was null)", self.name)),
            Value::List(items) => {
                let parts: Vec<String> = items
                    .iter()
                    .filter(|v| !v.is_null())
                    .map(|v| v.to_string())
                    .collect();
                if parts.is_empty() {
                    Error::node(format!(
                        "node \"{}\" threw (the payload had no messages)",
                        self.name
                    ))
                } else {
                    Error::node(parts.join(": "))
                }
            }
            other => Error::node(other.to_string()),
        }
    }
}

impl Node for Throw {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), _cx: &mut Cx, input: Input) -> Result<()> {
        Err(self.error_for(input.packet.value))
    }
}

#[cfg(test)]
#[path = "throw_tests.rs"]
mod tests;
