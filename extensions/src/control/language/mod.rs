//! Snippet languages, as uniflow's language module has them: a language compiles a piece of code once
//! into a [`Program`], which then runs once per packet with the packet's payload as its input.
//!
//! - `text`: the code itself is the result, a constant string.
//! - `json`, `yaml`: the code is parsed once into a constant value.
//! - `cel`: a CEL expression over `self`, the input payload. CEL cannot be interrupted, so it is
//!   evaluated on tokio's blocking pool, and the caller stops waiting at the deadline.
//! - `javascript`: an ES module whose default export is called with the payload
//!   (`export default function (args) { ... }`); a returned promise is awaited. Scripts run on
//!   dedicated threads (QuickJS contexts are not `Send`) whose interrupt handler stops a script at its
//!   deadline, when its process ends, or when the program is dropped. A generator function streams
//!   ([`Program::stream`]): one [`Piece::Yield`] per `yield`, as it is produced.
//! - `typescript`: the same, after oxc strips the types at compile time.
//!
//! Every language honours the deadline ([`Options::timeout`]): constants answer at once, CEL is
//! abandoned at it, JavaScript and TypeScript are interrupted.
//!
//! A [`CompileError`] says which spec field is at fault (`language` or `code`); errors while running
//! are [`weir_engine::Error`]s: `node error` for a script's own failure (a CEL evaluation error, a
//! JavaScript `throw`), `timeout` at the deadline, the process's own error when it ends first.

mod cel;
mod javascript;
mod typescript;

use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use weir_engine::{Error, ErrorKind, Process, Result, Value};

pub use javascript::Piece;

/// The languages a snippet may be written in, by their names in specs.
pub const LANGUAGES: [&str; 6] = ["text", "json", "yaml", "cel", "javascript", "typescript"];

/// The deadline of one run when a spec sets none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A snippet language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Language {
    Text,
    Json,
    Yaml,
    Cel,
    Javascript,
    Typescript,
}

impl Language {
    /// The language named `name` (as written in specs: lower case), if weir has it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "text" => Some(Language::Text),
            "json" => Some(Language::Json),
            "yaml" => Some(Language::Yaml),
            "cel" => Some(Language::Cel),
            "javascript" => Some(Language::Javascript),
            "typescript" => Some(Language::Typescript),
            _ => None,
        }
    }

    /// The language's name in specs.
    pub fn name(self) -> &'static str {
        match self {
            Language::Text => "text",
            Language::Json => "json",
            Language::Yaml => "yaml",
            Language::Cel => "cel",
            Language::Javascript => "javascript",
            Language::Typescript => "typescript",
        }
    }
}

impl std::fmt::Display for Language {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why code did not compile, and so which spec field is at fault ([`CompileError::field`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileError {
    /// No such language (field `language`).
    #[error("unknown language {0:?}")]
    UnknownLanguage(String),
    /// The code is not valid in its language (field `code`).
    #[error("{0}")]
    Code(String),
}

impl CompileError {
    /// The spec field the error is about.
    pub fn field(&self) -> &'static str {
        match self {
            CompileError::UnknownLanguage(_) => "language",
            CompileError::Code(_) => "code",
        }
    }
}

/// How programs run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The deadline of one run (and of a JavaScript module's top-level code); `None` for none: a
    /// run then ends only when it finishes or its process ends.
    pub timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Some(DEFAULT_TIMEOUT),
        }
    }
}

/// Compiled code, cheap to clone (clones share the compiled form and, for JavaScript, the threads).
#[derive(Clone)]
pub struct Program {
    language: Language,
    body: Body,
}

#[derive(Clone)]
enum Body {
    Constant(Value),
    Cel(cel::CelProgram),
    Javascript(javascript::JsProgram),
}

impl std::fmt::Debug for Program {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Program")
            .field("language", &self.language)
            .finish_non_exhaustive()
    }
}

/// Compiles `code` written in the language named `language`.
pub fn compile(language: &str, code: &str, options: &Options) -> Result<Program, CompileError> {
    let lang =
        Language::from_name(language).ok_or_else(|| CompileError::UnknownLanguage(language.to_string()))?;
    let body = match lang {
        Language::Text => Body::Constant(Value::from(code)),
        Language::Json => Body::Constant(parse_json(code)?),
        Language::Yaml => Body::Constant(parse_yaml(code)?),
        Language::Cel => Body::Cel(cel::CelProgram::compile(code, options.timeout)?),
        Language::Javascript => Body::Javascript(javascript::JsProgram::compile(code, options.timeout)?),
        Language::Typescript => Body::Javascript(javascript::JsProgram::compile(
            &typescript::strip_types(code)?,
            options.timeout,
        )?),
    };
    Ok(Program { language: lang, body })
}

impl Program {
    pub fn language(&self) -> Language {
        self.language
    }

    /// Runs the program with `input` (the payload) within `process`. A JavaScript generator's
    /// values come back gathered into a list.
    pub async fn run(&self, process: &Arc<Process>, input: Value) -> Result<Value> {
        match &self.body {
            Body::Constant(v) => Ok(v.clone()),
            Body::Cel(p) => p.run(process, input).await,
            Body::Javascript(p) => p.run(process, input, false).await,
        }
    }

    /// Runs the program with several arguments: JavaScript's default export is called with them
    /// (`function (acc, cur, index)`), CEL sees them as the list `self` (`self[0] + self[1]`), as
    /// uniflow passes them.
    pub async fn run_args(&self, process: &Arc<Process>, args: Vec<Value>) -> Result<Value> {
        match &self.body {
            Body::Constant(v) => Ok(v.clone()),
            Body::Cel(p) => p.run(process, Value::from(args)).await,
            Body::Javascript(p) => p.run(process, Value::from(args), true).await,
        }
    }

    /// Runs the program with `input` and streams its output: a JavaScript generator's values one
    /// by one as they are produced ([`Piece::Yield`]), any other result as one [`Piece::Result`].
    pub fn stream(
        &self,
        process: &Arc<Process>,
        input: Value,
    ) -> impl Stream<Item = Result<Piece>> + Send + 'static {
        match &self.body {
            Body::Javascript(p) => p.stream(process, input).boxed(),
            _ => {
                let program = self.clone();
                let process = process.clone();
                futures::stream::once(async move { program.run(&process, input).await.map(Piece::Result) })
                    .boxed()
            }
        }
    }
}

fn parse_json(code: &str) -> Result<Value, CompileError> {
    serde_json::from_str::<Value>(code).map_err(|e| CompileError::Code(format!("invalid JSON: {e}")))
}

fn parse_yaml(code: &str) -> Result<Value, CompileError> {
    // An empty document is null, as yaml.v3 decodes it.
    if code.trim().is_empty() {
        return Ok(Value::Null);
    }
    serde_yaml_ng::from_str::<Value>(code).map_err(|e| CompileError::Code(format!("invalid YAML: {e}")))
}

/// The error of a run that passed its deadline.
fn timeout_error(language: Language, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("the {language} snippet did not finish within its timeout of {timeout:?}"),
    )
}

#[cfg(test)]
mod tests;
