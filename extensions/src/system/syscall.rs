//! The `syscall` kind: one operation on the store or the host per packet, chosen by `opcode`
//! (uniflow's `syscall`). Opcodes: `specs|values|charts.create|read|update|delete` (`ops.rs`),
//! `namespaces.read`, `kinds.read` (`info.rs`), `auth.check` (`auth.rs`), and
//! `specs|values|charts.watch` (`watch.rs`: the reach check before a watch stream opens),
//! `metrics.read` (`metrics.rs`: Prometheus text). The packet is the
//! operation's argument; the answer is its result.
//!
//! Reach: a syscall in namespace X acts only on X, unless X is `system`; in `system`, a request that
//! passed `auth.check` with a scoped token reaches only that token's namespaces (the scope is kept in
//! the process under [`SCOPE_KEY`]).

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports, Scheme};
use weir_codecs::resource::{Chart, FieldIssue, Spec, ValueResource};
use weir_engine::template::{OneToOne, OneToOneNode};
use weir_engine::{BoxedNode, Error, ErrorKind, Process, Result, Value};

use super::ops::{self, Scope};
use super::{auth, info, metrics, watch, SystemServices};

/// Every opcode `syscall` knows.
pub const OPCODES: &[&str] = &[
    "specs.create",
    "specs.read",
    "specs.update",
    "specs.delete",
    "values.create",
    "values.read",
    "values.update",
    "values.delete",
    "charts.create",
    "charts.read",
    "charts.update",
    "charts.delete",
    "specs.watch",
    "values.watch",
    "charts.watch",
    "namespaces.read",
    "kinds.read",
    "auth.check",
    "metrics.read",
];

/// The process key where `auth.check` leaves the namespaces a scoped token may reach.
pub const SCOPE_KEY: &str = "system.scope";

/// The namespaces a system node of `namespace` may act on for `process`: its own, or, in `system`,
/// those of the request's token scope; `None` for all.
pub fn reach(namespace: &str, process: &Process) -> Option<Vec<String>> {
    if namespace != weir_engine::channel::SYSTEM {
        return Some(vec![namespace.to_string()]);
    }
    match process.get(SCOPE_KEY) {
        Some(Value::List(l)) => Some(
            l.iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect(),
        ),
        _ => None,
    }
}

/// The `syscall` kind's fields.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SyscallFields {
    /// The operation: `specs.create`, `specs.read`, `specs.update`, `specs.delete` (and the same for
    /// `values` and `charts`), `specs|values|charts.watch` (the reach check of a watch stream),
    /// `namespaces.read`, `kinds.read`, `metrics.read`, or `auth.check`. uniflow's `secrets.*` are
    /// taken as `values.*`.
    pub opcode: String,
}

/// The codec of `syscall`, holding the host's services.
#[derive(Debug, Clone)]
pub struct SyscallKind {
    pub services: Arc<SystemServices>,
}

impl Kind for SyscallKind {
    const KIND: &'static str = "syscall";
    type Fields = SyscallFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Runs one store or host operation per packet (`specs.create`, `values.read`, `kinds.read`, \
         `auth.check`, …) on the packet as its argument, within the namespace's reach."
    }

    fn compile(&self, fields: SyscallFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let opcode = canonical_opcode(&fields.opcode);
        if !OPCODES.contains(&opcode.as_str()) {
            return Err(FieldIssue::new(
                "opcode",
                format!(
                    "unknown opcode {:?}; one of: {}",
                    fields.opcode,
                    OPCODES.join(", ")
                ),
            ));
        }
        Ok(BoxedNode::new(OneToOneNode(Syscall {
            services: self.services.clone(),
            namespace: cx.namespace.to_string(),
            opcode,
        })))
    }
}

/// An opcode as weir names it: trimmed, lower case, and uniflow's `secrets.*` (its name for
/// Values) as `values.*`, so uniflow's own workflows run unchanged.
pub fn canonical_opcode(opcode: &str) -> String {
    let opcode = opcode.trim().to_ascii_lowercase();
    match opcode.strip_prefix("secrets.") {
        Some(verb) => format!("values.{verb}"),
        None => opcode,
    }
}

/// `native`: uniflow's later name for `syscall`, the same kind under that name (same fields,
/// opcodes and reach), so uniflow's `system.yaml` of either age loads unchanged.
#[derive(Debug, Clone)]
pub struct NativeKind(pub SyscallKind);

impl Kind for NativeKind {
    const KIND: &'static str = "native";
    type Fields = SyscallFields;

    fn ports(&self) -> Ports {
        self.0.ports()
    }

    fn doc(&self) -> &'static str {
        "uniflow's later name for `syscall`: the same kind (fields, opcodes, reach)."
    }

    fn compile(&self, fields: SyscallFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        self.0.compile(fields, cx)
    }
}

/// A compiled syscall.
#[derive(Debug, Clone)]
pub struct Syscall {
    services: Arc<SystemServices>,
    namespace: String,
    opcode: String,
}

impl Syscall {
    fn scope(&self, process: &Process) -> Scope {
        Scope {
            node: self.namespace.clone(),
            allowed: reach(&self.namespace, process),
        }
    }

    fn scheme(&self) -> Result<Arc<Scheme>> {
        self.services.scheme().ok_or_else(|| {
            Error::new(
                ErrorKind::Internal,
                "syscall: the host has not given the system kinds its scheme",
            )
        })
    }

    /// Runs the opcode (blocking: store calls may touch a database).
    fn run(&self, process: &Process, input: &Value) -> Result<Value> {
        let store = self.services.store.as_ref();
        let scope = self.scope(process);
        let (resource, verb) = self.opcode.split_once('.').unwrap_or((&self.opcode, ""));
        match (resource, verb) {
            ("auth", _) => {
                if let Some(namespaces) = auth::check_token(store, input)? {
                    process.set(SCOPE_KEY, Value::list(namespaces.into_iter().map(Value::from)));
                }
                Ok(input.clone())
            }
            ("namespaces", _) => info::namespaces(store, &scope, input),
            ("metrics", _) => metrics::read(&self.services, &scope),
            (r, "watch") => watch::check(&scope, r, input),
            ("kinds", _) => info::kinds(store, &*self.scheme()?, &scope, input),
            ("specs", v) => self.crud::<Spec>(v, &scope, input),
            ("values", v) => self.crud::<ValueResource>(v, &scope, input),
            ("charts", v) => self.crud::<Chart>(v, &scope, input),
            _ => Err(Error::new(
                ErrorKind::Internal,
                format!("syscall: opcode {:?} has no handler", self.opcode),
            )),
        }
    }

    fn crud<R: super::resource::Resource>(&self, verb: &str, scope: &Scope, input: &Value) -> Result<Value> {
        let store = self.services.store.as_ref();
        match verb {
            "create" => ops::create::<R>(store, &*self.scheme()?, scope, input),
            "read" => ops::read::<R>(store, scope, input),
            "update" => ops::update::<R>(store, &*self.scheme()?, scope, input),
            _ => ops::delete::<R>(store, scope, input),
        }
    }
}

impl OneToOne for Syscall {
    async fn call(&self, process: &Arc<Process>, value: Value) -> Result<Value> {
        let this = self.clone();
        let process = process.clone();
        tokio::task::spawn_blocking(move || this.run(&process, &value))
            .await
            .map_err(|e| {
                if e.is_panic() {
                    Error::new(ErrorKind::Panic, "syscall: the operation panicked")
                } else {
                    Error::new(ErrorKind::Cancelled, "syscall: the operation was cancelled")
                }
            })?
    }
}
