//! AVX2 tile kernels of the k-quants against Q8_K activations: Q4_K, Q6_K.
//!
//! A tile is M weight rows x N tokens. Each weight super-block is unpacked
//! once per tile (quants to unsigned bytes, 6-bit scales to the i16 lanes
//! `madd` wants) and then multiplied with the N activation blocks. Per
//! output the arithmetic is `kquant::vec_dot_*`'s: exact integer sums per
//! super-block, one FMA of `d_w * d_a` into one f32 accumulator (plus the
//! min accumulator of Q4_K), the same horizontal sums at the end, so a tile
//! equals the row dot bit for bit.

use std::arch::x86_64::*;

use super::gemm::Tiles;
use super::gemm_legacy::f16_to_f32;
use super::kquant::{at, half_of, hsum_ps, hsum_ps128, k4_scales_mins, load_bsums};
use super::kquant::{load_i8x32, load_u8x32, load_x16, one_scale, pair_scales};
use crate::blocks::{BlockQ4K, BlockQ6K, BlockQ8K};
use half::f16;

/// One unpacked weight super-block: 8 chunks of 32 unsigned quants with the
/// i16 scales of each chunk's elements, and the block's sums data.
#[derive(Clone, Copy)]
pub(super) struct Unpacked {
    pub(super) q: [__m256i; 8],
    pub(super) s: [__m256i; 8],
    /// Q6_K: the 16 i16 scales; Q4_K: the 8 i16 mins in the low lane.
    pub(super) extra: __m256i,
    pub(super) d: f32,
    pub(super) dmin: f32,
}

// ---------------------------------------------------------------- Q6_K

/// A Q6_K block unpacked as `kquant::vec_dot_q6_k_q8_k` reads it: chunk
/// `4n + k` holds elements `128n + 32k ..`, quants in 0..64.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn unpack_q6_k(bx: &BlockQ6K) -> Unpacked {
    let m4 = _mm256_set1_epi8(0x0F);
    let sc = _mm256_cvtepi8_epi16(load_x16(&bx.scales));
    let mut u = Unpacked {
        q: [_mm256_setzero_si256(); 8],
        s: [_mm256_setzero_si256(); 8],
        extra: sc,
        d: f16_to_f32(bx.d),
        dmin: 0.0,
    };
    for n in 0..2 {
        let s = half_of(sc, n);
        let ql0 = load_u8x32(at(&bx.ql, 64 * n));
        let ql1 = load_u8x32(at(&bx.ql, 64 * n + 32));
        let qh = load_u8x32(at(&bx.qh, 32 * n));
        let hbits = |mask: u8| _mm256_and_si256(qh, _mm256_set1_epi8(mask as i8));
        u.q[4 * n] = _mm256_or_si256(
            _mm256_and_si256(ql0, m4),
            _mm256_slli_epi16::<4>(hbits(0x03)),
        );
        u.q[4 * n + 1] = _mm256_or_si256(
            _mm256_and_si256(ql1, m4),
            _mm256_slli_epi16::<2>(hbits(0x0C)),
        );
        u.q[4 * n + 2] = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
            hbits(0x30),
        );
        u.q[4 * n + 3] = _mm256_or_si256(
            _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
            _mm256_srli_epi16::<2>(hbits(0xC0)),
        );
        for k in 0..4 {
            u.s[4 * n + k] = pair_scales(s, k);
        }
    }
    u
}

/// Sum over the 8 chunks of `madd(maddubs(q, q8), s)` (exact i32 lanes).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn chunk_sums<const M: usize>(u: &[Unpacked; M], by: &BlockQ8K) -> [__m256i; M] {
    let mut sumi = [_mm256_setzero_si256(); M];
    for j in 0..8 {
        let q8 = load_i8x32(at(&by.qs, 32 * j));
        for r in 0..M {
            let p = _mm256_madd_epi16(_mm256_maddubs_epi16(u[r].q[j], q8), u[r].s[j]);
            sumi[r] = _mm256_add_epi32(sumi[r], p);
        }
    }
    sumi
}

/// out[t][r] = dot(w[r], a[t]) for an M x N tile of Q6_K x Q8_K.
// w: M rows of nb Q6_K blocks, a: N rows of nb Q8_K blocks -> out: [N][M]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile_q6_k<const M: usize, const N: usize>(
    w: &[&[BlockQ6K]; M],
    a: &[&[BlockQ8K]; N],
) -> [[f32; M]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut acc = [[_mm256_setzero_ps(); M]; N];
    for i in 0..nb {
        let u: [Unpacked; M] = std::array::from_fn(|r| unpack_q6_k(&w[r][i]));
        for t in 0..N {
            let by = &a[t][i];
            let bs = load_bsums(&by.bsums);
            let sumi = chunk_sums(&u, by);
            for r in 0..M {
                // sum (q - 32) * q8 * sc = sum q * q8 * sc - 32 * sum_j sc[j] * bsums[j]
                let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(u[r].extra, bs));
                let s = _mm256_sub_epi32(sumi[r], offset);
                let d = _mm256_set1_ps(u[r].d * by.d);
                acc[t][r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc[t][r]);
            }
        }
    }
    let mut out = [[0f32; M]; N];
    for t in 0..N {
        for r in 0..M {
            out[t][r] = hsum_ps(acc[t][r]);
        }
    }
    out
}

/// Q6_K weights x Q8_K activations.
pub(super) struct Q6KTiles;

impl Tiles for Q6KTiles {
    type W = BlockQ6K;
    type A = BlockQ8K;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ6K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: `Tiles` kernels run only from the `AVX2` table's gemm
        // functions, handed out after AVX2, FMA and F16C were detected.
        unsafe { tile_q6_k(w, a) }
    }
}

// ---------------------------------------------------------------- Q4_K

/// A Q4_K block unpacked as `kquant::vec_dot_q4_k_q8_k` reads it: chunk
/// `2c` holds the low nibbles of `qs[32c..]` (elements `64c ..`), chunk
/// `2c + 1` the high ones (elements `64c + 32 ..`).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn unpack_q4_k(bx: &BlockQ4K) -> Unpacked {
    unpack_k4(&bx.scales, &bx.qs, bx.d, bx.dmin)
}

/// The part Q4_K and Q5_K share: 4-bit quants of `qs`, 6-bit scales / mins.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn unpack_k4(scales: &[u8; 12], qs: &[u8; 128], d: f16, dmin: f16) -> Unpacked {
    let m4 = _mm256_set1_epi8(0x0F);
    let sm = k4_scales_mins(scales);
    let scales = half_of(sm, 0);
    let mut u = Unpacked {
        q: [_mm256_setzero_si256(); 8],
        s: [_mm256_setzero_si256(); 8],
        extra: _mm256_permute2x128_si256::<0x01>(sm, sm),
        d: f16_to_f32(d),
        dmin: f16_to_f32(dmin),
    };
    for c in 0..4 {
        let q4 = load_u8x32(at(qs, 32 * c));
        u.q[2 * c] = _mm256_and_si256(q4, m4);
        u.q[2 * c + 1] = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
        u.s[2 * c] = one_scale(scales, 2 * c);
        u.s[2 * c + 1] = one_scale(scales, 2 * c + 1);
    }
    u
}

/// out[t][r] = dot(w[r], a[t]) for an M x N tile of Q4_K x Q8_K.
// w: M rows of nb Q4_K blocks, a: N rows of nb Q8_K blocks -> out: [N][M]
#[target_feature(enable = "avx2,fma,f16c")]
fn tile_q4_k<const M: usize, const N: usize>(
    w: &[&[BlockQ4K]; M],
    a: &[&[BlockQ8K]; N],
) -> [[f32; M]; N] {
    let nb = w.first().map_or(0, |r| r.len());
    let mut acc = [[_mm256_setzero_ps(); M]; N];
    let mut acc_m = [[_mm_setzero_ps(); M]; N];
    for i in 0..nb {
        let u: [Unpacked; M] = std::array::from_fn(|r| unpack_q4_k(&w[r][i]));
        for t in 0..N {
            let by = &a[t][i];
            // min term: sum over sub-blocks j of m[j] * (bsums[2j] + bsums[2j+1])
            let bs = load_bsums(&by.bsums);
            let bs_pairs = _mm_hadd_epi16(
                _mm256_castsi256_si128(bs),
                _mm256_extracti128_si256::<1>(bs),
            );
            let sumi = chunk_sums(&u, by);
            for r in 0..M {
                let mins = _mm_madd_epi16(_mm256_castsi256_si128(u[r].extra), bs_pairs);
                let dmin = _mm_set1_ps(-(u[r].dmin * by.d));
                acc_m[t][r] = _mm_fmadd_ps(dmin, _mm_cvtepi32_ps(mins), acc_m[t][r]);
                let d = _mm256_set1_ps(u[r].d * by.d);
                acc[t][r] = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(sumi[r]), acc[t][r]);
            }
        }
    }
    let mut out = [[0f32; M]; N];
    for t in 0..N {
        for r in 0..M {
            out[t][r] = hsum_ps(acc[t][r]) + hsum_ps128(acc_m[t][r]);
        }
    }
    out
}

/// Q4_K weights x Q8_K activations.
pub(super) struct Q4KTiles;

impl Tiles for Q4KTiles {
    type W = BlockQ4K;
    type A = BlockQ8K;
    fn tile<const M: usize, const N: usize>(
        w: &[&[BlockQ4K]; M],
        a: &[&[BlockQ8K]; N],
    ) -> [[f32; M]; N] {
        // SAFETY: `Tiles` kernels run only from the `AVX2` table's gemm
        // functions, handed out after AVX2, FMA and F16C were detected.
        unsafe { tile_q4_k(w, a) }
    }
}
