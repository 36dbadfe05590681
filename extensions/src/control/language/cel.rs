//! The `cel` language: a CEL expression over `self`, the input payload (uniflow binds the payload to
//! `self` the same way). The standard library plus the `strings`, `math`, `lists` and base64 encoder
//! extensions are available, as in uniflow.
//!
//! CEL evaluation cannot be interrupted, so each run goes to tokio's blocking pool and the caller
//! stops waiting at the deadline or when the process ends; the evaluation itself then finishes in the
//! background and its result is dropped.
//!
//! Values convert both ways without loss where CEL has the type: null, bool, int (and uint past
//! `i64::MAX`), double, string, bytes, list and map. A CEL map has no order, so a map result has its
//! keys sorted; non-string keys become their text (`1` → `"1"`). Payload times are RFC 3339 strings
//! and errors are `{error, kind}` maps, as in JSON.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use cel::objects::{Key, Map as CelMap};
use cel::{Context, Env, Value as Cel};
use weir_engine::{Error, ErrorKind, Map, Process, Result, Value};

use super::{timeout_error, CompileError, Language};

/// How deep a value may nest before conversion gives up.
const MAX_DEPTH: usize = 128;

/// A CEL extension library.
type Extension = fn(&mut Env) -> Result<(), cel::DeclarationError>;

/// The shared environment: the standard library and uniflow's extensions.
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Env::stdlib();
        let extensions: [(&str, Extension); 4] = [
            ("strings", cel::extensions::strings),
            ("math", cel::extensions::math),
            ("lists", cel::extensions::lists),
            ("encoders", cel::extensions::encoders),
        ];
        for (name, ext) in extensions {
            if let Err(e) = env.add_extension(ext) {
                tracing::warn!("CEL extension {name} is unavailable: {e}");
            }
        }
        Arc::new(env)
    })
}

/// A compiled CEL expression.
#[derive(Clone)]
pub(super) struct CelProgram {
    program: Arc<cel::Program>,
    timeout: Option<Duration>,
}

impl CelProgram {
    pub(super) fn compile(code: &str, timeout: Option<Duration>) -> Result<Self, CompileError> {
        let program = env()
            .compile(code)
            .map_err(|e| CompileError::Code(format!("invalid CEL expression: {e}")))?;
        Ok(CelProgram {
            program: Arc::new(program),
            timeout,
        })
    }

    pub(super) async fn run(&self, process: &Arc<Process>, input: Value) -> Result<Value> {
        let program = self.program.clone();
        let task = tokio::task::spawn_blocking(move || evaluate(&program, &input));
        let deadline = async {
            match self.timeout {
                Some(t) => tokio::time::sleep(t).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            joined = task => match joined {
                Ok(result) => result,
                Err(e) if e.is_panic() => Err(Error::new(ErrorKind::Panic, "the CEL evaluation panicked")),
                Err(e) => Err(Error::new(ErrorKind::Internal, format!("the CEL evaluation was lost: {e}"))),
            },
            _ = process.done() => Err(process.ended_error()),
            _ = deadline => Err(timeout_error(Language::Cel, self.timeout.unwrap_or_default())),
        }
    }
}

/// Evaluates `program` with `self` bound to `input`.
fn evaluate(program: &cel::Program, input: &Value) -> Result<Value> {
    let mut cx = Context::with_env(env().clone());
    cx.add_variable_from_value("self", to_cel(input, 0)?);
    let out = program
        .execute(&cx)
        .map_err(|e| Error::node(format!("CEL: {e}")))?;
    from_cel(&out, 0)
}

fn too_deep() -> Error {
    Error::new(
        ErrorKind::UnsupportedValue,
        format!("the value nests deeper than {MAX_DEPTH} levels"),
    )
}

/// A payload as a CEL value.
pub(super) fn to_cel(v: &Value, depth: usize) -> Result<Cel> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match v {
        Value::Null => Cel::Null,
        Value::Bool(b) => Cel::Bool(*b),
        Value::Int(i) => Cel::Int(*i),
        Value::Uint(u) => Cel::UInt(*u),
        Value::Float(f) => Cel::Float(*f),
        Value::String(s) => Cel::String(Arc::new(s.to_string())),
        Value::Bytes(b) => Cel::Bytes(Arc::new(b.to_vec())),
        Value::List(l) => Cel::List(Arc::new(
            l.iter().map(|x| to_cel(x, depth + 1)).collect::<Result<_>>()?,
        )),
        Value::Map(m) => {
            let mut map = HashMap::with_capacity(m.len());
            for (k, x) in m.iter() {
                map.insert(Key::String(Arc::new(k.clone())), to_cel(x, depth + 1)?);
            }
            Cel::Map(CelMap { map: Arc::new(map) })
        }
        Value::Time(_) | Value::Error(_) => to_cel(&Value::from(v.to_json()), depth)?,
    })
}

/// A CEL result as a payload.
pub(super) fn from_cel(v: &Cel, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(too_deep());
    }
    Ok(match v {
        Cel::Null => Value::Null,
        Cel::Bool(b) => Value::Bool(*b),
        Cel::Int(i) => Value::Int(*i),
        Cel::UInt(u) => Value::from(*u),
        Cel::Float(f) => Value::Float(*f),
        Cel::String(s) => Value::from(s.as_str()),
        Cel::Bytes(b) => Value::Bytes(bytes::Bytes::copy_from_slice(b)),
        Cel::List(l) => Value::list(
            l.iter()
                .map(|x| from_cel(x, depth + 1))
                .collect::<Result<Vec<_>>>()?,
        ),
        Cel::Map(m) => {
            let mut entries: Vec<(String, Value)> = Vec::with_capacity(m.map.len());
            for (k, x) in m.map.iter() {
                let key = match k {
                    Key::String(s) => s.to_string(),
                    Key::Int(i) => i.to_string(),
                    Key::Uint(u) => u.to_string(),
                    Key::Bool(b) => b.to_string(),
                };
                entries.push((key, from_cel(x, depth + 1)?));
            }
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Map(Arc::new(entries.into_iter().collect::<Map>()))
        }
        other => {
            return Err(Error::new(
                ErrorKind::UnsupportedType,
                format!("a CEL {} cannot be a payload", other.type_of()),
            ))
        }
    })
}
