//! f32 tensors and the ops the kernels implement, with every shape check done before a device is
//! touched: the kernels index their buffers by the sizes these checks establish, so the checks are
//! also what makes a launch memory-safe (see `device.rs`).
//!
//! A tensor is a row-major `shape` and its `data`; it holds at least one element and at most
//! [`MAX_ELEMENTS`] (indices fit the kernels' 32-bit arithmetic).

use std::fmt;

/// The most elements a tensor may hold: the kernels index with 32-bit integers.
pub const MAX_ELEMENTS: usize = i32::MAX as usize;

/// A tensor's shape or data does not fit its op.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("shape {shape:?} holds {expected} element(s) but data has {got}")]
    DataLength {
        shape: Vec<usize>,
        expected: usize,
        got: usize,
    },
    #[error("shape {0:?} holds no element")]
    Empty(Vec<usize>),
    #[error("shape {shape:?} holds more than {max} elements", max = MAX_ELEMENTS)]
    TooLarge { shape: Vec<usize> },
    #[error("{op} takes {want} tensor(s), got {got}")]
    Arity { op: Op, want: usize, got: usize },
    #[error("{op} needs tensors of one shape, got {a:?} and {b:?}")]
    Mismatch { op: Op, a: Vec<usize>, b: Vec<usize> },
    #[error("matmul needs 2-D tensors, got {which} of shape {shape:?}")]
    NotMatrix { which: &'static str, shape: Vec<usize> },
    #[error("matmul needs a's columns to equal b's rows, got {a:?} and {b:?}")]
    Inner { a: Vec<usize>, b: Vec<usize> },
    #[error("{what} of {value} is beyond the device's limit of {limit}")]
    Launch {
        what: &'static str,
        value: u64,
        limit: u64,
    },
}

/// A row-major f32 tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    shape: Vec<usize>,
    data: Vec<f32>,
}

impl Tensor {
    /// A tensor of `shape` holding `data`; refused when the sizes disagree, or when it holds no
    /// element or more than [`MAX_ELEMENTS`].
    pub fn new(shape: Vec<usize>, data: Vec<f32>) -> Result<Self, ShapeError> {
        let expected = shape
            .iter()
            .try_fold(1usize, |n, d| n.checked_mul(*d))
            .filter(|n| *n <= MAX_ELEMENTS)
            .ok_or_else(|| ShapeError::TooLarge { shape: shape.clone() })?;
        if expected == 0 {
            return Err(ShapeError::Empty(shape));
        }
        if expected != data.len() {
            return Err(ShapeError::DataLength {
                shape,
                expected,
                got: data.len(),
            });
        }
        Ok(Tensor { shape, data })
    }

    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The number of elements (never zero).
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Always false: a tensor holds at least one element.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn into_parts(self) -> (Vec<usize>, Vec<f32>) {
        (self.shape, self.data)
    }
}

/// What a `gpu` node computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `a + b`, element by element (same shapes).
    Add,
    /// `a * b`, element by element (same shapes).
    Mul,
    /// `max(a, 0)`, element by element.
    Relu,
    /// `a · b` for `a` of shape `[m, k]` and `b` of shape `[k, n]`, giving `[m, n]`.
    Matmul,
}

impl Op {
    pub const ALL: [Op; 4] = [Op::Add, Op::Mul, Op::Relu, Op::Matmul];

    pub fn name(self) -> &'static str {
        match self {
            Op::Add => "add",
            Op::Mul => "mul",
            Op::Relu => "relu",
            Op::Matmul => "matmul",
        }
    }

    /// The op called `name`.
    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == name)
    }

    /// How many tensors it takes.
    pub fn arity(self) -> usize {
        match self {
            Op::Relu => 1,
            Op::Add | Op::Mul | Op::Matmul => 2,
        }
    }

    /// The shape of the result of the op on `inputs`, or why the inputs do not fit it.
    pub fn output_shape(self, inputs: &[Tensor]) -> Result<Vec<usize>, ShapeError> {
        if inputs.len() != self.arity() {
            return Err(ShapeError::Arity {
                op: self,
                want: self.arity(),
                got: inputs.len(),
            });
        }
        match self {
            Op::Relu => Ok(inputs[0].shape.clone()),
            Op::Add | Op::Mul => {
                let (a, b) = (&inputs[0].shape, &inputs[1].shape);
                if a != b {
                    return Err(ShapeError::Mismatch {
                        op: self,
                        a: a.clone(),
                        b: b.clone(),
                    });
                }
                Ok(a.clone())
            }
            Op::Matmul => {
                let (m, k) = matrix("a", &inputs[0].shape)?;
                let (k2, n) = matrix("b", &inputs[1].shape)?;
                if k != k2 {
                    return Err(ShapeError::Inner {
                        a: inputs[0].shape.clone(),
                        b: inputs[1].shape.clone(),
                    });
                }
                let out = vec![m, n];
                if m.checked_mul(n).is_none_or(|e| e > MAX_ELEMENTS) {
                    return Err(ShapeError::TooLarge { shape: out });
                }
                Ok(out)
            }
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `(rows, columns)` of a 2-D shape.
fn matrix(which: &'static str, shape: &[usize]) -> Result<(usize, usize), ShapeError> {
    match shape {
        [rows, cols] => Ok((*rows, *cols)),
        _ => Err(ShapeError::NotMatrix {
            which,
            shape: shape.to_vec(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn t(shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        Tensor::new(shape.to_vec(), vec![1.0; n]).unwrap()
    }

    #[test]
    fn a_tensor_checks_its_data_against_its_shape() {
        assert_eq!(
            Tensor::new(vec![2, 3], vec![0.0; 5]).unwrap_err(),
            ShapeError::DataLength {
                shape: vec![2, 3],
                expected: 6,
                got: 5
            }
        );
        assert_eq!(
            Tensor::new(vec![2, 0], vec![]).unwrap_err(),
            ShapeError::Empty(vec![2, 0])
        );
        assert!(matches!(
            Tensor::new(vec![1 << 20, 1 << 20], vec![]).unwrap_err(),
            ShapeError::TooLarge { .. }
        ));
        assert!(matches!(
            Tensor::new(vec![usize::MAX, 2], vec![]).unwrap_err(),
            ShapeError::TooLarge { .. }
        ));
        // A scalar is the empty shape with one element.
        assert_eq!(Tensor::new(vec![], vec![3.0]).unwrap().len(), 1);
    }

    #[test]
    fn elementwise_ops_need_equal_shapes() {
        assert_eq!(
            Op::Add.output_shape(&[t(&[2, 3]), t(&[2, 3])]).unwrap(),
            vec![2, 3]
        );
        let err = Op::Mul.output_shape(&[t(&[2, 3]), t(&[3, 2])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "mul needs tensors of one shape, got [2, 3] and [3, 2]"
        );
        assert_eq!(Op::Relu.output_shape(&[t(&[4])]).unwrap(), vec![4]);
        let err = Op::Relu.output_shape(&[t(&[4]), t(&[4])]).unwrap_err();
        assert_eq!(err.to_string(), "relu takes 1 tensor(s), got 2");
        let err = Op::Add.output_shape(&[t(&[4])]).unwrap_err();
        assert_eq!(err.to_string(), "add takes 2 tensor(s), got 1");
    }

    #[test]
    fn matmul_needs_matrices_whose_inner_sizes_agree() {
        assert_eq!(
            Op::Matmul.output_shape(&[t(&[2, 3]), t(&[3, 4])]).unwrap(),
            vec![2, 4]
        );
        let err = Op::Matmul.output_shape(&[t(&[2, 3]), t(&[2, 3])]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "matmul needs a's columns to equal b's rows, got [2, 3] and [2, 3]"
        );
        let err = Op::Matmul.output_shape(&[t(&[6]), t(&[6, 1])]).unwrap_err();
        assert_eq!(err.to_string(), "matmul needs 2-D tensors, got a of shape [6]");
        let err = Op::Matmul.output_shape(&[t(&[2, 3]), t(&[3, 1, 1])]).unwrap_err();
        assert!(matches!(err, ShapeError::NotMatrix { which: "b", .. }), "{err}");
    }

    #[test]
    fn ops_are_named() {
        for op in Op::ALL {
            assert_eq!(Op::from_name(op.name()), Some(op));
        }
        assert_eq!(Op::from_name("conv"), None);
    }
}
