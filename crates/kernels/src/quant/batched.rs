//! llama.cpp's batched k-quant order: the reference for multi-token products
//! of k-quant weights on x86.
//!
//! For a batch of at least [`MIN_TOKENS`] tokens, llama.cpp's x86 CPU backend
//! (ggml-cpu's tiled matmul, from commit 0c1e57098) multiplies Q2_K..Q6_K
//! weights with other arithmetic than its row dot (`vec_dot_*_q8_K`): per
//! super-block it forms two exact integers,
//!
//! * `s1 = Σ_sub scale_sub · Σ_e q_e · a_e` (weight quants with their
//!   offset removed: Q6_K's 32, Q3_K's 4), and
//! * `s2 = Σ_sub min_sub · Σ_e a_e` (types with mins: Q2_K, Q4_K, Q5_K),
//!
//! and then folds the block into the output with three rounded operations:
//! `r = f32(s1) · d`, `r = fma(−dmin, f32(s2), r)`, `y = fma(r, d_a, y)`,
//! blocks in order from `y = 0`. (Its AVX2 kernel writes those FMAs; its
//! AVX-512 VNNI kernel writes a multiply and an add that GCC contracts into
//! the same FMA.) Reproducing this order keeps prefill logits bit-identical
//! to llama.cpp's. Batches of fewer tokens use the row dot, as llama.cpp.
//!
//! This file is the scalar definition; `arch` has the SIMD tiles, held equal
//! to it by tests. Each type file supplies its exact per-block integers
//! (`batched_sums`).

use super::{q2_k, q3_k, q4_k, q5_k, q6_k};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use bytemuck::Pod;
use gguf::GgmlType;
use std::mem::size_of;

/// Batches of at least this many tokens take the batched order.
pub const MIN_TOKENS: usize = 8;

/// Whether weights of type `w` have a batched order (the k-quants).
/// Whether a batch of `toks` tokens takes the batched order for the types
/// that have one: rows of chunks on the same side of this give the same
/// results when run together as alone (`parallel::par_matmul_as_chunk`).
pub fn order_is_batched(toks: usize) -> bool {
    toks >= MIN_TOKENS
}

pub fn has_batched_order(w: GgmlType) -> bool {
    use GgmlType::*;
    matches!(w, Q2_K | Q3_K | Q4_K | Q5_K | Q6_K)
}

/// One weight super-block against one Q8_K block: the exact integers and
/// the weight block's scales (`dmin` and `s2` are 0 for types without mins).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KSums {
    pub s1: i32,
    pub s2: i32,
    pub d: f32,
    pub dmin: f32,
}

/// Folds one block into the accumulator `y` (see the module doc);
/// `d_a` is the activation block's scale.
#[inline(always)]
pub fn fold(y: f32, k: KSums, d_a: f32) -> f32 {
    let r = (-k.dmin).mul_add(k.s2 as f32, k.s1 as f32 * k.d);
    r.mul_add(d_a, y)
}

/// The batched-order dot product of one weight row of `n` elements of type
/// `w` with one Q8_K activation row (byte rows, any alignment).
///
/// Panics if `w` has no batched order (`has_batched_order`) or a row is
/// shorter than `n` elements.
// w_row: [row_bytes(w, n)] bytes, act_row: [row_bytes(Q8_K, n)] bytes -> f32
pub fn dot(w: GgmlType, n: usize, w_row: &[u8], act_row: &[u8]) -> f32 {
    use GgmlType::*;
    let w_row = &w_row[..super::row_bytes(w, n)];
    let act_row = &act_row[..super::row_bytes(Q8_K, n)];
    match w {
        Q2_K => dot_as::<BlockQ2K>(w_row, act_row, q2_k::batched_sums),
        Q3_K => dot_as::<BlockQ3K>(w_row, act_row, q3_k::batched_sums),
        Q4_K => dot_as::<BlockQ4K>(w_row, act_row, q4_k::batched_sums),
        Q5_K => dot_as::<BlockQ5K>(w_row, act_row, q5_k::batched_sums),
        Q6_K => dot_as::<BlockQ6K>(w_row, act_row, q6_k::batched_sums),
        _ => panic!("batched dot: {w} has no batched order"),
    }
}

/// Blocks in order from 0, each read through an aligned copy.
fn dot_as<W: Pod>(w: &[u8], a: &[u8], sums: fn(&W, &BlockQ8K) -> KSums) -> f32 {
    let mut y = 0.0f32;
    for (wc, ac) in w
        .chunks_exact(size_of::<W>())
        .zip(a.chunks_exact(size_of::<BlockQ8K>()))
    {
        let bw: W = bytemuck::pod_read_unaligned(wc);
        let ba: BlockQ8K = bytemuck::pod_read_unaligned(ac);
        y = fold(y, sums(&bw, &ba), ba.d);
    }
    y
}

/// Σ over sub-block `j` (`N` elements) of `q · a`, exact.
#[inline(always)]
pub(crate) fn sub_dot<const N: usize>(q: &[i8], a: &[i8], j: usize) -> i32 {
    q[N * j..N * (j + 1)]
        .iter()
        .zip(&a[N * j..N * (j + 1)])
        .map(|(&x, &y)| x as i32 * y as i32)
        .sum()
}

/// The `KSums` of Q4_K / Q5_K: quants `q` (0..32) in element order, 6-bit
/// scales and mins per sub-block of 32, the weight block's d / dmin.
pub(crate) fn k4_sums(
    q: &[i8; 256],
    sc: &[u8; 8],
    m: &[u8; 8],
    d: f32,
    dmin: f32,
    by: &BlockQ8K,
) -> KSums {
    let mut k = KSums {
        s1: 0,
        s2: 0,
        d,
        dmin,
    };
    for j in 0..8 {
        k.s1 += sc[j] as i32 * sub_dot::<32>(q, &by.qs, j);
        k.s2 += m[j] as i32 * (by.bsums[2 * j] as i32 + by.bsums[2 * j + 1] as i32);
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tests::pseudo;
    use crate::quant::{quantize_row, row_bytes, vec_dot};

    fn rows(ty: GgmlType, n: usize, seed: u32) -> (Vec<u8>, Vec<u8>) {
        let mut w = vec![0u8; row_bytes(ty, n)];
        quantize_row(ty, &pseudo(n, seed), &mut w).unwrap();
        let mut a = vec![0u8; row_bytes(GgmlType::Q8_K, n)];
        quantize_row(GgmlType::Q8_K, &pseudo(n, seed + 1), &mut a).unwrap();
        (w, a)
    }

    #[test]
    fn batched_dot_is_the_same_product_as_the_row_dot() {
        for ty in GgmlType::ALL.into_iter().filter(|&t| has_batched_order(t)) {
            for blocks in [1, 3, 8] {
                let n = blocks * 256;
                let (w, a) = rows(ty, n, 3 + blocks as u32);
                let (b, r) = (dot(ty, n, &w, &a), vec_dot(ty, n, &w, &a));
                let scale: f32 = 1e-5 * (1.0 + r.abs());
                assert!((b - r).abs() <= scale, "{ty} {blocks}: {b} vs {r}");
            }
        }
    }

    #[test]
    fn fold_is_fma_with_single_roundings() {
        let k = KSums {
            s1: 16_777_217, // not representable in f32: rounds to 2^24
            s2: 3,
            d: 0.1,
            dmin: 0.7,
        };
        let r = (16_777_216f32 * 0.1f32) as f64 - 0.7f32 as f64 * 3.0;
        let want = (r as f32 as f64 * 0.3f32 as f64 + 1.0) as f32;
        // r is rounded once (fma), then y once more (fma)
        let r32 = (-0.7f32).mul_add(3.0, 16_777_216f32 * 0.1);
        assert_eq!(r32, r as f32);
        assert_eq!(fold(1.0, k, 0.3), r32.mul_add(0.3, 1.0));
        assert!((fold(1.0, k, 0.3) - want).abs() <= 1e-3 * want.abs());
    }

    #[test]
    fn misaligned_rows_give_the_same_result() {
        let n = 512;
        for ty in [GgmlType::Q4_K, GgmlType::Q6_K] {
            let (w, a) = rows(ty, n, 17);
            let mut wo = vec![0u8; w.len() + 1];
            wo[1..].copy_from_slice(&w);
            assert_eq!(
                dot(ty, n, &w, &a).to_bits(),
                dot(ty, n, &wo[1..], &a).to_bits()
            );
        }
    }
}
