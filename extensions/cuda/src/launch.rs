//! Grid and block dimensions for the kernels of `kernels.ptx`, as plain functions (testable without a
//! device). Element-wise kernels run one thread per element in 1-D blocks of [`ELEMENTWISE_BLOCK`];
//! `matmul` runs one thread per output element in [`MATMUL_TILE`]² blocks, x over columns and y over
//! rows. The limits are CUDA's for every device of compute capability 5.0 or later.

use crate::tensor::ShapeError;

/// Threads per block of the element-wise kernels.
pub const ELEMENTWISE_BLOCK: u32 = 256;
/// The side of `matmul`'s square blocks.
pub const MATMUL_TILE: u32 = 16;
/// The most blocks along x.
pub const MAX_GRID_X: u32 = i32::MAX as u32;
/// The most blocks along y (and z).
pub const MAX_GRID_Y: u32 = 65_535;

/// A launch's grid (blocks) and block (threads) dimensions, `(x, y, z)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LaunchDims {
    pub grid: (u32, u32, u32),
    pub block: (u32, u32, u32),
}

impl LaunchDims {
    /// How many threads the launch starts.
    pub fn threads(&self) -> u64 {
        let (g, b) = (self.grid, self.block);
        [g.0, g.1, g.2, b.0, b.1, b.2]
            .iter()
            .map(|d| u64::from(*d))
            .product()
    }
}

/// Blocks of `per_block` needed to cover `n`, checked against `limit`.
fn blocks(what: &'static str, n: usize, per_block: u32, limit: u32) -> Result<u32, ShapeError> {
    let n = n as u64;
    let b = n.div_ceil(u64::from(per_block));
    if n == 0 || b > u64::from(limit) {
        return Err(ShapeError::Launch {
            what,
            value: b,
            limit: u64::from(limit),
        });
    }
    Ok(b as u32)
}

/// One thread per element of `n` (at least one).
pub fn elementwise(n: usize) -> Result<LaunchDims, ShapeError> {
    Ok(LaunchDims {
        grid: (blocks("grid x", n, ELEMENTWISE_BLOCK, MAX_GRID_X)?, 1, 1),
        block: (ELEMENTWISE_BLOCK, 1, 1),
    })
}

/// One thread per element of an `m × n` result.
pub fn matmul(m: usize, n: usize) -> Result<LaunchDims, ShapeError> {
    Ok(LaunchDims {
        grid: (
            blocks("grid x", n, MATMUL_TILE, MAX_GRID_X)?,
            blocks("grid y", m, MATMUL_TILE, MAX_GRID_Y)?,
            1,
        ),
        block: (MATMUL_TILE, MATMUL_TILE, 1),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn elementwise_covers_every_element_with_the_fewest_blocks() {
        assert_eq!(elementwise(1).unwrap().grid, (1, 1, 1));
        assert_eq!(elementwise(256).unwrap().grid, (1, 1, 1));
        assert_eq!(elementwise(257).unwrap().grid, (2, 1, 1));
        for n in [1usize, 255, 256, 257, 1000, 65_536, 1 << 30] {
            let d = elementwise(n).unwrap();
            assert!(d.threads() >= n as u64, "{n}: {d:?}");
            assert!(
                d.threads() < n as u64 + u64::from(ELEMENTWISE_BLOCK),
                "{n}: {d:?}"
            );
        }
        assert!(elementwise(0).is_err());
    }

    #[test]
    fn matmul_tiles_columns_along_x_and_rows_along_y() {
        let d = matmul(33, 17).unwrap();
        assert_eq!(d.grid, (2, 3, 1));
        assert_eq!(d.block, (16, 16, 1));
        assert_eq!(matmul(1, 1).unwrap().grid, (1, 1, 1));
        // Rows beyond 65,535 blocks of 16 do not fit the grid's y.
        let err = matmul(65_535 * 16 + 1, 1).unwrap_err();
        assert_eq!(
            err.to_string(),
            "grid y of 65536 is beyond the device's limit of 65535"
        );
        assert!(matmul(65_535 * 16, 1).is_ok());
        assert!(matmul(4, 0).is_err());
    }
}
