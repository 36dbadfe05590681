//! The `gpu` kind: one tensor op per packet on a CUDA device. Compiling a spec opens the device
//! (`weir_cuda::Gpu::open`), so without a driver or a device the spec is an inactive placeholder with
//! the error on its `device` field. Each packet's tensors are checked first (a bad shape never waits
//! for the GPU), then the node takes the device's GPU lock (FIFO; while it waits the process's
//! observer hears `waiting`; after `timeout` it fails naming the holder) and runs the op on a blocking
//! thread, which keeps the lock until the device is done even if the process is cancelled meanwhile.

use std::sync::Arc;
use std::time::Duration;

use schemars::JsonSchema;
use serde::Deserialize;
use weir_codecs::codec::{CompileContext, Kind, Ports};
use weir_codecs::resource::FieldIssue;
use weir_cuda::{Gpu, GpuError, Op, Tensor};
use weir_engine::gpu::GpuLocks;
use weir_engine::{BoxedNode, Cx, Error, ErrorKind, Input, Node, OutPort, Result, Value};

use super::tensor::{tensor_value, value_tensor};
use crate::control::snippet::duration_schema;

/// How long a packet waits for the GPU lock when the spec sets no `timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The op a `gpu` spec runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GpuOp {
    /// `a + b` element by element; the input is `[a, b]` of one shape.
    Add,
    /// `a * b` element by element; the input is `[a, b]` of one shape.
    Mul,
    /// `max(x, 0)` element by element; the input is one tensor.
    Relu,
    /// The matrix product; the input is `[a, b]` with `a` of shape `[m, k]` and `b` of `[k, n]`.
    Matmul,
}

impl From<GpuOp> for Op {
    fn from(op: GpuOp) -> Op {
        match op {
            GpuOp::Add => Op::Add,
            GpuOp::Mul => Op::Mul,
            GpuOp::Relu => Op::Relu,
            GpuOp::Matmul => Op::Matmul,
        }
    }
}

/// The fields of a `gpu` spec.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GpuFields {
    /// What to compute: `add`, `mul`, `relu` or `matmul`.
    pub op: GpuOp,
    /// The CUDA device's ordinal.
    #[serde(default)]
    pub device: u32,
    /// How long a packet may wait for the device's GPU lock: `"500ms"`, `"2s"` or a number of
    /// milliseconds (default 30s).
    #[serde(default)]
    #[schemars(schema_with = "duration_schema")]
    pub timeout: Option<serde_json::Value>,
}

/// The `gpu` kind, with the host's GPU locks.
#[derive(Debug, Clone, Default)]
pub struct GpuKind {
    pub locks: GpuLocks,
}

impl Kind for GpuKind {
    const KIND: &'static str = "gpu";
    type Fields = GpuFields;

    fn ports(&self) -> Ports {
        Ports::one_to_one()
    }

    fn doc(&self) -> &'static str {
        "Runs a tensor op (add, mul, relu, matmul on f32) on a CUDA device under its GPU lock; fails to \
         load on a host without a CUDA driver."
    }

    fn compile(&self, fields: GpuFields, cx: &CompileContext<'_>) -> Result<BoxedNode, FieldIssue> {
        let timeout = match &fields.timeout {
            None | Some(serde_json::Value::Null) => DEFAULT_TIMEOUT,
            Some(t) => weir_codecs::coerce::to_duration(t, "timeout")?,
        };
        let gpu = Gpu::open(fields.device).map_err(|e| FieldIssue::new("device", e.to_string()))?;
        Ok(BoxedNode::new(GpuNode::new(
            gpu,
            fields.op.into(),
            self.locks.clone(),
            timeout,
            cx,
        )))
    }
}

/// Where a node's op runs: the CUDA device (`weir_cuda::Gpu`); the tests add a CPU reference to
/// check the node's packets and locking, never used at run time.
pub(crate) trait Device: Send + Sync + 'static {
    fn ordinal(&self) -> u32;
    /// Runs `op`, blocking the thread until done.
    fn run(&self, op: Op, inputs: &[Tensor]) -> std::result::Result<Tensor, GpuError>;
}

impl Device for Gpu {
    fn ordinal(&self) -> u32 {
        Gpu::ordinal(self)
    }

    fn run(&self, op: Op, inputs: &[Tensor]) -> std::result::Result<Tensor, GpuError> {
        Gpu::run(self, op, inputs)
    }
}

/// A loaded `gpu` spec.
pub(crate) struct GpuNode {
    device: Arc<dyn Device>,
    op: Op,
    locks: GpuLocks,
    timeout: Duration,
    /// `namespace "ml": gpu "double" (op add)`, for errors.
    label: Arc<str>,
}

impl GpuNode {
    pub(crate) fn new(
        device: Arc<dyn Device>,
        op: Op,
        locks: GpuLocks,
        timeout: Duration,
        cx: &CompileContext<'_>,
    ) -> Self {
        GpuNode {
            device,
            op,
            locks,
            timeout,
            label: format!("namespace {:?}: gpu {:?} (op {op})", cx.namespace, cx.name).into(),
        }
    }

    /// The op's tensors in `value`: one tensor, or a list of as many as the op takes.
    fn inputs(&self, value: &Value) -> Result<Vec<Tensor>> {
        let tensors = if self.op.arity() == 1 {
            vec![value_tensor(value, "input")?]
        } else {
            let items = value.as_list().ok_or_else(|| {
                Error::new(
                    ErrorKind::UnsupportedType,
                    format!(
                        "input: {} takes a list of {} tensors, got {}",
                        self.op,
                        self.op.arity(),
                        value.type_name()
                    ),
                )
            })?;
            items
                .iter()
                .enumerate()
                .map(|(i, v)| value_tensor(v, &format!("input[{i}]")))
                .collect::<Result<Vec<_>>>()?
        };
        self.op
            .output_shape(&tensors)
            .map_err(|e| Error::new(ErrorKind::UnsupportedValue, format!("input: {e}")))?;
        Ok(tensors)
    }

    fn error(&self, e: Error) -> Error {
        Error::new(e.kind(), format!("{}: {}", self.label, e.message()))
    }
}

impl Node for GpuNode {
    type State = ();
    const ON_EOS: bool = false;

    async fn on_packet(&self, _: &mut (), cx: &mut Cx, input: Input) -> Result<()> {
        let tensors = self.inputs(&input.packet.value).map_err(|e| self.error(e))?;
        let guard = self
            .locks
            .acquire(self.device.ordinal(), cx.node_name(), cx.process(), self.timeout)
            .await
            .map_err(|e| self.error(e))?;
        let (device, op) = (self.device.clone(), self.op);
        let done = tokio::task::spawn_blocking(move || {
            let out = device.run(op, &tensors);
            drop(guard);
            out
        })
        .await
        .map_err(|e| {
            self.error(Error::new(
                ErrorKind::Panic,
                format!("the device work failed: {e}"),
            ))
        })?;
        let tensor = done.map_err(|e| {
            let kind = match e {
                GpuError::Shape(_) => ErrorKind::UnsupportedValue,
                GpuError::NoDriver { .. } | GpuError::Driver { .. } => ErrorKind::Node,
            };
            self.error(Error::new(kind, e.to_string()))
        })?;
        cx.emit(OutPort::OUT, tensor_value(tensor)).await
    }
}
