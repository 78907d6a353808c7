//! AVX-512 + VNNI k-quant kernels: Q2_K … Q6_K weights against Q8_K
//! activations.
//!
//! Same math as the AVX2 kernels (and the scalar references): exact integer
//! sums per super-block, one f32 scaling per super-block, the min terms of
//! Q2_K / Q4_K / Q5_K and the constant offsets of Q3_K (-4) and Q6_K (-32)
//! taken from the Q8_K `bsums`, so the weight quants stay unsigned. What
//! changes is the width: 64 quants per step, and VNNI's `vpdpwssd` applies
//! the sub-block scales to the `vpmaddubsw` pair sums and accumulates in one
//! instruction. A 512-bit step covers two 32-element sub-blocks (Q4_K, Q5_K:
//! one per 256-bit half) or four 16-element ones (Q2_K, Q3_K, Q6_K: one per
//! 128-bit lane); `vpermw` spreads the i16 scales to match. The packed
//! quants of the low and high half come from one 32-byte load broadcast to
//! both halves, shifted by a different amount in each (masked shifts).
//!
//! Pair sums cannot saturate: unsigned quants < 64 times |q8| <= 128, twice,
//! stays below 2^15.

use std::arch::x86_64::*;

use super::super::avx2::kquant::{at, d_dmin, d_only, k4_scales_mins, load_bsums, q3_k_scales};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};

/// Every 16-bit element 1 (a 64-bit lane of four).
const ONES: i64 = 0x0001_0001_0001_0001;
/// `_mm512_mask_*_epi16` mask of the high 256 bits.
const HIGH_HALF: __mmask32 = 0xFFFF_0000;

/// 64 one-byte elements.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load64<T: bytemuck::Pod>(b: &[T; 64]) -> __m512i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: `b` is 64 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// 32 one-byte elements, in both 256-bit halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load_twice<T: bytemuck::Pod>(b: &[T; 32]) -> __m512i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: `b` is 32 readable bytes and `loadu` has no alignment requirement.
    let v = unsafe { _mm256_loadu_si256(b.as_ptr().cast()) };
    _mm512_broadcast_i64x4(v)
}

/// 16 one-byte elements.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load16<T: bytemuck::Pod>(b: &[T; 16]) -> __m128i {
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: `b` is 16 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// i16 scales for a step of two 32-element sub-blocks: `s` holds eight i16
/// scales in elements 0..8; the low half gets scale `2c`, the high `2c + 1`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn scales_by_32(s: __m512i, c: usize) -> __m512i {
    let half = _mm512_set_epi64(ONES, ONES, ONES, ONES, 0, 0, 0, 0);
    let idx = _mm512_add_epi16(_mm512_set1_epi16(2 * c as i16), half);
    _mm512_permutexvar_epi16(idx, s)
}

/// i16 scales for a step of four 16-element sub-blocks: `s` holds sixteen
/// i16 scales in elements 0..16; 128-bit lane `l` gets scale `4g + l`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn scales_by_16(s: __m512i, g: usize) -> __m512i {
    let lane = _mm512_set_epi64(3 * ONES, 3 * ONES, 2 * ONES, 2 * ONES, ONES, ONES, 0, 0);
    let idx = _mm512_add_epi16(_mm512_set1_epi16(4 * g as i16), lane);
    _mm512_permutexvar_epi16(idx, s)
}

/// A byte mask with `lo` set in the low 256 bits and `hi` in the high.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn bit_pair(lo: u8, hi: u8) -> __m512i {
    _mm512_inserti64x4::<1>(
        _mm512_castsi256_si512(_mm256_set1_epi8(lo as i8)),
        _mm256_set1_epi8(hi as i8),
    )
}

/// 2-bit fields of a broadcast 32-byte row: bits `4p..4p+2` in the low half,
/// `4p+2..4p+4` in the high half (p = 0 or 1), each in 0..4.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn crumbs(q2: __m512i, p: usize) -> __m512i {
    let q = if p == 0 {
        q2
    } else {
        _mm512_srli_epi16::<4>(q2)
    };
    let q = _mm512_mask_srli_epi16::<2>(q, HIGH_HALF, q);
    _mm512_and_si512(q, _mm512_set1_epi8(3))
}

/// The Q4_K / Q5_K min term `sum_j m[j] * (bsums[2j] + bsums[2j+1])` as
/// four i32 lanes; `sm` holds the scales (low 128 bits) and mins (high).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn k4_min_term(sm: __m256i, by: &BlockQ8K) -> __m128 {
    let bs = load_bsums(&by.bsums);
    let pairs = _mm_hadd_epi16(
        _mm256_castsi256_si128(bs),
        _mm256_extracti128_si256::<1>(bs),
    );
    _mm_cvtepi32_ps(_mm_madd_epi16(_mm256_extracti128_si256::<1>(sm), pairs))
}

/// Sum of 4 lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn hsum128(s: __m128) -> f32 {
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

// ---------------------------------------------------------------- Q4_K / Q5_K

/// Shared body of Q4_K and Q5_K: `$fifth(bx, c, q)` adds the fifth bits of
/// step `c` (elements 64c..64c+64) to the nibbles `q`.
macro_rules! dot_k4 {
    ($x:expr, $y:expr, $fifth:expr) => {{
        let (x, y) = ($x, $y);
        debug_assert_eq!(x.len(), y.len(), "k-quant·q8_k: block counts differ");
        let m4 = _mm512_set1_epi8(0x0F);
        let mut acc = _mm512_setzero_ps();
        let mut acc_m = _mm_setzero_ps();
        for (bx, by) in x.iter().zip(y) {
            let (d, dmin) = d_dmin(by.d, bx.d, bx.dmin);
            let sm = k4_scales_mins(&bx.scales);
            acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), k4_min_term(sm, by), acc_m);
            let sc = _mm512_castsi256_si512(sm);
            let mut sumi = _mm512_setzero_si512();
            for c in 0..4 {
                // qs[32c..32c+32]: low nibbles are elements 64c.., high 64c+32..
                let q = load_twice(at(&bx.qs, 32 * c));
                let q = _mm512_and_si512(_mm512_mask_srli_epi16::<4>(q, HIGH_HALF, q), m4);
                let q = $fifth(bx, c, q);
                let p = _mm512_maddubs_epi16(q, load64(at(&by.qs, 64 * c)));
                sumi = _mm512_dpwssd_epi32(sumi, p, scales_by_32(sc, c));
            }
            acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
        }
        _mm512_reduce_add_ps(acc) + hsum128(acc_m)
    }};
}

/// x: [nb] Q4_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx512f/bw/vl/vnni, avx2, fma and f16c.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    dot_k4!(x, y, |_: &BlockQ4K, _: usize, q: __m512i| q)
}

/// x: [nb] Q5_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx512f/bw/vl/vnni, avx2, fma and f16c.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    let sixteen = _mm512_set1_epi8(16);
    dot_k4!(x, y, |bx: &BlockQ5K, c: usize, q: __m512i| {
        // qh[l] bit 2c is the fifth bit of element 64c + l, bit 2c+1 of 64c+32+l
        let bits = bit_pair(1 << (2 * c), 1 << (2 * c + 1));
        let set = _mm512_test_epi8_mask(load_twice(&bx.qh), bits);
        _mm512_mask_add_epi8(q, set, q, sixteen)
    })
}

// ---------------------------------------------------------------- Q6_K

/// x: [nb] Q6_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx512f/bw/vl/vnni, avx2, fma and f16c.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q6_k·q8_k: block counts differ");
    let m4 = _mm512_set1_epi8(0x0F);
    let m30 = _mm512_set1_epi8(0x30);
    let mut acc = _mm512_setzero_ps();
    for (bx, by) in x.iter().zip(y) {
        let d = d_only(by.d, bx.d);
        let sc16 = _mm256_cvtepi8_epi16(load16(&bx.scales));
        // sum (q - 32) * q8 * sc = sum q * q8 * sc - 32 * sum_j sc[j] * bsums[j]
        let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(sc16, load_bsums(&by.bsums)));
        let mut sumi = _mm512_inserti64x4::<0>(
            _mm512_setzero_si512(),
            _mm256_sub_epi32(_mm256_setzero_si256(), offset),
        );
        let sc = _mm512_castsi256_si512(sc16);
        for n in 0..2 {
            // ql[64n..64n+32] / [64n+32..64n+64]: low nibbles are elements
            // 128n.. / 128n+32.., high nibbles 128n+64.. / 128n+96..; the two
            // high bits of element 128n + 32k + l are bits 2k..2k+2 of qh[32n + l].
            let ql = load64(at(&bx.ql, 64 * n));
            let qh = load_twice(at(&bx.qh, 32 * n));
            // bits 0-1 (low half) or 2-3 (high half) moved to bits 4-5
            let h01 = _mm512_mask_slli_epi16::<2>(_mm512_slli_epi16::<4>(qh), HIGH_HALF, qh);
            let q01 = _mm512_or_si512(_mm512_and_si512(ql, m4), _mm512_and_si512(h01, m30));
            // bits 4-5 (low half) or 6-7 (high half) moved to bits 4-5
            let h23 = _mm512_mask_srli_epi16::<2>(qh, HIGH_HALF, qh);
            let q23 = _mm512_and_si512(_mm512_srli_epi16::<4>(ql), m4);
            let q23 = _mm512_or_si512(q23, _mm512_and_si512(h23, m30));
            let p01 = _mm512_maddubs_epi16(q01, load64(at(&by.qs, 128 * n)));
            sumi = _mm512_dpwssd_epi32(sumi, p01, scales_by_16(sc, 2 * n));
            let p23 = _mm512_maddubs_epi16(q23, load64(at(&by.qs, 128 * n + 64)));
            sumi = _mm512_dpwssd_epi32(sumi, p23, scales_by_16(sc, 2 * n + 1));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    _mm512_reduce_add_ps(acc)
}

// ---------------------------------------------------------------- Q3_K

/// x: [nb] Q3_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx512f/bw/vl/vnni, avx2, fma and f16c.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q3_k·q8_k: block counts differ");
    let four = _mm512_set1_epi8(4);
    let mut acc = _mm512_setzero_ps();
    for (bx, by) in x.iter().zip(y) {
        let d = d_only(by.d, bx.d);
        let sc16 = q3_k_scales(&bx.scales);
        // q = (low | 4·h) - 4, so sum q * q8 * sc = sum (low | 4·h) * q8 * sc
        // - 4 * sum_j sc[j] * bsums[j]
        let offset = _mm256_slli_epi32::<2>(_mm256_madd_epi16(sc16, load_bsums(&by.bsums)));
        let mut sumi = _mm512_inserti64x4::<0>(
            _mm512_setzero_si512(),
            _mm256_sub_epi32(_mm256_setzero_si256(), offset),
        );
        let sc = _mm512_castsi256_si512(sc16);
        let hm = load_twice(&bx.hmask);
        for n in 0..2 {
            // element 128n + 32k + l: bits 2k..2k+2 of qs[32n + l], and bit
            // 4n + k of hmask[l] (the high bit, worth 4)
            let q2 = load_twice(at(&bx.qs, 32 * n));
            for p in 0..2 {
                let k = 2 * p;
                let set =
                    _mm512_test_epi8_mask(hm, bit_pair(1 << (4 * n + k), 1 << (4 * n + k + 1)));
                let q = crumbs(q2, p);
                let q = _mm512_mask_add_epi8(q, set, q, four);
                let prod = _mm512_maddubs_epi16(q, load64(at(&by.qs, 128 * n + 64 * p)));
                sumi = _mm512_dpwssd_epi32(sumi, prod, scales_by_16(sc, 2 * n + p));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    _mm512_reduce_add_ps(acc)
}

// ---------------------------------------------------------------- Q2_K

/// x: [nb] Q2_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx512f/bw/vl/vnni, avx2, fma and f16c.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q2_k·q8_k: block counts differ");
    let m4 = _mm_set1_epi8(0x0F);
    let mut acc = _mm512_setzero_ps();
    let mut acc_m = _mm256_setzero_ps();
    for (bx, by) in x.iter().zip(y) {
        let (dall, dmin) = d_dmin(by.d, bx.d, bx.dmin);
        // scales[j] = scale | min << 4 for sub-block j of 16
        let sm = load16(&bx.scales);
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(sm), m4));
        let summs = _mm256_madd_epi16(mins, load_bsums(&by.bsums));
        acc_m = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summs), acc_m);
        let sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(_mm_and_si128(sm, m4)));
        let mut sumi = _mm512_setzero_si512();
        for n in 0..2 {
            // element 128n + 32k + l: bits 2k..2k+2 of qs[32n + l]
            let q2 = load_twice(at(&bx.qs, 32 * n));
            for p in 0..2 {
                let prod =
                    _mm512_maddubs_epi16(crumbs(q2, p), load64(at(&by.qs, 128 * n + 64 * p)));
                sumi = _mm512_dpwssd_epi32(sumi, prod, scales_by_16(sc, 2 * n + p));
            }
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dall), _mm512_cvtepi32_ps(sumi), acc);
    }
    let m = _mm_add_ps(
        _mm256_castps256_ps128(acc_m),
        _mm256_extractf128_ps::<1>(acc_m),
    );
    _mm512_reduce_add_ps(acc) + hsum128(m)
}
