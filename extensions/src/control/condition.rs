//! A CEL condition over `self` (the payload), shared by `if` and `switch`. Compiled once with the
//! spec; each evaluation runs off the async workers with the snippet languages' deadline, and must
//! give a boolean. An error payload is seen as its category (`"unsupported type"`, `"not found"`…),
//! so that uniflow's catch switch (`self == "unsupported type" || self == "unsupported value"`)
//! routes bad input as it does there.

use std::sync::Arc;

use weir_codecs::resource::FieldIssue;
use weir_engine::{Error, ErrorKind, Process, Result, Value};

use super::language::{self, Options, Program};

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    program: Program,
    source: Arc<str>,
}

impl Condition {
    /// Compiles `code`; an error names `field`.
    pub fn compile(code: &str, field: &str) -> std::result::Result<Self, FieldIssue> {
        if code.trim().is_empty() {
            return Err(FieldIssue::new(field, "must be a CEL expression, not empty"));
        }
        let program = language::compile("cel", code, &Options::default())
            .map_err(|e| FieldIssue::new(field, e.to_string()))?;
        Ok(Condition {
            program,
            source: code.into(),
        })
    }

    /// Evaluates the condition on `value`.
    pub async fn test(&self, process: &Arc<Process>, value: &Value) -> Result<bool> {
        let value = match value {
            Value::Error(e) => Value::from(e.kind().to_string()),
            v => v.clone(),
        };
        match self.program.run(process, value).await? {
            Value::Bool(b) => Ok(b),
            other => Err(Error::new(
                ErrorKind::UnsupportedType,
                format!(
                    "condition {:?} gave {} ({}), not a boolean",
                    self.source,
                    other,
                    other.type_name()
                ),
            )),
        }
    }
}
