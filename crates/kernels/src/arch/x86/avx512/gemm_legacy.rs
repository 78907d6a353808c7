//! AVX-512 VL + VNNI tile kernels of the legacy types against Q8_0
//! activations: Q8_0, Q4_0, Q5_0 weights (prefill), 256-bit wide.
//!
//! Each output is the AVX2 row dot (`avx2::legacy`, llama.cpp's x86 order)
//! bit for bit: per 32-block one FMA `acc += lanes * (d_w * d_a)` into a
//! single 8-lane accumulator, then `hsum`. Only the integer lanes are
//! computed differently, and they are exact: lane j is the sum of the
//! products of elements 4j..4j+4 either way (`vpmaddubsw` + `vpmaddwd` pair
//! adjacent bytes then adjacent words; `vpdpbusd` sums the same four bytes).
//!
//! Weights become unsigned bytes `u = q + off` (Q8_0: `q ^ 0x80`, off 128;
//! Q4_0: the nibbles, off 8; Q5_0: nibbles + 16 * high bit, off 16), so
//! `lanes = dpbusd(-dpbusd(0, off, y), u, y)`: the offset term is computed
//! once per activation block for all the tile's rows, and each (row, token)
//! costs one `vpdpbusd`, one convert, one multiply and one FMA. (For an
//! activation byte of -128, which the quantizers never write, the AVX2 sign
//! trick wraps and this is the exact value instead.)
//!
//! 32 ymm registers hold a 4 x 4 tile: 16 accumulators, 4 decoded weight
//! blocks and their 4 scales.

use std::arch::x86_64::*;

use super::avx2::gemm::run;
use super::avx2::gemm::Tiles;
use super::avx2::gemm_legacy::{f16_to_f32, hsum_tile};
use super::avx2::legacy::{load32, nibbles};
use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0};
use gguf::GgmlType;

/// Q8_0 quants plus 128, as unsigned bytes.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn unsigned_q8_0(b: &BlockQ8_0) -> __m256i {
    _mm256_xor_si256(load32(&b.qs), _mm256_set1_epi8(0x80u8 as i8))
}

/// Q4_0 quants (element order), unsigned 0..16 (the value is q - 8).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn unsigned_q4_0(b: &BlockQ4_0) -> __m256i {
    nibbles(&b.qs)
}

/// Q5_0 quants (element order), unsigned 0..32 (the value is q - 16): the
/// nibble plus 16 where bit j of `qh` is set.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn unsigned_q5_0(b: &BlockQ5_0) -> __m256i {
    let low = nibbles(&b.qs);
    _mm256_mask_add_epi8(low, u32::from_le_bytes(b.qh), low, _mm256_set1_epi8(16))
}

/// Defines `$tile::<M, N>` for a weight block type whose `$unsigned`
/// decoder returns `q + $off`, and `Tiles` for `$marker` through it.
macro_rules! vnni_gemm {
    ($marker:ident, $tile:ident, $step:ident, $W:ty, $unsigned:ident, $off:expr) => {
        /// Adds block `i` of M rows x N tokens into `acc[t][r]`.
        // w: M rows of blocks, a: N rows of Q8_0 blocks
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
        #[inline]
        fn $step<const M: usize, const N: usize>(
            w: &[&[$W]; M],
            a: &[&[BlockQ8_0]; N],
            i: usize,
            acc: &mut [[__m256; M]; N],
        ) {
            let off = _mm256_set1_epi8($off as u8 as i8);
            let zero = _mm256_setzero_si256();
            let mut u = [zero; M];
            let mut dw = [_mm256_setzero_ps(); M];
            for r in 0..M {
                let b = &w[r][i];
                u[r] = $unsigned(b);
                dw[r] = _mm256_set1_ps(f16_to_f32(b.d));
            }
            for t in 0..N {
                let b = &a[t][i];
                let y = load32(&b.qs);
                let dy = _mm256_set1_ps(f16_to_f32(b.d));
                let base = _mm256_sub_epi32(zero, _mm256_dpbusd_epi32(zero, off, y));
                for r in 0..M {
                    let lanes = _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(base, u[r], y));
                    // d_w * d_a in every lane: the row dot's f32 product.
                    acc[t][r] = _mm256_fmadd_ps(lanes, _mm256_mul_ps(dw[r], dy), acc[t][r]);
                }
            }
        }

        /// out[t][r] = dot(w[r], a[t]) for an M x N tile.
        // w: M rows of nb blocks, a: N rows of nb Q8_0 blocks -> out: [N][M]
        #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
        fn $tile<const M: usize, const N: usize>(
            w: &[&[$W]; M],
            a: &[&[BlockQ8_0]; N],
        ) -> [[f32; M]; N] {
            let nb = w.first().map_or(0, |r| r.len());
            let mut acc = [[_mm256_setzero_ps(); M]; N];
            for i in 0..nb {
                $step(w, a, i, &mut acc);
            }
            hsum_tile(&acc)
        }

        impl Tiles for $marker {
            type W = $W;
            type A = BlockQ8_0;
            fn tile<const M: usize, const N: usize>(
                w: &[&[$W]; M],
                a: &[&[BlockQ8_0]; N],
            ) -> [[f32; M]; N] {
                // SAFETY: these `Tiles` run only from `AVX512`'s gemm
                // functions, handed out after AVX-512 F/BW/VL/VNNI, AVX2,
                // FMA and F16C were detected.
                unsafe { $tile(w, a) }
            }
        }
    };
}

/// Q8_0 weights x Q8_0 activations.
pub(super) struct Q8_0Vnni;
/// Q4_0 weights x Q8_0 activations.
pub(super) struct Q4_0Vnni;
/// Q5_0 weights x Q8_0 activations.
pub(super) struct Q5_0Vnni;

vnni_gemm!(
    Q8_0Vnni,
    tile_q8_0,
    step_q8_0,
    BlockQ8_0,
    unsigned_q8_0,
    128
);
vnni_gemm!(Q4_0Vnni, tile_q4_0, step_q4_0, BlockQ4_0, unsigned_q4_0, 8);
vnni_gemm!(Q5_0Vnni, tile_q5_0, step_q5_0, BlockQ5_0, unsigned_q5_0, 16);

/// Rows x tokens per register tile.
const RM: usize = 4;
const RN: usize = 4;

/// `$name`: the `GemmFn` of `$ty` weights in `RM` x `RN` tiles of `$tiles`.
macro_rules! gemm_fn {
    ($name:ident, $tiles:ty, $ty:ident) => {
        // w: [rows, n] weight bytes, a: [toks, n] Q8_0 activation bytes -> y[t * ys + r]
        pub(super) fn $name(
            n: usize,
            w: &[u8],
            rows: usize,
            a: &[u8],
            toks: usize,
            y: &mut [f32],
            ys: usize,
        ) {
            run::<$tiles, RM, RN>(GgmlType::$ty, n, w, rows, a, toks, y, ys)
        }
    };
}

gemm_fn!(gemm_q8_0, Q8_0Vnni, Q8_0);
gemm_fn!(gemm_q4_0, Q4_0Vnni, Q4_0);
gemm_fn!(gemm_q5_0, Q5_0Vnni, Q5_0);
