//! RMSNorm of rows (`shaders/norm.wgsl`).

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const RMSNORM: KernelId = kernel_id!("norm", "rmsnorm");

/// y = rmsnorm(x) * w, row by row.
///
/// x: [rows, n], w: [n] -> y: [rows, n] (y may not be x)
pub fn rmsnorm(
    enc: &mut Encoder,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    y: &wgpu::Buffer,
    n: usize,
    rows: usize,
    eps: f32,
) -> Result<(), GpuError> {
    need("rmsnorm", "x", x, n * rows)?;
    need("rmsnorm", "w", w, n)?;
    need("rmsnorm", "y", y, n * rows)?;
    let params = [
        u32_of("rmsnorm", "n", n)?,
        u32_of("rmsnorm", "rows", rows)?,
        eps.to_bits(),
        0,
    ];
    let groups = enc.groups(params[1], 1);
    let bufs = [
        x.as_entire_binding(),
        w.as_entire_binding(),
        y.as_entire_binding(),
    ];
    enc.dispatch(RMSNORM, &params, &bufs, groups)
}
