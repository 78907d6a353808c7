//! AVX2 tile kernels of the legacy types against Q8_0 activations: Q8_0,
//! Q4_0, Q5_0 weights.
//!
//! A tile is RM weight rows x RN tokens: each weight block is decoded to
//! signed bytes once for the RN tokens, each activation block loaded once
//! for the RM rows. Per output the arithmetic is `legacy::vec_dot_*`'s:
//! block `i` adds `lanes * (d_w * d_a)` by FMA into accumulator
//! `i % legacy::ACCUMULATORS` (block pairs, then a last block into the
//! first), and the result is the `hsum` of their sum, so a tile equals the
//! row dot bit for bit (which keeps prefill == decode and thread counts
//! irrelevant).

use std::arch::x86_64::*;

use super::gemm::Tiles;
use super::legacy::{bytes_from_bits, hsum, load32, nibbles, ACCUMULATORS};
use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0};
use half::f16;

/// One f16 widened to f32 (F16C, exact).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(in crate::arch::x86) fn f16_to_f32(h: f16) -> f32 {
    _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(h.to_bits() as i32)))
}

/// `hsum` of every accumulator of an M x N tile.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(in crate::arch::x86) fn hsum_tile<const M: usize, const N: usize>(
    acc: &[[__m256; M]; N],
) -> [[f32; M]; N] {
    let mut out = [[0f32; M]; N];
    for (o, a) in out.iter_mut().zip(acc) {
        for (o, a) in o.iter_mut().zip(a) {
            *o = hsum(*a);
        }
    }
    out
}

/// The 32 signed quants of a Q8_0 block.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn quants_q8_0(b: &BlockQ8_0) -> __m256i {
    load32(&b.qs)
}

/// The 32 quants of a Q4_0 block, minus 8.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn quants_q4_0(b: &BlockQ4_0) -> __m256i {
    _mm256_sub_epi8(nibbles(&b.qs), _mm256_set1_epi8(8))
}

/// The 32 quants of a Q5_0 block, minus 16 (as `legacy::block_q5_0`).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn quants_q5_0(b: &BlockQ5_0) -> __m256i {
    let clear = _mm256_andnot_si256(
        bytes_from_bits(u32::from_le_bytes(b.qh)),
        _mm256_set1_epi8(0xf0u8 as i8),
    );
    _mm256_or_si256(nibbles(&b.qs), clear)
}

/// Defines `$tile::<M, N>` (one M x N tile) for a weight block type with a
/// `$quants` decoder, and `Tiles` for `$marker` through it.
macro_rules! legacy_gemm {
    ($marker:ident, $tile:ident, $step:ident, $W:ty, $quants:ident) => {
        /// Adds block `i` of M rows x N tokens into `acc[t][r]`.
        // w: M rows of blocks, a: N rows of Q8_0 blocks
        #[target_feature(enable = "avx2,fma,f16c")]
        #[inline]
        fn $step<const M: usize, const N: usize>(
            w: &[&[$W]; M],
            a: &[&[BlockQ8_0]; N],
            i: usize,
            acc: &mut [[__m256; M]; N],
        ) {
            let ones = _mm256_set1_epi16(1);
            let mut q = [_mm256_setzero_si256(); M];
            let mut qa = [_mm256_setzero_si256(); M];
            let mut dw = [0f32; M];
            for r in 0..M {
                let b = &w[r][i];
                q[r] = $quants(b);
                qa[r] = _mm256_sign_epi8(q[r], q[r]);
                dw[r] = f16_to_f32(b.d);
            }
            for t in 0..N {
                let b = &a[t][i];
                let y = load32(&b.qs);
                let dy = f16_to_f32(b.d);
                for r in 0..M {
                    let p = _mm256_maddubs_epi16(qa[r], _mm256_sign_epi8(y, q[r]));
                    let lanes = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
                    let d = _mm256_set1_ps(dw[r] * dy);
                    acc[t][r] = _mm256_fmadd_ps(lanes, d, acc[t][r]);
                }
            }
        }

        /// out[t][r] = dot(w[r], a[t]) for an M x N tile.
        // w: M rows of nb blocks, a: N rows of nb Q8_0 blocks -> out: [N][M]
        #[target_feature(enable = "avx2,fma,f16c")]
        fn $tile<const M: usize, const N: usize>(
            w: &[&[$W]; M],
            a: &[&[BlockQ8_0]; N],
        ) -> [[f32; M]; N] {
            let nb = w.first().map_or(0, |r| r.len());
            let mut acc0 = [[_mm256_setzero_ps(); M]; N];
            let mut acc1 = [[_mm256_setzero_ps(); M]; N];
            let mut i = 0;
            if ACCUMULATORS == 2 {
                while i + 2 <= nb {
                    $step(w, a, i, &mut acc0);
                    $step(w, a, i + 1, &mut acc1);
                    i += 2;
                }
            }
            while i < nb {
                $step(w, a, i, &mut acc0);
                i += 1;
            }
            if ACCUMULATORS == 2 {
                for (a0, a1) in acc0.iter_mut().zip(&acc1) {
                    for (x, y) in a0.iter_mut().zip(a1) {
                        *x = _mm256_add_ps(*x, *y);
                    }
                }
            }
            hsum_tile(&acc0)
        }

        impl Tiles for $marker {
            type W = $W;
            type A = BlockQ8_0;
            fn tile<const M: usize, const N: usize>(
                w: &[&[$W]; M],
                a: &[&[BlockQ8_0]; N],
            ) -> [[f32; M]; N] {
                // SAFETY: `Tiles` kernels run only from the `AVX2` table's
                // gemm functions, handed out after AVX2, FMA and F16C were detected.
                unsafe { $tile(w, a) }
            }
        }
    };
}

/// Q8_0 weights x Q8_0 activations.
pub(super) struct Q8_0Tiles;
/// Q4_0 weights x Q8_0 activations.
pub(super) struct Q4_0Tiles;
/// Q5_0 weights x Q8_0 activations.
pub(super) struct Q5_0Tiles;

legacy_gemm!(Q8_0Tiles, tile_q8_0, step_q8_0, BlockQ8_0, quants_q8_0);
legacy_gemm!(Q4_0Tiles, tile_q4_0, step_q4_0, BlockQ4_0, quants_q4_0);
legacy_gemm!(Q5_0Tiles, tile_q5_0, step_q5_0, BlockQ5_0, quants_q5_0);
