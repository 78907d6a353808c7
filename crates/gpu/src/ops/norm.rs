//! RMSNorm of rows (`shaders/norm.wgsl`).

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const RMSNORM: KernelId = kernel_id!("norm", "rmsnorm");
const RMSNORM_IN_PLACE: KernelId = kernel_id!("norm", "rmsnorm_in_place");

/// The kernel's parameters, x and w checked.
fn params(
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    n: usize,
    rows: usize,
    eps: f32,
) -> Result<[u32; 4], GpuError> {
    need("rmsnorm", "x", x, n * rows)?;
    need("rmsnorm", "w", w, n)?;
    Ok([
        u32_of("rmsnorm", "n", n)?,
        u32_of("rmsnorm", "rows", rows)?,
        eps.to_bits(),
        0,
    ])
}

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
    need("rmsnorm", "y", y, n * rows)?;
    let params = params(x, w, n, rows, eps)?;
    let groups = enc.groups(params[1], 1);
    let bufs = [
        x.as_entire_binding(),
        w.as_entire_binding(),
        y.as_entire_binding(),
    ];
    enc.dispatch(RMSNORM, &params, &bufs, groups)
}

/// x = rmsnorm(x) * w, row by row, in place.
///
/// x: [rows, n], w: [n]
pub fn rmsnorm_in_place(
    enc: &mut Encoder,
    x: &wgpu::Buffer,
    w: &wgpu::Buffer,
    n: usize,
    rows: usize,
    eps: f32,
) -> Result<(), GpuError> {
    let params = params(x, w, n, rows, eps)?;
    let groups = enc.groups(params[1], 1);
    let bufs = [(2, w.as_entire_binding()), (3, x.as_entire_binding())];
    enc.dispatch_at(RMSNORM_IN_PLACE, &params, &bufs, groups)
}
