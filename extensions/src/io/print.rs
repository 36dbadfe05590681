//! `print`: writes each payload, formatted as Go's `fmt.Fprintf` does, to a file, and answers with the
//! number of bytes written (uniflow's print node).
//!
//! - With `filename` set, the file is opened once (append, created when missing) when the spec is
//!   compiled, and the payload is a format string (`"hello\n"`) or a list `[format, args...]`
//!   (`["%s is %d\n", "x", 1]`).
//! - Without `filename`, the payload names the file: `[filename, format, args...]`, opened for each
//!   packet.
//!
//! `/dev/stdout` and `/dev/stderr` are the host's own streams on every platform. The store's own files
//! are refused outside the `system` namespace (`weir_codecs::guard`). Nothing is added to
//! the output: write `\n` in the format for a line. The formatting is Go's (`%v`, `%d`, `%s`, `%q`,
//! `%x`, widths and flags, `%!d(string=x)` for a mismatch), by the codecs' Go-template `printf`.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Arc;

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_codecs::template::Template;
use weir_engine::template::{OneToOne, OneToOneNode};
use weir_engine::{BoxedNode, Error, ErrorKind, Process, Result, Value};

/// The fields of a `print` spec.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct PrintFields {
    /// The file to append to (`/dev/stdout`, `/dev/stderr` or a path). When empty or absent, each
    /// payload names its file: `[filename, format, args...]`.
    #[serde(default)]
    pub filename: Option<String>,
}

/// The `print` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintKind;

impl Kind for PrintKind {
    const KIND: &'static str = "print";
    type Fields = PrintFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Writes each payload, formatted like Go's fmt.Fprintf, to a file or stdout; answers with the bytes written."
    }

    fn compile(&self, fields: PrintFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let print = match fields.filename.as_deref() {
            None | Some("") => Print::dynamic_in(cx.namespace),
            Some(name) => {
                Print::to_file_in(cx.namespace, name).map_err(|e| FieldIssue::new("filename", e.message()))?
            }
        };
        Ok(BoxedNode::new(OneToOneNode(print)))
    }
}

type Sink = Arc<Mutex<Box<dyn Write + Send>>>;

/// The node: a fixed sink, or one named by each payload.
#[derive(Clone)]
pub struct Print {
    sink: Option<Sink>,
    /// The namespace of the spec, for the guard on the store's files.
    namespace: Arc<str>,
}

impl std::fmt::Debug for Print {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Print")
            .field("dynamic", &self.sink.is_none())
            .finish()
    }
}

impl Print {
    /// Writes to `filename`, opened now (append, created when missing), for a spec of the `system`
    /// namespace.
    pub fn to_file(filename: &str) -> Result<Self> {
        Self::to_file_in(weir_codecs::guard::SYSTEM_NAMESPACE, filename)
    }

    /// Writes to `filename` for a spec of `namespace`, which may not open the store's files.
    pub fn to_file_in(namespace: &str, filename: &str) -> Result<Self> {
        Ok(Print {
            sink: Some(Arc::new(Mutex::new(open(namespace, filename)?))),
            namespace: namespace.into(),
        })
    }

    /// Writes to any writer (tests, embedding).
    pub fn to_writer(writer: impl Write + Send + 'static) -> Self {
        Print {
            sink: Some(Arc::new(Mutex::new(Box::new(writer)))),
            namespace: weir_codecs::guard::SYSTEM_NAMESPACE.into(),
        }
    }

    /// Takes the file name from each payload, for a spec of the `system` namespace.
    pub fn dynamic() -> Self {
        Self::dynamic_in(weir_codecs::guard::SYSTEM_NAMESPACE)
    }

    /// Takes the file name from each payload, for a spec of `namespace`.
    pub fn dynamic_in(namespace: &str) -> Self {
        Print {
            sink: None,
            namespace: namespace.into(),
        }
    }
}

/// Opens `filename` for appending; the standard streams by their device names. The store's files are
/// refused outside `system`.
fn open(namespace: &str, filename: &str) -> Result<Box<dyn Write + Send>> {
    match filename {
        "/dev/stdout" => Ok(Box::new(std::io::stdout())),
        "/dev/stderr" => Ok(Box::new(std::io::stderr())),
        _ => weir_codecs::guard::check_path(namespace, std::path::Path::new(filename))
            .map_err(|e| Error::new(ErrorKind::UnsupportedValue, e.to_string()))
            .and_then(|()| open_file(filename)),
    }
}

fn open_file(filename: &str) -> Result<Box<dyn Write + Send>> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .open(filename)
        .map(|f| Box::new(f) as Box<dyn Write + Send>)
        .map_err(|e| Error::new(ErrorKind::Unavailable, format!("cannot open {filename:?}: {e}")))
}

impl OneToOne for Print {
    async fn call(&self, _process: &Arc<Process>, value: Value) -> Result<Value> {
        let sink = self.sink.clone();
        let namespace = self.namespace.clone();
        let written = tokio::task::spawn_blocking(move || -> Result<usize> {
            match sink {
                Some(sink) => {
                    let (format, args) = split(&value, 0)?;
                    write(&mut **sink.lock(), &sprintf(format, args)?)
                }
                None => {
                    let Some(filename) = value.as_list().and_then(|l| l.first()).and_then(Value::as_str)
                    else {
                        return Err(unsupported(&value, "[filename, format, args...]"));
                    };
                    let (format, args) = split(&value, 1)?;
                    let text = sprintf(format, args)?;
                    write(&mut *open(&namespace, filename)?, &text)
                }
            }
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Panic, format!("print failed: {e}")))??;
        Ok(Value::from(written))
    }
}

fn unsupported(value: &Value, expected: &str) -> Error {
    Error::new(
        ErrorKind::UnsupportedType,
        format!("print expects a payload {expected}, got a {}", value.type_name()),
    )
}

/// The format and its arguments: a string alone (when `skip` is 0), or list items from `skip` on.
fn split(value: &Value, skip: usize) -> Result<(&str, &[Value])> {
    if skip == 0 {
        if let Some(format) = value.as_str() {
            return Ok((format, &[]));
        }
    }
    let expected = if skip == 0 {
        "format or [format, args...]"
    } else {
        "[filename, format, args...]"
    };
    let list = value.as_list().ok_or_else(|| unsupported(value, expected))?;
    match list.get(skip).and_then(Value::as_str) {
        Some(format) => Ok((format, &list[skip + 1..])),
        None => Err(unsupported(value, expected)),
    }
}

/// Go's `fmt.Sprintf(format, args...)`, through a Go template `{{printf .f (index .a 0) ...}}`.
fn sprintf(format: &str, args: &[Value]) -> Result<String> {
    let mut source = String::from("{{printf .f");
    for i in 0..args.len() {
        source.push_str(&format!(" (index .a {i})"));
    }
    source.push_str("}}");
    let env = serde_json::json!({
        "f": format,
        "a": args.iter().map(Value::to_json).collect::<Vec<_>>(),
    });
    Template::parse(&source)
        .and_then(|t| t.execute(&env))
        .map_err(|e| Error::new(ErrorKind::Internal, format!("formatting failed: {e}")))
}

fn write(w: &mut (dyn Write + Send), text: &str) -> Result<usize> {
    w.write_all(text.as_bytes())
        .and_then(|()| w.flush())
        .map_err(|e| Error::new(ErrorKind::Node, format!("write failed: {e}")))?;
    Ok(text.len())
}

#[cfg(test)]
#[path = "print_tests.rs"]
mod tests;
