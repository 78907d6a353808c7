//! The wasm simd128 kernel table.
//!
//! wasm has no run-time feature detection: a module either validates with
//! its SIMD instructions or does not load at all, so this table exists only
//! in builds compiled with `-C target-feature=+simd128` (the browser loader
//! picks between a simd128 build and a baseline one), and `table()` hands it
//! out unconditionally there.
//!
//! The functions here take the byte rows of the `Kernels` contract, view
//! them as blocks with `bytemuck` and call the typed kernels of
//! `legacy_rows` (Q4_0 / Q5_0 / Q8_0, bit for bit the scalar reference),
//! `legacy`, `kquant` (the Q4_K / Q6_K ones through `rows_kquant`) and
//! `float`. Rows whose bytes are not aligned for their block type go to the
//! scalar reference (same results up to summation order). The multi-row
//! decode kernels (`rows`) equal the row dots bit for bit. The activation
//! quantizers are the scalar ones (see `quantize_row`).

pub(crate) mod float;
mod kproducts;
#[cfg(all(test, target_feature = "relaxed-simd"))]
mod kproducts_tests;
mod kquant;
mod legacy;
mod legacy_rows;
mod rows;
mod rows_kquant;
#[cfg(test)]
mod rows_tests;
pub(crate) mod simd;
#[cfg(test)]
mod tests;

use crate::arch::{Isa, Kernels, RowDotFn};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::quant::{self, row_bytes, vec_dot_type};
use bytemuck::Pod;
use gguf::GgmlType;
use half::{bf16, f16};

static SIMD128: Kernels = Kernels {
    isa: Isa::Simd128,
    vec_dot,
    // The activation quantizers stay scalar: they run once per matrix
    // input, not once per weight row (see the crate's benchmarks).
    quantize_row: quant::quantize_row,
    dot_lookup: dot,
    gemm_lookup: rows::gemm_lookup,
    batched_lookup: None,
    gemm_all_rows_lookup: None,
    rows_lookup: Some(rows::lookup),
    rows_tokens_lookup: None,
    packing_lookup: None,
    decode_candidates: None,
};

/// The simd128 table (this build runs simd128 by construction).
pub(in crate::arch) fn table() -> Option<&'static Kernels> {
    Some(&SIMD128)
}

/// The row dot product for weights of type `w`.
fn dot(w: GgmlType) -> Option<RowDotFn> {
    use GgmlType::*;
    Some(match w {
        F32 => dot_f32,
        F16 => dot_f16,
        BF16 => dot_bf16,
        Q4_0 => dot_q4_0,
        Q4_1 => dot_q4_1,
        Q5_0 => dot_q5_0,
        Q5_1 => dot_q5_1,
        Q8_0 => dot_q8_0,
        Q2_K => dot_q2_k,
        Q3_K => dot_q3_k,
        Q4_K => dot_q4_k,
        Q5_K => dot_q5_k,
        Q6_K => dot_q6_k,
        _ => return None,
    })
}

/// `quant::vec_dot` through the simd128 kernels.
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
fn vec_dot(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    match dot(w) {
        Some(f) => f(n, w_row, act_row),
        None => panic!("vec_dot: no kernel for {w} weights (check quant::has_vec_dot)"),
    }
}

/// Runs a typed dot product on the first `n` elements of two byte rows;
/// rows misaligned for their block types go to the scalar reference.
/// Panics (as `quant::vec_dot`) if a row is shorter than `n` elements.
#[inline(always)]
fn dot_rows<W: Pod, A: Pod>(
    w: GgmlType,
    n: usize,
    w_row: &[u8],
    act_row: &[u8],
    f: impl Fn(&[W], &[A]) -> f32,
) -> f32 {
    debug_assert_eq!(
        n % w.block_size(),
        0,
        "vec_dot: {n} is not whole {w} blocks"
    );
    let wb = &w_row[..row_bytes(w, n)];
    let ab = &act_row[..row_bytes(vec_dot_type(w), n)];
    match (bytemuck::try_cast_slice(wb), bytemuck::try_cast_slice(ab)) {
        (Ok(x), Ok(y)) => f(x, y),
        _ => quant::vec_dot(w, n, wb, ab),
    }
}

/// `fn $name(n, w_row, act_row) -> f32`: `$kernel` on `$w` weight blocks
/// and `$a` activation blocks.
// w_row: [row_bytes(W, n)], act_row: [row_bytes(vec_dot_type(W), n)] -> f32
macro_rules! row_dot {
    ($name:ident, $ty:ident, $w:ty, $a:ty, $kernel:path) => {
        fn $name(n: usize, w: &[u8], a: &[u8]) -> f32 {
            dot_rows(GgmlType::$ty, n, w, a, |x: &[$w], y: &[$a]| $kernel(x, y))
        }
    };
}

row_dot!(dot_f32, F32, f32, f32, float::vec_dot_f32_f32);
row_dot!(dot_f16, F16, f16, f16, float::vec_dot_f16_f16);
row_dot!(dot_bf16, BF16, bf16, bf16, float::vec_dot_bf16_bf16);
row_dot!(
    dot_q4_0,
    Q4_0,
    BlockQ4_0,
    BlockQ8_0,
    legacy_rows::vec_dot_q4_0_q8_0
);
row_dot!(
    dot_q4_1,
    Q4_1,
    BlockQ4_1,
    BlockQ8_1,
    legacy::vec_dot_q4_1_q8_1
);
row_dot!(
    dot_q5_0,
    Q5_0,
    BlockQ5_0,
    BlockQ8_0,
    legacy_rows::vec_dot_q5_0_q8_0
);
row_dot!(
    dot_q5_1,
    Q5_1,
    BlockQ5_1,
    BlockQ8_1,
    legacy::vec_dot_q5_1_q8_1
);
row_dot!(
    dot_q8_0,
    Q8_0,
    BlockQ8_0,
    BlockQ8_0,
    legacy_rows::vec_dot_q8_0_q8_0
);
row_dot!(
    dot_q2_k,
    Q2_K,
    BlockQ2K,
    BlockQ8K,
    kquant::vec_dot_q2_k_q8_k
);
row_dot!(
    dot_q3_k,
    Q3_K,
    BlockQ3K,
    BlockQ8K,
    kquant::vec_dot_q3_k_q8_k
);
row_dot!(
    dot_q4_k,
    Q4_K,
    BlockQ4K,
    BlockQ8K,
    kquant::vec_dot_q4_k_q8_k
);
row_dot!(
    dot_q5_k,
    Q5_K,
    BlockQ5K,
    BlockQ8K,
    kquant::vec_dot_q5_k_q8_k
);
row_dot!(
    dot_q6_k,
    Q6_K,
    BlockQ6K,
    BlockQ8K,
    kquant::vec_dot_q6_k_q8_k
);
