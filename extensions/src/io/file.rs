//! `file`: reads or writes files under a configured `root`, never outside it.
//!
//! Fields: `root` (a directory that must exist), `mode` (`read`, `write` or `append`), `path` (a fixed
//! file under the root; without it each payload names its file) and `format` (`text`, `bytes` or
//! `json`: how content is decoded when read and encoded when written).
//!
//! A path is relative to the root. It may not be absolute, may not contain `..`, and may not leave the
//! root through a symbolic link (links that stay under the root are followed). The store's own files
//! are refused to every namespace but `system` (`weir_codecs::guard`). A fixed `path` is checked when
//! the spec is compiled, with an error on the field; every path is checked again when it is opened,
//! because the file system may have changed since.

use std::io::Write;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::guard;
use weir_codecs::resource::FieldIssue;
use weir_engine::template::{OneToOne, OneToOneNode};
use weir_engine::{BoxedNode, Error, ErrorKind, Process, Result, Value};

/// What a `file` node does with its file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileMode {
    /// Answer with the file's content.
    #[default]
    Read,
    /// Replace the file's content (created when missing, with its missing parent directories).
    Write,
    /// Add to the end of the file (created when missing, with its missing parent directories).
    Append,
}

/// How content is decoded when read and encoded when written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// UTF-8 text: read as a string (a file that is not UTF-8 is an error); a string or bytes written.
    #[default]
    Text,
    /// Raw bytes: read as bytes; bytes or a string written as they are.
    Bytes,
    /// JSON: read and parsed into a value; any value written as JSON.
    Json,
}

/// The fields of a `file` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
pub struct FileFields {
    /// The directory every path is relative to; it must exist. Nothing outside it is read or written.
    pub root: String,
    /// `read` (default), `write` (replace the content) or `append`.
    #[serde(default)]
    pub mode: FileMode,
    /// A fixed file under `root`. When absent, each payload names its file: a path to read, or
    /// `[path, data]` / `{"path": ..., "data": ...}` to write.
    #[serde(default)]
    pub path: Option<String>,
    /// `text` (default), `bytes` or `json`.
    #[serde(default)]
    pub format: FileFormat,
}

/// The `file` kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileKind;

impl Kind for FileKind {
    const KIND: &'static str = "file";
    type Fields = FileFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Reads or writes files under a configured root, never outside it; text, bytes or JSON."
    }

    fn compile(&self, fields: FileFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        Ok(BoxedNode::new(OneToOneNode(File::new(&fields, cx.namespace)?)))
    }
}

/// The node: a root, a mode, a format and maybe a fixed path.
#[derive(Debug, Clone)]
pub struct File {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    namespace: String,
    root: PathBuf,
    mode: FileMode,
    format: FileFormat,
    path: Option<String>,
}

impl File {
    /// Checks the root and the fixed path; errors name the field at fault.
    pub fn new(fields: &FileFields, namespace: &str) -> std::result::Result<Self, FieldIssue> {
        if fields.root.is_empty() {
            return Err(FieldIssue::new(
                "root",
                "is empty; name the directory files live under",
            ));
        }
        let root = Path::new(&fields.root)
            .canonicalize()
            .map_err(|e| FieldIssue::new("root", format!("cannot open directory {:?}: {e}", fields.root)))?;
        if !root.is_dir() {
            return Err(FieldIssue::new(
                "root",
                format!("{:?} is not a directory", fields.root),
            ));
        }
        let path = fields.path.clone().filter(|p| !p.is_empty());
        let inner = Inner {
            namespace: namespace.to_string(),
            root,
            mode: fields.mode,
            format: fields.format,
            path,
        };
        if let Some(p) = &inner.path {
            inner.resolve(p).map_err(|msg| FieldIssue::new("path", msg))?;
        }
        Ok(File {
            inner: Arc::new(inner),
        })
    }
}

impl Inner {
    /// `rel` under the root, links resolved; a message saying why when it is refused.
    fn resolve(&self, rel: &str) -> std::result::Result<PathBuf, String> {
        let root = &self.root;
        let outside = |why: &str| format!("{rel:?} is refused: {why} (files stay under root {root:?})");
        if rel.is_empty() {
            return Err("is empty".to_string());
        }
        let mut cur = root.clone();
        for c in Path::new(rel).components() {
            match c {
                Component::Normal(name) => {
                    let next = cur.join(name);
                    match std::fs::symlink_metadata(&next) {
                        Ok(m) if m.file_type().is_symlink() => {
                            let target = next.canonicalize().map_err(|_| {
                                outside("it goes through a symbolic link whose target is missing")
                            })?;
                            if !target.starts_with(root) {
                                return Err(outside("a symbolic link leads outside the root"));
                            }
                            cur = target;
                        }
                        _ => cur = next,
                    }
                }
                Component::CurDir => {}
                Component::ParentDir => return Err(outside("\"..\" is not allowed")),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(outside("it is absolute; give a path relative to the root"))
                }
            }
        }
        if cur == *root {
            return Err(outside("it names the root itself, not a file under it"));
        }
        guard::check_path(&self.namespace, &cur).map_err(|e| e.to_string())?;
        Ok(cur)
    }

    /// The file and the data of one payload.
    fn target(&self, value: Value) -> Result<(String, Value)> {
        if let Some(p) = &self.path {
            return Ok((p.clone(), value));
        }
        let expected = match self.mode {
            FileMode::Read => "a path",
            FileMode::Write | FileMode::Append => "[path, data] or {\"path\": ..., \"data\": ...}",
        };
        let unsupported = || {
            Error::new(
                ErrorKind::UnsupportedType,
                format!("file expects a payload {expected}, got a {}", value.type_name()),
            )
        };
        let (path, data) = match (self.mode, &value) {
            (FileMode::Read, Value::String(_)) => (value.clone(), Value::Null),
            (FileMode::Read, _) => return Err(unsupported()),
            (_, Value::List(l)) if l.len() == 2 => (l[0].clone(), l[1].clone()),
            (_, Value::Map(m)) if m.contains_key("path") => {
                (m["path"].clone(), m.get("data").cloned().unwrap_or_default())
            }
            _ => return Err(unsupported()),
        };
        match path {
            Value::String(s) => Ok((s.to_string(), data)),
            _ => Err(unsupported()),
        }
    }

    fn run(&self, value: Value) -> Result<Value> {
        let (rel, data) = self.target(value)?;
        let path = self
            .resolve(&rel)
            .map_err(|msg| Error::new(ErrorKind::UnsupportedValue, format!("file: path {msg}")))?;
        match self.mode {
            FileMode::Read => self.read(&rel, &path),
            FileMode::Write | FileMode::Append => self.write(&rel, &path, &data),
        }
    }

    fn read(&self, rel: &str, path: &Path) -> Result<Value> {
        let bytes = std::fs::read(path).map_err(|e| io_error("read", rel, &e))?;
        match self.format {
            FileFormat::Bytes => Ok(Value::Bytes(bytes.into())),
            FileFormat::Text => String::from_utf8(bytes).map(Value::from).map_err(|_| {
                Error::new(
                    ErrorKind::UnsupportedValue,
                    format!("file: {rel:?} is not UTF-8 text; read it with format bytes"),
                )
            }),
            FileFormat::Json => {
                let text = std::str::from_utf8(&bytes).map_err(|_| {
                    Error::new(
                        ErrorKind::UnsupportedValue,
                        format!("file: {rel:?} is not UTF-8 JSON"),
                    )
                })?;
                weir_engine::value::from_json_str(text)
                    .map_err(|e| Error::new(ErrorKind::UnsupportedValue, format!("file: {rel:?}: {e}")))
            }
        }
    }

    fn write(&self, rel: &str, path: &Path, data: &Value) -> Result<Value> {
        let bytes: Vec<u8> = match (self.format, data) {
            (FileFormat::Json, v) => serde_json::to_vec(&v.to_json())
                .map_err(|e| Error::new(ErrorKind::UnsupportedValue, format!("file: {e}")))?,
            (_, Value::String(s)) => s.as_bytes().to_vec(),
            (_, Value::Bytes(b)) => b.to_vec(),
            (format, v) => {
                let name = if format == FileFormat::Text {
                    "text"
                } else {
                    "bytes"
                };
                return Err(Error::new(
                    ErrorKind::UnsupportedType,
                    format!(
                        "file: format {name} writes a string or bytes, got a {}",
                        v.type_name()
                    ),
                ));
            }
        };
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error("create the directory of", rel, &e))?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.create(true);
        if self.mode == FileMode::Append {
            options.append(true);
        } else {
            options.write(true).truncate(true);
        }
        let mut f = options.open(path).map_err(|e| io_error("open", rel, &e))?;
        f.write_all(&bytes)
            .and_then(|()| f.flush())
            .map_err(|e| io_error("write", rel, &e))?;
        Ok(Value::from(bytes.len()))
    }
}

fn io_error(what: &str, rel: &str, e: &std::io::Error) -> Error {
    let kind = match e.kind() {
        std::io::ErrorKind::NotFound => ErrorKind::UnsupportedValue,
        _ => ErrorKind::Node,
    };
    Error::new(kind, format!("file: cannot {what} {rel:?}: {e}"))
}

impl OneToOne for File {
    async fn call(&self, _process: &Arc<Process>, value: Value) -> Result<Value> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.run(value))
            .await
            .map_err(|e| Error::new(ErrorKind::Panic, format!("file failed: {e}")))?
    }
}

#[cfg(test)]
#[path = "file_tests.rs"]
mod tests;
