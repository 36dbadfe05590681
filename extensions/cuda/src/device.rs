//! The CUDA device: the driver library is loaded at run time (cudarc's `dynamic-loading`), so a build
//! needs nothing CUDA and a host without a driver gets an error, never a panic: [`driver_present`] is
//! asked before the first driver call (cudarc panics on a missing library otherwise).
//!
//! [`Gpu::open`] makes (once per device per host) the device's primary context, one stream and the
//! module of `kernels.ptx`; [`Gpu::run`] checks shapes, copies the inputs in, launches the op's kernel,
//! and copies the result out, blocking the calling thread until the device is done (callers run it
//! off the async workers, holding the device's GPU lock). The caller serialises work per device.
//!
//! This path has never run on a GPU: the machine it was written on has neither a GPU nor a driver.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cudarc::driver::{CudaContext, CudaFunction, CudaStream, DriverError, LaunchConfig, PushKernelArg};
use parking_lot::Mutex;

use crate::launch::{self, LaunchDims};
use crate::ptx::{kernel, PTX};
use crate::tensor::{Op, ShapeError, Tensor};

/// Why a device cannot be opened or an op cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GpuError {
    #[error("no CUDA driver found (looked for {searched}); the gpu kinds need an NVIDIA GPU and its driver")]
    NoDriver { searched: String },
    #[error("GPU {device}: {during}: {error}")]
    Driver {
        device: u32,
        during: &'static str,
        error: String,
    },
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

/// Whether the CUDA driver library can be loaded on this host (asked once, then remembered).
pub fn driver_present() -> bool {
    static PRESENT: OnceLock<bool> = OnceLock::new();
    *PRESENT.get_or_init(|| {
        // SAFETY: this only tries `dlopen` on the driver library's names and closes what it opened;
        // loading runs the library's initialisers, which is what any use of the driver does.
        #[allow(unsafe_code)]
        unsafe {
            cudarc::driver::sys::is_culib_present()
        }
    })
}

/// The library names the driver is looked for under (cudarc's list, as `is_culib_present` tries it).
fn searched() -> String {
    let names: Vec<String> = ["cuda", "nvcuda"]
        .iter()
        .flat_map(|l| cudarc::get_lib_name_candidates(l))
        .collect();
    // The plain name and the one Linux drivers install (`libcuda.so`, `libcuda.so.1`).
    let shown: Vec<&str> = names
        .first()
        .into_iter()
        .chain(names.iter().find(|n| n.ends_with(".1")))
        .map(String::as_str)
        .collect();
    format!(
        "{} and {} other name(s)",
        shown.join(", "),
        names.len().saturating_sub(shown.len())
    )
}

/// One device with its stream and the kernels loaded.
pub struct Gpu {
    ordinal: u32,
    stream: Arc<CudaStream>,
    kernels: HashMap<Op, CudaFunction>,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu").field("ordinal", &self.ordinal).finish()
    }
}

impl Gpu {
    /// Device `ordinal`, opened on first use and shared afterwards. Fails with
    /// [`GpuError::NoDriver`] when the driver library is absent, else with the driver's error
    /// (no such device, a PTX the JIT refuses).
    pub fn open(ordinal: u32) -> Result<Arc<Gpu>, GpuError> {
        static OPEN: OnceLock<Mutex<HashMap<u32, Arc<Gpu>>>> = OnceLock::new();
        if !driver_present() {
            return Err(GpuError::NoDriver { searched: searched() });
        }
        let mut open = OPEN.get_or_init(|| Mutex::new(HashMap::new())).lock();
        if let Some(gpu) = open.get(&ordinal) {
            return Ok(gpu.clone());
        }
        let gpu = Arc::new(Self::load(ordinal)?);
        open.insert(ordinal, gpu.clone());
        Ok(gpu)
    }

    fn load(ordinal: u32) -> Result<Gpu, GpuError> {
        let err = |during| {
            move |e: DriverError| GpuError::Driver {
                device: ordinal,
                during,
                error: e.to_string(),
            }
        };
        let ctx = CudaContext::new(ordinal as usize).map_err(err("opening the device"))?;
        let module = ctx
            .load_module(cudarc::nvrtc::Ptx::from_src(PTX))
            .map_err(err("loading kernels.ptx"))?;
        let mut kernels = HashMap::new();
        for op in Op::ALL {
            let f = module
                .load_function(kernel(op).name)
                .map_err(err("finding a kernel in kernels.ptx"))?;
            kernels.insert(op, f);
        }
        Ok(Gpu {
            ordinal,
            stream: ctx.default_stream(),
            kernels,
        })
    }

    pub fn ordinal(&self) -> u32 {
        self.ordinal
    }

    /// Computes `op` on `inputs` on the device, blocking until the result is back.
    pub fn run(&self, op: Op, inputs: &[Tensor]) -> Result<Tensor, GpuError> {
        let shape = op.output_shape(inputs)?;
        let len: usize = shape.iter().product();
        let (dims, sizes) = match op {
            Op::Add | Op::Mul | Op::Relu => (launch::elementwise(len)?, vec![len as u32]),
            Op::Matmul => {
                let (m, k, n) = (shape[0], inputs[0].shape()[1], shape[1]);
                (launch::matmul(m, n)?, vec![m as u32, k as u32, n as u32])
            }
        };
        let data = self
            .launch(op, inputs, len, dims, &sizes)
            .map_err(|e| GpuError::Driver {
                device: self.ordinal,
                during: "running a kernel",
                error: e.to_string(),
            })?;
        Ok(Tensor::new(shape, data)?)
    }

    /// Copies `inputs` in, launches `op`'s kernel over `dims` with `sizes`, copies `len` floats out.
    fn launch(
        &self,
        op: Op,
        inputs: &[Tensor],
        len: usize,
        dims: LaunchDims,
        sizes: &[u32],
    ) -> Result<Vec<f32>, DriverError> {
        let s = &self.stream;
        let ins = inputs
            .iter()
            .map(|t| s.clone_htod(t.data()))
            .collect::<Result<Vec<_>, _>>()?;
        let mut out = s.alloc_zeros::<f32>(len)?;
        let Some(f) = self.kernels.get(&op) else {
            // Every op's kernel is loaded by `open`.
            return Err(DriverError(cudarc::driver::sys::CUresult::CUDA_ERROR_NOT_FOUND));
        };
        let mut args = s.launch_builder(f);
        for i in &ins {
            args.arg(i);
        }
        args.arg(&mut out);
        for n in sizes {
            args.arg(n);
        }
        let cfg = LaunchConfig {
            grid_dim: dims.grid,
            block_dim: dims.block,
            shared_mem_bytes: 0,
        };
        // SAFETY: the arguments are, in order, exactly the kernel's parameters as `ptx::kernel(op)`
        // lists them (a test checks them against the PTX): one device buffer per input, the output
        // buffer, then the u32 sizes. `Op::output_shape` checked the inputs against each other, so
        // the buffers hold what the kernel indexes: `n` floats each for the element-wise kernels;
        // `m·k`, `k·n` and `m·n` for matmul. Every element count fits the kernels' 32-bit indices
        // (`tensor::MAX_ELEMENTS`), and each thread checks its index against the sizes, so a launch
        // covering more threads than elements reads and writes nothing out of bounds.
        #[allow(unsafe_code)]
        unsafe { args.launch(cfg) }?;
        let host = s.clone_dtoh(&out)?;
        s.synchronize()?;
        Ok(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_driver_opening_a_device_is_an_error_naming_it() {
        if driver_present() {
            eprintln!("a CUDA driver is present here: this test checks hosts without one");
            return;
        }
        let err = Gpu::open(0).unwrap_err();
        assert!(matches!(err, GpuError::NoDriver { .. }), "{err}");
        let msg = err.to_string();
        assert!(
            msg.starts_with("no CUDA driver found (looked for libcuda.so, libcuda.so.1 and "),
            "{msg}"
        );
        eprintln!("{msg}");
    }
}
