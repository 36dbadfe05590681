//! `scan`: reads values from a file by a Go scan format (`fmt.Fscanf`) and answers them as a list
//! (uniflow's scan node).
//!
//! - With `filename` set, the file is opened once, when the spec is compiled, and read on from where
//!   the previous packet stopped; the payload is the format (`"%s %d\n"`).
//! - Without `filename`, the payload is `[filename, format]`, and the file is opened for that packet.
//!
//! `/dev/stdin` (or `stdin`) is the host's standard input. The formats are described in
//! [`super::scanf`]. The store's own files are refused outside the `system` namespace
//! (`weir_codecs::guard`).

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::guard;
use weir_codecs::resource::FieldIssue;
use weir_engine::template::{OneToOne, OneToOneNode};
use weir_engine::{BoxedNode, Error, ErrorKind, Process, Result, Value};

use super::scanf::{scanf, ScanError, Source};

/// The fields of a `scan` spec.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
pub struct ScanFields {
    /// The file to read (`/dev/stdin` or a path), opened once and read on packet after packet. When
    /// empty or absent, each payload names its file: `[filename, format]`.
    #[serde(default)]
    pub filename: Option<String>,
}

/// The `scan` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanKind;

impl Kind for ScanKind {
    const KIND: &'static str = "scan";
    type Fields = ScanFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Reads values from a file or stdin by a Go scan format (%d, %s, %f, ...); answers them as a list."
    }

    fn compile(&self, fields: ScanFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let scan = match fields.filename.as_deref() {
            None | Some("") => Scan::dynamic(cx.namespace),
            Some(name) => {
                Scan::open(cx.namespace, name).map_err(|e| FieldIssue::new("filename", e.message()))?
            }
        };
        Ok(BoxedNode::new(OneToOneNode(scan)))
    }
}

/// The node: a source kept open across packets, or one named by each payload.
#[derive(Clone)]
pub struct Scan {
    source: Option<Arc<Mutex<Source>>>,
    namespace: Arc<str>,
}

impl std::fmt::Debug for Scan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scan")
            .field("dynamic", &self.source.is_none())
            .finish()
    }
}

impl Scan {
    /// Reads `filename`, opened now, for a spec of `namespace`.
    pub fn open(namespace: &str, filename: &str) -> Result<Self> {
        Ok(Scan {
            source: Some(Arc::new(Mutex::new(open(namespace, filename)?))),
            namespace: namespace.into(),
        })
    }

    /// Reads from any buffered reader (tests, embedding).
    pub fn from_reader(reader: impl std::io::BufRead + Send + 'static) -> Self {
        Scan {
            source: Some(Arc::new(Mutex::new(Source::new(reader)))),
            namespace: guard::SYSTEM_NAMESPACE.into(),
        }
    }

    /// Takes the file name from each payload, for a spec of `namespace`.
    pub fn dynamic(namespace: &str) -> Self {
        Scan {
            source: None,
            namespace: namespace.into(),
        }
    }
}

fn open(namespace: &str, filename: &str) -> Result<Source> {
    match filename {
        "/dev/stdin" | "stdin" => Ok(Source::stdin()),
        _ => {
            guard::check_path(namespace, Path::new(filename))
                .map_err(|e| Error::new(ErrorKind::UnsupportedValue, e.to_string()))?;
            let file = std::fs::File::open(filename)
                .map_err(|e| Error::new(ErrorKind::Unavailable, format!("cannot open {filename:?}: {e}")))?;
            Ok(Source::new(std::io::BufReader::new(file)))
        }
    }
}

fn unsupported(value: &Value, expected: &str) -> Error {
    Error::new(
        ErrorKind::UnsupportedType,
        format!("scan expects a payload {expected}, got a {}", value.type_name()),
    )
}

fn scan_error(e: ScanError) -> Error {
    let kind = match e {
        ScanError::Format(_) => ErrorKind::UnsupportedValue,
        _ => ErrorKind::Node,
    };
    Error::new(kind, format!("scan: {e}"))
}

impl OneToOne for Scan {
    async fn call(&self, _process: &Arc<Process>, value: Value) -> Result<Value> {
        let this = self.clone();
        let values = tokio::task::spawn_blocking(move || -> Result<Vec<Value>> {
            match &this.source {
                Some(source) => {
                    let format = value.as_str().ok_or_else(|| unsupported(&value, "format"))?;
                    scanf(&mut source.lock(), format).map_err(scan_error)
                }
                None => {
                    let expected = "[filename, format]";
                    let list = value.as_list().ok_or_else(|| unsupported(&value, expected))?;
                    let (Some(filename), Some(format)) = (
                        list.first().and_then(Value::as_str),
                        list.get(1).and_then(Value::as_str),
                    ) else {
                        return Err(unsupported(&value, expected));
                    };
                    let mut source = open(&this.namespace, filename)?;
                    scanf(&mut source, format).map_err(scan_error)
                }
            }
        })
        .await
        .map_err(|e| Error::new(ErrorKind::Panic, format!("scan failed: {e}")))??;
        Ok(Value::list(values))
    }
}

#[cfg(test)]
#[path = "scan_tests.rs"]
mod tests;
