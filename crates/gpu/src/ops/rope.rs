//! RoPE (`shaders/rope.wgsl`) with the angle cache computed on the host by
//! the CPU's own `rope_cache`, so the angles are the CPU's bit for bit.

use kernels::ops::{rope_cache, RopeMode, RopeParams};

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const ROPE: KernelId = kernel_id!("rope", "rope");

/// The (cos, sin) cache of each position, for upload with the step.
///
/// positions: [n_tok] -> [n_tok, p.n_dims]
pub fn cache(p: &RopeParams, positions: &[usize], freq_factors: Option<&[f32]>) -> Vec<f32> {
    let mut out = vec![0f32; positions.len() * p.n_dims];
    for (&pos, c) in positions.iter().zip(out.chunks_exact_mut(p.n_dims)) {
        rope_cache(p, pos, freq_factors, c);
    }
    out
}

/// Rotates the first `n_dims` dims of every head of every token in place.
///
/// x: [n_tok, n_heads, head_dim], cache: [n_tok, n_dims] from [`cache`]
#[allow(clippy::too_many_arguments)]
pub fn rope(
    enc: &mut Encoder,
    x: &wgpu::Buffer,
    cache: &wgpu::Buffer,
    mode: RopeMode,
    n_tok: usize,
    n_heads: usize,
    head_dim: usize,
    n_dims: usize,
) -> Result<(), GpuError> {
    rope_at(enc, x, cache, 0, mode, n_tok, n_heads, head_dim, n_dims)
}

/// [`rope`] with the cache from element `c_off` of `cache`.
#[allow(clippy::too_many_arguments)]
pub fn rope_at(
    enc: &mut Encoder,
    x: &wgpu::Buffer,
    cache: &wgpu::Buffer,
    c_off: usize,
    mode: RopeMode,
    n_tok: usize,
    n_heads: usize,
    head_dim: usize,
    n_dims: usize,
) -> Result<(), GpuError> {
    if n_dims > head_dim || !n_dims.is_multiple_of(2) {
        return Err(GpuError::Shape {
            op: "rope",
            reason: format!("n_dims {n_dims} must be even and <= head_dim {head_dim}"),
        });
    }
    need("rope", "x", x, n_tok * n_heads * head_dim)?;
    need("rope", "cache", cache, c_off + n_tok * n_dims)?;
    let mode = match mode {
        RopeMode::Normal => 0,
        RopeMode::Neox => 1,
    };
    let params = [
        u32_of("rope", "n_tok", n_tok)?,
        u32_of("rope", "n_heads", n_heads)?,
        u32_of("rope", "head_dim", head_dim)?,
        u32_of("rope", "n_dims", n_dims)?,
        mode,
        u32_of("rope", "c_off", c_off)?,
    ];
    let groups = enc.groups(u32_of("rope", "pairs", n_tok * n_heads * n_dims / 2)?, 64);
    let bufs = [x.as_entire_binding(), cache.as_entire_binding()];
    enc.dispatch(ROPE, &params, &bufs, groups)
}
