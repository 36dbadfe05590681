//! The `gpu` family (DESIGN.md, GPU lock): the `gpu` kind runs one tensor op per packet (`add`, `mul`,
//! `relu`, `matmul` on f32 tensors) on a CUDA device, through the hand-written PTX kernels of
//! `weir-cuda`. Always compiled: the driver is loaded at run time, so a host without one builds and
//! runs every other kind, and a `gpu` spec there fails to load (an inactive spec whose error names
//! the namespace, the spec and that no CUDA driver was found). There is no CPU fallback.
//!
//! - `kind.rs`: the kind and its node, which holds the device's GPU lock (the host's
//!   [`GpuLocks`], FIFO, a timeout naming the holder, `waiting` reported) around the device work;
//! - `tensor.rs`: tensors as packet values, `{shape: [..], data: [..]}`.
//!
//! The device path has never run on a GPU (none on the machine it was written on).

use std::sync::OnceLock;

use weir_codecs::codec::Scheme;
use weir_engine::gpu::GpuLocks;

mod kind;
mod tensor;
#[cfg(test)]
#[path = "gpu_tests.rs"]
mod tests;

pub use kind::{GpuFields, GpuKind, GpuOp, DEFAULT_TIMEOUT};
pub use tensor::{tensor_value, value_tensor};

/// The GPU locks of this host: devices are process-wide, so are their locks.
pub fn locks() -> GpuLocks {
    static LOCKS: OnceLock<GpuLocks> = OnceLock::new();
    LOCKS.get_or_init(GpuLocks::new).clone()
}

/// Registers `gpu`, taking the host's GPU locks.
pub fn register(scheme: &mut Scheme) {
    scheme.register(GpuKind { locks: locks() });
}
