//! The NEON kernel tables (aarch64).
//!
//! NEON (AdvSIMD) is part of the aarch64 baseline, so the `Mull` kernels of
//! `legacy`, `kquant` and `float` are ordinary functions. CPUs with the
//! ARMv8.2 dot-product extension (`FEAT_DotProd`: Apple M1+, Cortex-A55/A76+,
//! Graviton 2+, Snapdragon 845+) also get the `sdot` builds of the integer
//! kernels (`dotprod`), which replace four multiply/add instructions per 16
//! byte products by one. The choice is made once: `table()` hands out
//! `NEON_DOTPROD` when `is_aarch64_feature_detected!("dotprod")`, else
//! `NEON`; both report `Isa::Neon` and give bit-identical results.
//! `WASM_CHORD_NEON_SDOT=0` forces `NEON` (to benchmark both paths).
//!
//! The functions here take the byte rows of the `Kernels` contract, view
//! them as blocks with `bytemuck` and call the typed kernels. Rows whose
//! bytes are not aligned for their block type go to the scalar reference
//! (same results up to summation order, only slower). The quantizers are
//! the scalar references (the bytes must be identical anyway).
//!
//! Soundness: the `dotprod` kernels are `#[target_feature]` functions,
//! reached only through `NEON_DOTPROD`, which `table()` hands out only after
//! detecting the feature; nothing else in the crate can name it.

mod common;
mod dotprod;
mod float;
mod kquant;
mod legacy;
#[cfg(test)]
mod tests;

use crate::arch::{generic_gemm_lookup, Isa, Kernels, RowDotFn};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::quant::{self, row_bytes, vec_dot_type};
use bytemuck::Pod;
use common::Mull;
use gguf::GgmlType;

/// Baseline NEON (every aarch64 CPU).
static NEON: Kernels = Kernels {
    isa: Isa::Neon,
    vec_dot: vec_dot_base,
    quantize_row: quant::quantize_row,
    dot_lookup: dot_base,
    gemm_lookup: generic_gemm_lookup,
    batched_lookup: None,
    gemm_all_rows_lookup: None,
    rows_lookup: None,
    rows_tokens_lookup: None,
    packing_lookup: None,
    decode_candidates: None,
};

/// NEON with `sdot` for the integer kernels (CPUs with FEAT_DotProd).
static NEON_DOTPROD: Kernels = Kernels {
    isa: Isa::Neon,
    vec_dot: vec_dot_dotprod,
    quantize_row: quant::quantize_row,
    dot_lookup: dot_dotprod,
    gemm_lookup: generic_gemm_lookup,
    batched_lookup: None,
    gemm_all_rows_lookup: None,
    rows_lookup: None,
    rows_tokens_lookup: None,
    packing_lookup: None,
    decode_candidates: None,
};

/// Whether this CPU has the dot-product extension (`sdot`).
fn has_dotprod() -> bool {
    std::arch::is_aarch64_feature_detected!("dotprod")
}

/// `WASM_CHORD_NEON_SDOT=0` keeps the baseline kernels on a CPU with dot
/// product, so both paths can be benchmarked on one machine.
fn sdot_allowed(var: Option<&str>) -> bool {
    var.is_none_or(|v| v.trim() != "0")
}

/// The NEON table if this CPU runs it: with `sdot` kernels when available
/// (and not turned off by `WASM_CHORD_NEON_SDOT=0`).
pub(in crate::arch) fn table() -> Option<&'static Kernels> {
    if !Isa::Neon.detected() {
        return None;
    }
    let var = std::env::var("WASM_CHORD_NEON_SDOT").ok();
    let sdot = has_dotprod() && sdot_allowed(var.as_deref());
    Some(if sdot { &NEON_DOTPROD } else { &NEON })
}

/// Both NEON tables this CPU runs, for the conformance tests
/// (`crate::conformance`).
#[cfg(test)]
pub(in crate::arch) fn test_tables() -> Vec<(&'static str, &'static Kernels)> {
    let mut v = Vec::new();
    if Isa::Neon.detected() {
        v.push(("neon", &NEON));
        if has_dotprod() {
            v.push(("neon-sdot", &NEON_DOTPROD));
        }
    }
    v
}

/// `quant::vec_dot` through the baseline NEON kernels.
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
fn vec_dot_base(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    match dot_base(w) {
        Some(f) => f(n, w_row, act_row),
        None => panic!("vec_dot: no kernel for {w} weights (check quant::has_vec_dot)"),
    }
}

/// `quant::vec_dot` through the `sdot` kernels.
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
fn vec_dot_dotprod(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    match dot_dotprod(w) {
        Some(f) => f(n, w_row, act_row),
        None => panic!("vec_dot: no kernel for {w} weights (check quant::has_vec_dot)"),
    }
}

/// Runs a typed dot product on the first `n` elements of two byte rows;
/// rows misaligned for their block types go to the scalar reference.
/// Panics (as `quant::vec_dot`) if a row is shorter than `n` elements.
#[inline(always)]
fn rows<W: Pod, A: Pod>(
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

// Each RowDotFn: w_row: [row_bytes(W, n)], act_row: [row_bytes(vec_dot_type(W), n)] -> f32

/// The baseline NEON row dot for weights of type `w`.
fn dot_base(w: GgmlType) -> Option<RowDotFn> {
    use GgmlType::*;
    Some(match w {
        F32 => |n, w, a| rows(F32, n, w, a, float::vec_dot_f32_f32),
        F16 => |n, w, a| rows(F16, n, w, a, float::vec_dot_f16_f16),
        BF16 => |n, w, a| rows(BF16, n, w, a, float::vec_dot_bf16_bf16),
        Q4_0 => |n, w, a| rows(Q4_0, n, w, a, legacy::vec_dot_q8_0::<Mull, BlockQ4_0>),
        Q5_0 => |n, w, a| rows(Q5_0, n, w, a, legacy::vec_dot_q8_0::<Mull, BlockQ5_0>),
        Q8_0 => |n, w, a| rows(Q8_0, n, w, a, legacy::vec_dot_q8_0::<Mull, BlockQ8_0>),
        Q4_1 => |n, w, a| rows(Q4_1, n, w, a, legacy::vec_dot_q8_1::<Mull, BlockQ4_1>),
        Q5_1 => |n, w, a| rows(Q5_1, n, w, a, legacy::vec_dot_q8_1::<Mull, BlockQ5_1>),
        Q2_K => |n, w, a| rows(Q2_K, n, w, a, kquant::vec_dot_q2_k_q8_k::<Mull>),
        Q3_K => |n, w, a| rows(Q3_K, n, w, a, kquant::vec_dot_q3_k_q8_k::<Mull>),
        Q4_K => |n, w, a| rows(Q4_K, n, w, a, kquant::vec_dot_q4_k_q8_k::<Mull>),
        Q5_K => |n, w, a| rows(Q5_K, n, w, a, kquant::vec_dot_q5_k_q8_k::<Mull>),
        Q6_K => |n, w, a| rows(Q6_K, n, w, a, kquant::vec_dot_q6_k_q8_k::<Mull>),
        _ => return None,
    })
}

/// A `RowDotFn` calling the `dotprod` kernel `$f` on `$W` weight and `$A`
/// activation blocks.
macro_rules! sdot_row {
    ($ty:ident, $W:ty, $A:ty, $f:ident) => {
        |n, w, a| {
            rows(GgmlType::$ty, n, w, a, |x: &[$W], y: &[$A]| {
                // SAFETY: dotprod was detected before `NEON_DOTPROD`, the
                // only route to `dot_dotprod`, was handed out.
                unsafe { dotprod::$f(x, y) }
            })
        }
    };
}

/// The row dot for weights of type `w` with `sdot` (integer types; the
/// float types use the baseline kernels).
fn dot_dotprod(w: GgmlType) -> Option<RowDotFn> {
    use GgmlType::*;
    Some(match w {
        Q4_0 => sdot_row!(Q4_0, BlockQ4_0, BlockQ8_0, vec_dot_q4_0_q8_0),
        Q5_0 => sdot_row!(Q5_0, BlockQ5_0, BlockQ8_0, vec_dot_q5_0_q8_0),
        Q8_0 => sdot_row!(Q8_0, BlockQ8_0, BlockQ8_0, vec_dot_q8_0_q8_0),
        Q4_1 => sdot_row!(Q4_1, BlockQ4_1, BlockQ8_1, vec_dot_q4_1_q8_1),
        Q5_1 => sdot_row!(Q5_1, BlockQ5_1, BlockQ8_1, vec_dot_q5_1_q8_1),
        Q2_K => sdot_row!(Q2_K, BlockQ2K, BlockQ8K, vec_dot_q2_k_q8_k),
        Q3_K => sdot_row!(Q3_K, BlockQ3K, BlockQ8K, vec_dot_q3_k_q8_k),
        Q4_K => sdot_row!(Q4_K, BlockQ4K, BlockQ8K, vec_dot_q4_k_q8_k),
        Q5_K => sdot_row!(Q5_K, BlockQ5K, BlockQ8K, vec_dot_q5_k_q8_k),
        Q6_K => sdot_row!(Q6_K, BlockQ6K, BlockQ8K, vec_dot_q6_k_q8_k),
        other => return dot_base(other),
    })
}
