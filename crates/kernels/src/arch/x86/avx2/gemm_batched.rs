//! AVX2 tile kernels in llama.cpp's batched k-quant order
//! (`quant::batched`): Q4_K, Q5_K, Q6_K against Q8_K activations.
//!
//! The integer work is `gemm_kquant`'s (each weight super-block unpacked
//! once per tile, `madd(maddubs(q, a), scale)` per 32-byte chunk, exact i32
//! lanes). Where the row-dot order keeps eight float lanes per output, this
//! order sums the lanes to the block's exact `s1` (and `s2` from the mins
//! and the activation's `bsums`) and folds the block into one f32 per
//! output with `quant::batched::fold`, so a tile equals
//! `quant::batched::dot` bit for bit.

use std::arch::x86_64::*;

use super::gemm::Tiles;
use super::gemm_kquant::{chunk_sums, unpack_k4, unpack_q4_k, unpack_q6_k, Unpacked};
use super::kquant::{hsum_epi32x4, load_bsums, load_u8x32};
use crate::blocks::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::batched::{fold, KSums};

/// Sum of the 8 i32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum_epi32(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    hsum_epi32x4(s)
}

/// Σ_j m[j] · (bsums[2j] + bsums[2j+1]): the min integer of Q4_K / Q5_K,
/// with the mins as i16 in the low 128-bit lane of `mins`.
#[inline]
#[target_feature(enable = "avx2")]
fn min_sum(mins: __m256i, by: &BlockQ8K) -> i32 {
    let bs = load_bsums(&by.bsums);
    let pairs = _mm_hadd_epi16(
        _mm256_castsi256_si128(bs),
        _mm256_extracti128_si256::<1>(bs),
    );
    hsum_epi32x4(_mm_madd_epi16(_mm256_castsi256_si128(mins), pairs))
}

/// out[t][r] = batched::dot(w[r], a[t]) for an M x N tile of a type with
/// mins (Q4_K, Q5_K) unpacked by `unpack`.
// w: M rows of nb blocks, a: N rows of nb Q8_K blocks -> out: [N][M]
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile_with_mins<B, const M: usize, const N: usize>(
    w: &[&[B]; M],
    a: &[&[BlockQ8K]; N],
    unpack: impl Fn(&B) -> Unpacked,
) -> [[f32; M]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut out = [[0f32; M]; N];
    for i in 0..nb {
        let u: [Unpacked; M] = std::array::from_fn(|r| unpack(&w[r][i]));
        for t in 0..N {
            let by = &a[t][i];
            let sumi = chunk_sums(&u, by);
            for r in 0..M {
                let k = KSums {
                    s1: hsum_epi32(sumi[r]),
                    s2: min_sum(u[r].extra, by),
                    d: u[r].d,
                    dmin: u[r].dmin,
                };
                out[t][r] = fold(out[t][r], k, by.d);
            }
        }
    }
    out
}

/// A Q5_K block unpacked like `unpack_q4_k` plus the fifth bits
/// (`qh[l]` bit `e / 32` of element `e`, l = e % 32): quants in 0..32.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn unpack_q5_k(bx: &BlockQ5K) -> Unpacked {
    let b4 = _mm256_set1_epi8(16);
    let qh = load_u8x32(&bx.qh);
    let mut u = unpack_k4(&bx.scales, &bx.qs, bx.d, bx.dmin);
    for (j, q) in u.q.iter_mut().enumerate() {
        let m = _mm256_set1_epi8((1u8 << j) as i8);
        let fifth = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, m), m), b4);
        *q = _mm256_or_si256(*q, fifth);
    }
    u
}

/// out[t][r] = batched::dot(w[r], a[t]) for an M x N tile of Q6_K x Q8_K.
// w: M rows of nb Q6_K blocks, a: N rows of nb Q8_K blocks -> out: [N][M]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile_q6_k<const M: usize, const N: usize>(
    w: &[&[BlockQ6K]; M],
    a: &[&[BlockQ8K]; N],
) -> [[f32; M]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut out = [[0f32; M]; N];
    for i in 0..nb {
        let u: [Unpacked; M] = std::array::from_fn(|r| unpack_q6_k(&w[r][i]));
        for t in 0..N {
            let by = &a[t][i];
            let bs = load_bsums(&by.bsums);
            let sumi = chunk_sums(&u, by);
            for r in 0..M {
                // Σ (q - 32)·a·sc = Σ q·a·sc - 32 · Σ_j sc[j]·bsums[j]
                let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(u[r].extra, bs));
                let k = KSums {
                    s1: hsum_epi32(_mm256_sub_epi32(sumi[r], offset)),
                    s2: 0,
                    d: u[r].d,
                    dmin: 0.0,
                };
                out[t][r] = fold(out[t][r], k, by.d);
            }
        }
    }
    out
}

/// Q4_K weights x Q8_K activations, batched order.
pub(super) struct Q4KBatched;

impl Tiles for Q4KBatched {
    type W = BlockQ4K;
    type A = BlockQ8K;
    const BATCHED: bool = true;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ4K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: `Tiles` kernels run only from the `AVX2` table's gemm
        // functions, handed out after AVX2, FMA and F16C were detected.
        unsafe { tile_with_mins(w, a, |b| unpack_q4_k(b)) }
    }
}

/// Q5_K weights x Q8_K activations, batched order.
pub(super) struct Q5KBatched;

impl Tiles for Q5KBatched {
    type W = BlockQ5K;
    type A = BlockQ8K;
    const BATCHED: bool = true;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ5K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: as `Q4KBatched::tile`.
        unsafe { tile_with_mins(w, a, |b| unpack_q5_k(b)) }
    }
}

/// Q6_K weights x Q8_K activations, batched order.
pub(super) struct Q6KBatched;

impl Tiles for Q6KBatched {
    type W = BlockQ6K;
    type A = BlockQ8K;
    const BATCHED: bool = true;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ6K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: as `Q4KBatched::tile`.
        unsafe { tile_q6_k(w, a) }
    }
}
