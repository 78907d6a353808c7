//! The AVX2 (+FMA, F16C) kernel table.
//!
//! The functions here take the byte rows of the `Kernels` contract, view
//! them as blocks with `bytemuck` and call the typed SIMD kernels of
//! `legacy`, `float` and `kquant`. Types without an AVX2 kernel, and rows
//! whose bytes are not aligned for their block type, go to the scalar
//! reference (same results up to summation order, only slower).
//!
//! Soundness: the typed kernels are `#[target_feature]` functions. They are
//! reached only through `AVX2`, which `table()` hands out only when the CPU
//! has AVX2, FMA and F16C (`Isa::Avx2.detected()`); nothing else in the
//! crate can name `AVX2` or the byte-level functions.

mod float;
pub(in crate::arch) mod gemm;
mod gemm_batched;
mod gemm_kquant;
pub(in crate::arch::x86) mod gemm_legacy;
pub(in crate::arch) mod kquant;
pub(in crate::arch::x86) mod legacy;
pub(in crate::arch::x86) mod rows;

use crate::arch::{Isa, Kernels, RowDotFn};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use crate::error::KernelError;
use crate::quant::{self, row_bytes, vec_dot_type};
use bytemuck::Pod;
use gguf::GgmlType;
use half::{bf16, f16};

static AVX2: Kernels = Kernels {
    isa: Isa::Avx2,
    vec_dot,
    quantize_row,
    dot_lookup: dot,
    gemm_lookup: gemm::lookup,
    batched_lookup: Some(gemm::batched_lookup),
    gemm_all_rows_lookup: None,
    rows_lookup: None,
    rows_tokens_lookup: None,
    packing_lookup: None,
    decode_candidates: Some(rows::candidates),
};

/// The AVX2 table if this CPU runs it.
pub(in crate::arch) fn table() -> Option<&'static Kernels> {
    Isa::Avx2.detected().then_some(&AVX2)
}

/// The row dot product for weights of type `w` (also the AVX-512 table's
/// fallback for types it has no wider kernel for).
pub(in crate::arch) fn dot(w: GgmlType) -> Option<RowDotFn> {
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

/// `quant::vec_dot` through the AVX2 kernels.
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
fn vec_dot(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    match dot(w) {
        Some(f) => f(n, w_row, act_row),
        None => panic!("vec_dot: no kernel for {w} weights (check quant::has_vec_dot)"),
    }
}

/// `quant::quantize_row` through the AVX2 quantizers: same bytes, same errors.
// src: [n] f32 -> dst: [row_bytes(t, n)] bytes
pub(in crate::arch) fn quantize_row(
    t: GgmlType,
    src: &[f32],
    dst: &mut [u8],
) -> Result<(), KernelError> {
    let whole = src.len().is_multiple_of(t.block_size()) && dst.len() == row_bytes(t, src.len());
    if whole {
        match t {
            GgmlType::Q8_0 => {
                if let Ok(blocks) = bytemuck::try_cast_slice_mut::<u8, BlockQ8_0>(dst) {
                    // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
                    unsafe { legacy::quantize_row_q8_0(src, blocks) };
                    return Ok(());
                }
            }
            GgmlType::Q8_1 => {
                if let Ok(blocks) = bytemuck::try_cast_slice_mut::<u8, BlockQ8_1>(dst) {
                    // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
                    unsafe { legacy::quantize_row_q8_1(src, blocks) };
                    return Ok(());
                }
            }
            GgmlType::Q8_K => {
                if let Ok(blocks) = bytemuck::try_cast_slice_mut::<u8, BlockQ8K>(dst) {
                    // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
                    unsafe { kquant::quantize_row_q8_k(src, blocks) };
                    return Ok(());
                }
            }
            _ => {}
        }
    }
    // Other types, misaligned or malformed rows: the reference (and its errors).
    quant::quantize_row(t, src, dst)
}

/// Runs a typed dot product on the first `n` elements of two byte rows;
/// rows misaligned for their block types go to the scalar reference.
/// Panics (as `quant::vec_dot`) if a row is shorter than `n` elements.
#[inline(always)]
pub(in crate::arch) fn dot_rows<W: Pod, A: Pod>(
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

// Each: w_row: [row_bytes(W, n)], act_row: [row_bytes(vec_dot_type(W), n)] -> f32

fn dot_q8_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(
        GgmlType::Q8_0,
        n,
        w,
        a,
        |x: &[BlockQ8_0], y: &[BlockQ8_0]| {
            // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
            unsafe { legacy::vec_dot_q8_0_q8_0(x, y) }
        },
    )
}

fn dot_q5_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(
        GgmlType::Q5_0,
        n,
        w,
        a,
        |x: &[BlockQ5_0], y: &[BlockQ8_0]| {
            // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
            unsafe { legacy::vec_dot_q5_0_q8_0(x, y) }
        },
    )
}

fn dot_q4_0(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(
        GgmlType::Q4_0,
        n,
        w,
        a,
        |x: &[BlockQ4_0], y: &[BlockQ8_0]| {
            // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
            unsafe { legacy::vec_dot_q4_0_q8_0(x, y) }
        },
    )
}

fn dot_q4_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(
        GgmlType::Q4_1,
        n,
        w,
        a,
        |x: &[BlockQ4_1], y: &[BlockQ8_1]| {
            // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
            unsafe { legacy::vec_dot_q4_1_q8_1(x, y) }
        },
    )
}

fn dot_q5_1(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(
        GgmlType::Q5_1,
        n,
        w,
        a,
        |x: &[BlockQ5_1], y: &[BlockQ8_1]| {
            // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
            unsafe { legacy::vec_dot_q5_1_q8_1(x, y) }
        },
    )
}

fn dot_f32(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::F32, n, w, a, |x: &[f32], y: &[f32]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { float::vec_dot_f32_f32(x, y) }
    })
}

fn dot_f16(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::F16, n, w, a, |x: &[f16], y: &[f16]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { float::vec_dot_f16_f16(x, y) }
    })
}

fn dot_bf16(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::BF16, n, w, a, |x: &[bf16], y: &[bf16]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { float::vec_dot_bf16_bf16(x, y) }
    })
}

fn dot_q2_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::Q2_K, n, w, a, |x: &[BlockQ2K], y: &[BlockQ8K]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { kquant::vec_dot_q2_k_q8_k(x, y) }
    })
}

fn dot_q3_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::Q3_K, n, w, a, |x: &[BlockQ3K], y: &[BlockQ8K]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { kquant::vec_dot_q3_k_q8_k(x, y) }
    })
}

fn dot_q4_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::Q4_K, n, w, a, |x: &[BlockQ4K], y: &[BlockQ8K]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { kquant::vec_dot_q4_k_q8_k(x, y) }
    })
}

fn dot_q5_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::Q5_K, n, w, a, |x: &[BlockQ5K], y: &[BlockQ8K]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { kquant::vec_dot_q5_k_q8_k(x, y) }
    })
}

fn dot_q6_k(n: usize, w: &[u8], a: &[u8]) -> f32 {
    dot_rows(GgmlType::Q6_K, n, w, a, |x: &[BlockQ6K], y: &[BlockQ8K]| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { kquant::vec_dot_q6_k_q8_k(x, y) }
    })
}
