//! weir-cuda: the device side of the `gpu` node family (`weir_extensions::gpu`), kept in its own
//! crate because launching a kernel is `unsafe` in cudarc and the rest of the workspace forbids
//! unsafe code.
//!
//! - [`tensor`]: f32 tensors, the ops (`add`, `mul`, `relu`, `matmul`) and their shape checks;
//! - [`launch`]: grid and block dimensions for each kernel, as plain functions;
//! - [`ptx`]: the kernels, hand-written PTX text (`kernels.ptx`) loaded by the driver's JIT, so
//!   neither nvcc nor NVRTC is needed, and the signature each kernel is launched with;
//! - [`device`]: the CUDA driver, loaded at run time (cudarc's `dynamic-loading`): whether it is
//!   present, a device's context with the kernels loaded, and running an op on it.
//!
//! Nothing here falls back to the CPU: without a driver or a device, opening a device is an error.

pub mod device;
pub mod launch;
pub mod ptx;
pub mod tensor;

pub use device::{driver_present, Gpu, GpuError};
pub use launch::LaunchDims;
pub use tensor::{Op, ShapeError, Tensor};
