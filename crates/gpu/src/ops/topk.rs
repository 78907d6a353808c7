//! Argmax and top-k of logits rows on the GPU (`shaders/topk.wgsl`), so a
//! step reads back k candidates instead of the vocabulary.

use super::{kernel_id, need, u32_of};
use crate::error::GpuError;
use crate::kernel::{Encoder, KernelId};

const TOP_K: KernelId = kernel_id!("topk", "top_k");

/// The `k` largest values of each row, largest first (lower id first on
/// ties, NaN skipped; `model::backend::top_k`'s order). k = 1 is argmax.
///
/// x: [rows, n] -> ids: [rows, k] u32, vals: [rows, k] f32
pub fn top_k(
    enc: &mut Encoder,
    x: &wgpu::Buffer,
    n: usize,
    rows: usize,
    k: usize,
    ids: &wgpu::Buffer,
    vals: &wgpu::Buffer,
) -> Result<(), GpuError> {
    need("top_k", "x", x, n * rows)?;
    need("top_k", "ids", ids, k * rows)?;
    need("top_k", "vals", vals, k * rows)?;
    let params = [
        u32_of("top_k", "n", n)?,
        u32_of("top_k", "k", k)?,
        u32_of("top_k", "rows", rows)?,
        0,
    ];
    let groups = enc.groups(params[2], 1);
    let bufs = [
        x.as_entire_binding(),
        ids.as_entire_binding(),
        vals.as_entire_binding(),
    ];
    enc.dispatch(TOP_K, &params, &bufs, groups)
}
