//! The scalar reference kernels, single-threaded, as one small facade for
//! backends other than the CPU tables (the model crate's reference
//! backend): row dots by `quant::vec_dot` (what the scalar table runs, bit
//! for bit), norms, RoPE, gated activations and the standard attention on
//! the scalar loops. The same arithmetic as the CPU backend's scalar table,
//! reached without its thread pool, repacked layouts or dispatch.

use crate::arch::Isa;
use crate::error::KernelError;
use crate::pool::ThreadPool;
use crate::quant;
use crate::GgmlType;

pub use crate::attention::{work_per_thread, AttnParams, KvRef};
pub use crate::ops::{
    add, geglu, get_rows, rmsnorm, rmsnorm_into, rope_apply, rope_cache, scale, swiglu,
};

/// y[t][r] = w[r] · x_q[t] by the reference row dot of `ty`, for `n` rows
/// of activations already quantized to `quant::vec_dot_type(ty)`.
///
/// w: [rows, cols] of `ty`, x_q: [n, act_row_bytes] -> y: [n, rows]
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    ty: GgmlType,
    rows: usize,
    cols: usize,
    w: &[u8],
    x_q: &[u8],
    n: usize,
    y: &mut [f32],
) {
    let rb = quant::row_bytes(ty, cols);
    let xb = quant::row_bytes(quant::vec_dot_type(ty), cols);
    for t in 0..n {
        let x = &x_q[t * xb..(t + 1) * xb];
        for (r, yr) in y[t * rows..(t + 1) * rows].iter_mut().enumerate() {
            *yr = quant::vec_dot(ty, cols, &w[r * rb..(r + 1) * rb], x);
        }
    }
}

/// Quantize `n` activation rows of `cols` for weights of type `ty`.
///
/// x: [n, cols] -> out: [n, act_row_bytes] in `quant::vec_dot_type(ty)`.
pub fn quantize_acts(
    ty: GgmlType,
    cols: usize,
    x: &[f32],
    out: &mut [u8],
) -> Result<(), KernelError> {
    crate::ops::quantize_acts(crate::arch::scalar(), ty, cols, x, out)
}

/// Standard attention on one thread with the scalar loops (the scalar
/// table's attention): see `attention::attention_with`.
#[allow(clippy::too_many_arguments)]
pub fn attention(
    p: &AttnParams,
    q: &[f32],
    pos0: usize,
    n_tok: usize,
    k: KvRef,
    v: KvRef,
    work: &mut [f32],
    out: &mut [f32],
) -> Result<(), crate::attention::AttnError> {
    static ONE: std::sync::OnceLock<ThreadPool> = std::sync::OnceLock::new();
    let pool = ONE.get_or_init(|| ThreadPool::new(1));
    crate::attention::attention_with(
        crate::attention::AttentionBackend::Standard,
        Isa::Scalar,
        pool,
        p,
        q,
        pos0,
        n_tok,
        k,
        v,
        work,
        out,
    )
    .map(|_| ())
}
