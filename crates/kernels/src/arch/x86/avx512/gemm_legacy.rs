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
//! Tiles are 4 rows x 8 tokens: tokens go in pairs through 512-bit
//! registers, token 2p's accumulator in the low 256 bits and 2p + 1's in the
//! high ones (per lane the same products, converts, multiplies and FMAs as
//! two 256-bit ones), so 32 zmm registers hold 16 accumulators (32 outputs),
//! 4 decoded weight blocks (duplicated to both halves) and their 4 scales.
//! Odd token counts at the edges run the 256-bit `tile`.

use std::arch::x86_64::*;

use super::avx2::gemm::run;
use super::avx2::gemm::Tiles;
use super::avx2::gemm_legacy::{f16_to_f32, hsum_tile};
use super::avx2::legacy::{hsum, load32, nibbles};
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

/// `unsigned_q8_0` in both 256-bit halves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_q8_0(b: &BlockQ8_0) -> __m512i {
    // SAFETY: `qs` is 32 readable bytes; `loadu` has no alignment requirement.
    let q = unsafe { _mm256_loadu_si256(b.qs.as_ptr().cast()) };
    _mm512_xor_si512(_mm512_broadcast_i64x4(q), _mm512_set1_epi8(0x80u8 as i8))
}

/// The nibbles of a block in element order, in both 256-bit halves:
/// 128-bit lanes [low nibbles, high nibbles, low, high].
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_nibbles(qs: &[u8; 16]) -> __m512i {
    // SAFETY: `qs` is 16 readable bytes; `loadu` has no alignment requirement.
    let t = unsafe { _mm_loadu_si128(qs.as_ptr().cast()) };
    let four = _mm512_broadcast_i32x4(t);
    // 128-bit lanes 1 and 3 (16-bit elements 8..16, 24..32) take the high nibbles.
    let shifted = _mm512_mask_srli_epi16::<4>(four, 0xFF00_FF00, four);
    _mm512_and_si512(shifted, _mm512_set1_epi8(0x0F))
}

/// `unsigned_q4_0` in both 256-bit halves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_q4_0(b: &BlockQ4_0) -> __m512i {
    twice_nibbles(&b.qs)
}

/// `unsigned_q5_0` in both 256-bit halves.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn twice_q5_0(b: &BlockQ5_0) -> __m512i {
    let low = twice_nibbles(&b.qs);
    let bits = u32::from_le_bytes(b.qh) as u64;
    _mm512_mask_add_epi8(low, bits | bits << 32, low, _mm512_set1_epi8(16))
}

/// The scales of two activation blocks: `[d0; 8 | d1; 8]` (exact widening).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn pair_scale(d0: half::f16, d1: half::f16) -> __m512 {
    let word = d0.to_bits() as u32 | (d1.to_bits() as u32) << 16;
    let v = _mm_cvtph_ps(_mm_cvtsi32_si128(word as i32));
    let pick = _mm512_inserti64x4::<1>(_mm512_setzero_si512(), _mm256_set1_epi32(1));
    _mm512_permutexvar_ps(pick, _mm512_castps128_ps512(v))
}

/// Defines module `$m` with the M x N tile kernels of a weight block type
/// whose `$unsigned` decoder returns `q + $off`, and `Tiles` for `$marker`
/// through them: even N runs token pairs in 512-bit registers (`tile2`),
/// odd N one token per 256-bit register (`tile`).
macro_rules! vnni_gemm {
    ($m:ident, $marker:ident, $W:ty, $unsigned:ident, $twice:ident, $off:expr) => {
        mod $m {
            use super::*;

            /// Adds block `i` of M rows x N tokens into `acc[t][r]`.
            // w: M rows of blocks, a: N rows of Q8_0 blocks
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[inline]
            fn step<const M: usize, const N: usize>(
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
            pub(super) fn tile<const M: usize, const N: usize>(
                w: &[&[$W]; M],
                a: &[&[BlockQ8_0]; N],
            ) -> [[f32; M]; N] {
                let nb = w.first().map_or(0, |r| r.len());
                let mut acc = [[_mm256_setzero_ps(); M]; N];
                for i in 0..nb {
                    step(w, a, i, &mut acc);
                }
                hsum_tile(&acc)
            }

            /// `step` for P token pairs: `acc[p][r]` holds token 2p's
            /// accumulator in its low 256 bits and token 2p + 1's in the
            /// high ones (the same lanes, products and FMAs, two at once).
            // w: M rows of blocks, a: P pairs of rows of Q8_0 blocks
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            #[inline]
            fn step2<const M: usize, const P: usize>(
                w: &[&[$W]; M],
                a: &[[&[BlockQ8_0]; 2]; P],
                i: usize,
                acc: &mut [[__m512; M]; P],
            ) {
                let off = _mm512_set1_epi8($off as u8 as i8);
                let zero = _mm512_setzero_si512();
                let mut u = [zero; M];
                let mut dw = [_mm512_setzero_ps(); M];
                for r in 0..M {
                    let b = &w[r][i];
                    u[r] = $twice(b);
                    dw[r] = _mm512_set1_ps(f16_to_f32(b.d));
                }
                for p in 0..P {
                    let (b0, b1) = (&a[p][0][i], &a[p][1][i]);
                    let y = _mm512_inserti64x4::<1>(
                        _mm512_castsi256_si512(load32(&b0.qs)),
                        load32(&b1.qs),
                    );
                    let dy = pair_scale(b0.d, b1.d);
                    let base = _mm512_sub_epi32(zero, _mm512_dpbusd_epi32(zero, off, y));
                    for r in 0..M {
                        let lanes = _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(base, u[r], y));
                        acc[p][r] = _mm512_fmadd_ps(lanes, _mm512_mul_ps(dw[r], dy), acc[p][r]);
                    }
                }
            }

            /// `tile` for N = 2P tokens, run as P pairs.
            // w: M rows of nb blocks, a: N rows of nb Q8_0 blocks -> out: [N][M]
            #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
            pub(super) fn tile2<const M: usize, const N: usize, const P: usize>(
                w: &[&[$W]; M],
                a: &[&[BlockQ8_0]; N],
            ) -> [[f32; M]; N] {
                debug_assert_eq!(2 * P, N);
                let pairs: [[&[BlockQ8_0]; 2]; P] =
                    std::array::from_fn(|p| [a[2 * p], a[2 * p + 1]]);
                let nb = w.first().map_or(0, |r| r.len());
                let mut acc = [[_mm512_setzero_ps(); M]; P];
                for i in 0..nb {
                    step2(w, &pairs, i, &mut acc);
                }
                let mut out = [[0f32; M]; N];
                for (p, acc) in acc.iter().enumerate() {
                    for (r, &v) in acc.iter().enumerate() {
                        let high = _mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v));
                        out[2 * p][r] = hsum(_mm512_castps512_ps256(v));
                        out[2 * p + 1][r] = hsum(_mm256_castpd_ps(high));
                    }
                }
                out
            }
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
                unsafe {
                    match N {
                        8 => $m::tile2::<M, N, 4>(w, a),
                        4 => $m::tile2::<M, N, 2>(w, a),
                        2 => $m::tile2::<M, N, 1>(w, a),
                        _ => $m::tile(w, a),
                    }
                }
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

vnni_gemm!(q8_0, Q8_0Vnni, BlockQ8_0, unsigned_q8_0, twice_q8_0, 128);
vnni_gemm!(q4_0, Q4_0Vnni, BlockQ4_0, unsigned_q4_0, twice_q4_0, 8);
vnni_gemm!(q5_0, Q5_0Vnni, BlockQ5_0, unsigned_q5_0, twice_q5_0, 16);

/// Rows x tokens per register tile.
const RM: usize = 4;
const RN: usize = 8;

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::{Isa, Kernels};
    use crate::quant::row_bytes;

    /// Random blocks of `ty` (whose f16 scale is its first field): every
    /// quant byte random (Q8_0 weights -128 included), or in one call of
    /// three, every byte of a block 0x80 or 0x7f (Q8_0 -128 / 127); scales in
    /// [2^-10, 2^-6]. Activation bytes stay in -127..=127 as the quantizer
    /// writes them (the AVX2 row dot's sign trick needs that).
    fn blocks(ty: GgmlType, n: usize, rows: usize, seed: &mut u64, act: bool) -> Vec<u8> {
        let mut next = || {
            *seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (*seed >> 33) as u32
        };
        let (bs, extreme) = (ty.type_size(), next() % 3 == 0);
        let mut out = vec![0u8; rows * row_bytes(ty, n)];
        for b in out.chunks_exact_mut(bs) {
            let fill = if next() & 1 == 0 { 0x80 } else { 0x7f };
            for v in &mut b[2..] {
                *v = if extreme { fill } else { next() as u8 };
                if act && *v == 0x80 {
                    *v = 0x81;
                }
            }
            let d = half::f16::from_f32((1 + next() % 16) as f32 / 1024.0);
            b[..2].copy_from_slice(&d.to_le_bytes());
        }
        out
    }

    #[test]
    fn vnni_tiles_equal_the_avx2_row_dot_on_raw_bytes() {
        let Some(k) = crate::arch::table(Isa::Avx512) else {
            eprintln!("skipped: no AVX-512 VNNI");
            return;
        };
        let k: &Kernels = k;
        let mut seed = 5;
        for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0] {
            let g = k.gemm(ty).expect("tile kernel");
            let dot = k.dot(ty).expect("row dot");
            for (nb, rows, toks) in [(1, 4, 8), (3, 9, 19), (20, 17, 33), (2, 1, 2)] {
                let n = nb * 32;
                let w = blocks(ty, n, rows, &mut seed, false);
                let a = blocks(GgmlType::Q8_0, n, toks, &mut seed, true);
                let (wb, ab) = (w.len() / rows, a.len() / toks);
                let mut y = vec![f32::NAN; toks * rows];
                g.run(n, &w, rows, &a, toks, &mut y, rows);
                for t in 0..toks {
                    for r in 0..rows {
                        let want = dot(n, &w[r * wb..][..wb], &a[t * ab..][..ab]);
                        let got = y[t * rows + r];
                        assert_eq!(got.to_bits(), want.to_bits(), "{ty} n {n} [{t}, {r}]");
                    }
                }
            }
        }
    }
}
