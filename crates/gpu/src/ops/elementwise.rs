//! Add, add a bias to every row, scale and soft-cap in place (`shaders/elementwise.wgsl`).

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const ADD: KernelId = kernel_id!("elementwise", "add");
const ADD_BIAS: KernelId = kernel_id!("elementwise", "add_bias");
const SCALE: KernelId = kernel_id!("elementwise", "scale");
const SOFTCAP: KernelId = kernel_id!("elementwise", "softcap");

fn params(
    op: &'static str,
    x: &wgpu::Buffer,
    n: usize,
    s: f32,
    inv: f32,
) -> Result<[u32; 4], GpuError> {
    need(op, "x", x, n)?;
    Ok([u32_of(op, "n", n)?, 0, s.to_bits(), inv.to_bits()])
}

/// x += y. x, y: [n] (distinct buffers)
pub fn add(
    enc: &mut Encoder,
    x: &wgpu::Buffer,
    y: &wgpu::Buffer,
    n: usize,
) -> Result<(), GpuError> {
    need("add", "y", y, n)?;
    let p = params("add", x, n, 0.0, 0.0)?;
    let groups = enc.groups(p[0], 256);
    enc.dispatch(
        ADD,
        &p,
        &[x.as_entire_binding(), y.as_entire_binding()],
        groups,
    )
}

/// x[i] += b[i % m]: the bias b added to each row. x: [n / m, m], b: [m]
pub fn add_bias(
    enc: &mut Encoder,
    x: &wgpu::Buffer,
    b: &wgpu::Buffer,
    n: usize,
    m: usize,
) -> Result<(), GpuError> {
    need("add_bias", "b", b, m)?;
    if m == 0 || !n.is_multiple_of(m) {
        return Err(GpuError::Shape {
            op: "add_bias",
            reason: format!("{n} values are not whole rows of {m}"),
        });
    }
    let mut p = params("add_bias", x, n, 0.0, 0.0)?;
    p[1] = u32_of("add_bias", "m", m)?;
    let groups = enc.groups(p[0], 256);
    enc.dispatch(
        ADD_BIAS,
        &p,
        &[x.as_entire_binding(), b.as_entire_binding()],
        groups,
    )
}

/// x *= s. x: [n]
pub fn scale(enc: &mut Encoder, x: &wgpu::Buffer, n: usize, s: f32) -> Result<(), GpuError> {
    let p = params("scale", x, n, s, 0.0)?;
    let groups = enc.groups(p[0], 256);
    enc.dispatch(SCALE, &p, &[x.as_entire_binding()], groups)
}

/// x = tanh(x / cap) * cap. x: [n]
pub fn softcap(enc: &mut Encoder, x: &wgpu::Buffer, n: usize, cap: f32) -> Result<(), GpuError> {
    let p = params("softcap", x, n, cap, 1.0 / cap)?;
    let groups = enc.groups(p[0], 256);
    enc.dispatch(SOFTCAP, &p, &[x.as_entire_binding()], groups)
}
