//! The kernels: hand-written PTX text (`kernels.ptx`), one module with one entry per op, and the
//! parameter list each entry is launched with. The driver JIT-compiles the text for the device it is
//! loaded on; the text has never been through ptxas here (no CUDA toolkit on the build machine), so a
//! syntax error would show as a load error of the first `gpu` spec on a machine with a GPU. The tests
//! check what can be checked without one: every op has its entry, with the parameters the launch
//! passes, in order.

use crate::tensor::Op;

/// The PTX module holding every kernel.
pub const PTX: &str = include_str!("kernels.ptx");

/// A kernel parameter as the launch passes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param {
    /// A device pointer to f32 (`.u64`).
    Ptr,
    /// A size (`.u32`).
    U32,
}

impl Param {
    /// The PTX type of the parameter.
    pub fn ptx_type(self) -> &'static str {
        match self {
            Param::Ptr => ".u64",
            Param::U32 => ".u32",
        }
    }
}

/// An entry of the module: its name and parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernel {
    pub name: &'static str,
    pub params: &'static [Param],
}

const ELEMENTWISE2: &[Param] = &[Param::Ptr, Param::Ptr, Param::Ptr, Param::U32];

/// The kernel that computes `op`: `(a, b, out, n)` for `add` and `mul`, `(a, out, n)` for `relu`,
/// `(a, b, c, m, k, n)` for `matmul`.
pub fn kernel(op: Op) -> Kernel {
    match op {
        Op::Add => Kernel {
            name: "add_f32",
            params: ELEMENTWISE2,
        },
        Op::Mul => Kernel {
            name: "mul_f32",
            params: ELEMENTWISE2,
        },
        Op::Relu => Kernel {
            name: "relu_f32",
            params: &[Param::Ptr, Param::Ptr, Param::U32],
        },
        Op::Matmul => Kernel {
            name: "matmul_f32",
            params: &[
                Param::Ptr,
                Param::Ptr,
                Param::Ptr,
                Param::U32,
                Param::U32,
                Param::U32,
            ],
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// The parameter types of entry `name` as the PTX declares them.
    fn declared(name: &str) -> Option<Vec<String>> {
        let head = format!(".visible .entry {name}(");
        let start = PTX.find(&head)? + head.len();
        let end = start + PTX[start..].find(')')?;
        Some(
            PTX[start..end]
                .split(',')
                .map(|p| p.split_whitespace().nth(1).unwrap_or_default().to_string())
                .collect(),
        )
    }

    #[test]
    fn every_op_has_an_entry_taking_what_the_launch_passes() {
        for op in Op::ALL {
            let k = kernel(op);
            let types = declared(k.name).unwrap_or_else(|| panic!("no entry {} in kernels.ptx", k.name));
            let want: Vec<_> = k.params.iter().map(|p| p.ptx_type().to_string()).collect();
            assert_eq!(types, want, "{op}");
            assert_eq!(
                k.params.len(),
                op.arity() + 1 + if op == Op::Matmul { 3 } else { 1 }
            );
        }
        assert_eq!(PTX.matches(".visible .entry").count(), Op::ALL.len());
    }

    #[test]
    fn the_module_header_and_labels_are_well_formed() {
        assert!(PTX.contains(".version 6.0\n.target sm_50\n.address_size 64\n"));
        assert_eq!(PTX.matches('{').count(), PTX.matches('}').count());
        // Every branch target is defined exactly once.
        for line in PTX.lines() {
            if let Some(target) = line.split("bra").nth(1).filter(|_| line.contains("bra")) {
                let label = target
                    .trim()
                    .trim_end_matches(';')
                    .trim_start_matches(".uni")
                    .trim();
                assert_eq!(PTX.matches(&format!("\n{label}:")).count(), 1, "{label}");
            }
        }
        assert!(!PTX.contains('\0'), "the driver takes the text as a C string");
    }
}
