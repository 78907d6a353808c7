//! The AVX-512 (+VNNI) kernel table.
//!
//! Row dots of every type with a dot product run 512-bit kernels (`legacy`,
//! `kquant`, `float`), with `vpdpbusd` / `vpdpwssd` for the integer sums.
//! Activation quantizers are the AVX2 ones: they must write the scalar
//! reference's bytes, and at one activation row per matrix they are not
//! where the time goes. As in the AVX2 table, rows whose bytes are not
//! aligned for their block type go to the scalar reference.
//!
//! llama.cpp order: llama.cpp's x86 build (even with AVX-512 enabled) dots
//! every quantized type with its AVX2 kernels, and our AVX2 kernels for
//! Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q2_K..Q6_K reproduce its float
//! summation order bit for bit (see `avx2::legacy`, `avx2::kquant`,
//! `crates/kernels/tests/kquant_fixtures.rs`,
//! `crates/model/tests/{gemma_fixtures,tiny_llama}.rs`). So the default
//! AVX-512 table keeps those types on the AVX2 row dots and AVX2 tile
//! kernels: logits stay identical to llama.cpp's, and decode is
//! memory-bound anyway (the 512-bit versions measured the same tg32 on
//! Gemma 3 270M, and without tile kernels prefill was slower: pp64 61 vs
//! 91 t/s). `WASM_CHORD_AVX512_WIDE=1` selects the table with 512-bit row
//! dots for every type instead (read once), to benchmark them.
//!
//! Soundness: the typed kernels are `#[target_feature]` functions needing
//! AVX-512 F/BW/VL/VNNI plus AVX2/FMA/F16C. They are reached only through
//! `AVX512`, which `table()` hands out only when `Isa::Avx512.detected()`
//! (all of those features); a CPU with AVX-512 F/BW but no VNNI gets the
//! AVX2 table instead.

mod candidates;
mod float;
mod gemm_batched;
mod gemm_legacy;
mod gemm_pack;
mod kquant;
mod legacy;
mod packed_kquant;
mod packed_legacy;
#[cfg(test)]
mod packed_legacy_tests;
#[cfg(test)]
mod packed_tests;
mod packed_tokens;
mod rows;
mod rows_kquant;
mod rows_legacy;
#[cfg(test)]
mod rows_legacy_tests;
mod rows_legacy_tokens;
#[cfg(test)]
mod rows_tests;

use super::avx2;
use crate::arch::{GemmFn, Isa, Kernels, RowDotFn};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use avx2::dot_rows;
use gguf::GgmlType;
use half::{bf16, f16};
use std::sync::OnceLock;

/// The default table: llama.cpp's order for the types it runs with AVX2.
static AVX512: Kernels = Kernels {
    isa: Isa::Avx512,
    vec_dot,
    quantize_row: avx2::quantize_row,
    dot_lookup: dot,
    gemm_lookup,
    batched_lookup: Some(gemm_batched::lookup),
    gemm_all_rows_lookup: Some(gemm_legacy::lookup),
    rows_lookup: Some(rows::lookup),
    rows_tokens_lookup: Some(rows_legacy_tokens::lookup),
    packing_lookup: Some(packing),
    decode_candidates: Some(candidates::lookup),
};

/// Every type on 512-bit row dots (`WASM_CHORD_AVX512_WIDE=1`).
static AVX512_WIDE: Kernels = Kernels {
    isa: Isa::Avx512,
    vec_dot: vec_dot_wide,
    quantize_row: avx2::quantize_row,
    dot_lookup: dot_wide,
    gemm_lookup: crate::arch::generic_gemm_lookup,
    batched_lookup: Some(gemm_batched::lookup),
    gemm_all_rows_lookup: None,
    rows_lookup: None,
    rows_tokens_lookup: None,
    packing_lookup: None,
    decode_candidates: None,
};

/// The AVX-512 table if this CPU runs it.
pub(in crate::arch) fn table() -> Option<&'static Kernels> {
    static WIDE: OnceLock<bool> = OnceLock::new();
    let wide = *WIDE
        .get_or_init(|| std::env::var("WASM_CHORD_AVX512_WIDE").is_ok_and(|v| v.trim() == "1"));
    Isa::Avx512
        .detected()
        .then_some(if wide { &AVX512_WIDE } else { &AVX512 })
}

/// Both AVX-512 tables, for the conformance tests (`crate::conformance`).
#[cfg(test)]
pub(in crate::arch) fn test_tables() -> Vec<(&'static str, &'static Kernels)> {
    if !Isa::Avx512.detected() {
        return Vec::new();
    }
    vec![("avx512", &AVX512), ("avx512-wide", &AVX512_WIDE)]
}

/// Whether the default table keeps `w` on the AVX2 kernels (llama.cpp order).
fn llama_cpp_order(w: GgmlType) -> bool {
    use GgmlType::*;
    matches!(
        w,
        Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q2_K | Q3_K | Q4_K | Q5_K | Q6_K
    )
}

/// The default table's repacked decode layouts (`packed_kquant`,
/// `packed_legacy`).
fn packing(w: GgmlType) -> Option<&'static crate::packed::Packing> {
    packed_kquant::lookup(w).or_else(|| packed_legacy::lookup(w))
}

/// The default table's row dot for weights of type `w`.
fn dot(w: GgmlType) -> Option<RowDotFn> {
    if llama_cpp_order(w) {
        avx2::dot(w)
    } else {
        dot_wide(w)
    }
}

/// The default table's tile kernels, for the types whose row dots are
/// AVX2's (each tile output equals that row dot bit for bit): the AVX2 ones
/// for the k-quants (Q8_0 / Q4_0 / Q5_0 take `gemm_legacy::lookup`'s VNNI
/// tiles); none for the others.
fn gemm_lookup(w: GgmlType) -> Option<GemmFn> {
    if llama_cpp_order(w) {
        avx2::gemm::lookup(w)
    } else {
        None
    }
}

/// The 512-bit row dot product for weights of type `w`.
fn dot_wide(w: GgmlType) -> Option<RowDotFn> {
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
        _ => return avx2::dot(w),
    })
}

/// `quant::vec_dot` through the default table's kernels.
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
fn vec_dot(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    call_dot(dot(w), w, n, w_row, act_row)
}

/// `quant::vec_dot` through the 512-bit kernels.
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
fn vec_dot_wide(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    call_dot(dot_wide(w), w, n, w_row, act_row)
}

fn call_dot(f: Option<RowDotFn>, w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    match f {
        Some(f) => f(n, w_row, act_row),
        None => panic!("vec_dot: no kernel for {w} weights (check quant::has_vec_dot)"),
    }
}

/// One byte-level row dot per type: `$name(n, w, a)` casts the rows to
/// `[$w]` / `[$a]` blocks and calls `$kernel`.
macro_rules! row_dot {
    ($name:ident, $ty:ident, $w:ty, $a:ty, $kernel:path) => {
        // w: [row_bytes($ty, n)], a: [row_bytes(vec_dot_type($ty), n)] -> f32
        fn $name(n: usize, w: &[u8], a: &[u8]) -> f32 {
            dot_rows(GgmlType::$ty, n, w, a, |x: &[$w], y: &[$a]| {
                // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were
                // detected before `AVX512` was handed out.
                unsafe { $kernel(x, y) }
            })
        }
    };
}

row_dot!(
    dot_q8_0,
    Q8_0,
    BlockQ8_0,
    BlockQ8_0,
    legacy::vec_dot_q8_0_q8_0
);
row_dot!(
    dot_q4_0,
    Q4_0,
    BlockQ4_0,
    BlockQ8_0,
    legacy::vec_dot_q4_0_q8_0
);
row_dot!(
    dot_q5_0,
    Q5_0,
    BlockQ5_0,
    BlockQ8_0,
    legacy::vec_dot_q5_0_q8_0
);
row_dot!(
    dot_q4_1,
    Q4_1,
    BlockQ4_1,
    BlockQ8_1,
    legacy::vec_dot_q4_1_q8_1
);
row_dot!(
    dot_q5_1,
    Q5_1,
    BlockQ5_1,
    BlockQ8_1,
    legacy::vec_dot_q5_1_q8_1
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
row_dot!(dot_f32, F32, f32, f32, float::vec_dot_f32_f32);
row_dot!(dot_f16, F16, f16, f16, float::vec_dot_f16_f16);
row_dot!(dot_bf16, BF16, bf16, bf16, float::vec_dot_bf16_bf16);
