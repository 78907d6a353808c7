//! AVX2 + FMA k-quant kernels: Q2_K … Q6_K weights against Q8_K activations,
//! and the Q8_K activation quantizer.
//!
//! Same math as the scalar references in `quant::q*_k`: exact integer sums per
//! sub-block (`maddubs` of unsigned weight quants with signed Q8_K quants gives
//! i16 pair sums that cannot saturate here, `madd` with the sub-block scales
//! widens them to i32), one f32 scaling per super-block, and the min terms of
//! Q2_K / Q4_K / Q5_K, like the constant offsets of Q3_K (-4) and Q6_K (-32),
//! taken from the Q8_K `bsums` (so the quants stay unsigned for `maddubs`). Only the order of the f32
//! additions differs from the reference (8 lanes per super-block sum, summed
//! once at the end).
//!
//! `quantize_row_q8_k` writes the same bytes as `quant::q8_k::quantize`,
//! including its rounding (`nearest_int`: half to even, via the 1.5·2^23
//! trick) and its truncating `as i8` store, so every ISA agrees.
//!
//! Callers: only the AVX2 kernel table (`super`), handed out after run-time
//! detection of avx2, fma and f16c (the f16 scales are widened with F16C).

use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
use half::f16;
use std::arch::x86_64::*;

// ---------------------------------------------------------------- helpers

/// `s[off..off + N]` as an array reference (constant offsets after unrolling,
/// so the bounds check folds away).
#[inline(always)]
pub(in crate::arch) fn at<T, const N: usize>(s: &[T], off: usize) -> &[T; N] {
    s[off..off + N].try_into().expect("sub-array in bounds")
}

/// Loads 32 bytes (unsigned quants).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn load_u8x32(b: &[u8; 32]) -> __m256i {
    // SAFETY: `b` is 32 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Loads 32 signed bytes (Q8_K quants).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn load_i8x32(b: &[i8; 32]) -> __m256i {
    // SAFETY: `b` is 32 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Loads 16 bytes.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn load_x16<T: bytemuck::Pod>(b: &[T; 16]) -> __m128i {
    debug_assert_eq!(size_of::<T>(), 1);
    const { assert!(size_of::<T>() == 1) };
    // SAFETY: `b` is 16 one-byte elements, all readable; no alignment needed.
    unsafe { _mm_loadu_si128(b.as_ptr().cast()) }
}

/// Loads the 16 Q8_K block sums.
#[inline]
#[target_feature(enable = "avx2")]
pub(in crate::arch) fn load_bsums(b: &[i16; 16]) -> __m256i {
    // SAFETY: `b` is 32 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_si256(b.as_ptr().cast()) }
}

/// Loads 8 floats.
#[inline]
#[target_feature(enable = "avx2")]
fn load_f32x8(x: &[f32; 8]) -> __m256 {
    // SAFETY: `x` is 8 readable f32 and `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_ps(x.as_ptr()) }
}

/// Stores 32 signed bytes.
#[inline]
#[target_feature(enable = "avx2")]
fn store_i8x32(dst: &mut [i8; 32], v: __m256i) {
    // SAFETY: `dst` is 32 writable bytes and `storeu` has no alignment requirement.
    unsafe { _mm256_storeu_si256(dst.as_mut_ptr().cast(), v) }
}

/// Sum of the 8 lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn hsum_ps(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sum of the 4 lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(in crate::arch::x86) fn hsum_ps128(s: __m128) -> f32 {
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let s = _mm_add_ss(s, _mm_movehdup_ps(s));
    _mm_cvtss_f32(s)
}

/// Sum of the 4 i32 lanes (exact).
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn hsum_epi32x4(s: __m128i) -> i32 {
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// `[a, b, 0, 0]` as f32 (F16C).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn f16x2(a: f16, b: f16) -> __m128 {
    let bits = a.to_bits() as u32 | (b.to_bits() as u32) << 16;
    _mm_cvtph_ps(_mm_cvtsi32_si128(bits as i32))
}

/// `(y_d * x_d, -(y_d * x_dmin))`: a k-quant block's scale and negated min
/// scale against its Q8_K block (the same products as the reference).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(in crate::arch) fn d_dmin(y_d: f32, x_d: f16, x_dmin: f16) -> (f32, f32) {
    let v = _mm_mul_ps(f16x2(x_d, x_dmin), _mm_set1_ps(y_d));
    let d = _mm_cvtss_f32(v);
    let dmin = _mm_cvtss_f32(_mm_movehdup_ps(v));
    (d, -dmin)
}

/// `y_d * x_d` (F16C).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
pub(in crate::arch) fn d_only(y_d: f32, x_d: f16) -> f32 {
    _mm_cvtss_f32(f16x2(x_d, f16::ZERO)) * y_d
}

/// `shuffle_epi8` control selecting 16-bit element `i` (0..8) of a 128-bit lane.
#[inline]
#[target_feature(enable = "avx2")]
fn i16_pick(i: usize) -> __m128i {
    let lo = 2 * i as i16;
    _mm_set1_epi16(lo | ((lo + 1) << 8))
}

/// Scales of two consecutive 16-element sub-blocks for one 32-byte chunk:
/// `s` holds eight i16 scales repeated in both 128-bit lanes; the result has
/// scale `2k` in the low lane (elements 0..16) and `2k + 1` in the high lane.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn pair_scales(s: __m256i, k: usize) -> __m256i {
    _mm256_shuffle_epi8(s, _mm256_set_m128i(i16_pick(2 * k + 1), i16_pick(2 * k)))
}

/// Scale `j` (0..8) of a 32-element sub-block in every lane; `s` holds eight
/// i16 scales repeated in both 128-bit lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn one_scale(s: __m256i, j: usize) -> __m256i {
    let p = i16_pick(j);
    _mm256_shuffle_epi8(s, _mm256_set_m128i(p, p))
}

/// Eight i16 of 16 (i16 elements `8n..8n+8`) repeated in both 128-bit lanes.
#[inline]
#[target_feature(enable = "avx2")]
pub(super) fn half_of(s16: __m256i, n: usize) -> __m256i {
    if n == 0 {
        _mm256_permute4x64_epi64::<0b01_00_01_00>(s16)
    } else {
        _mm256_permute4x64_epi64::<0b11_10_11_10>(s16)
    }
}

/// The Q4_K / Q5_K 6-bit scales and mins as i16: `[sc0..sc8 | m0..m8]`
/// (low 128-bit lane scales, high lane mins). Layout in `quant::kscales`.
#[inline]
#[target_feature(enable = "avx2")]
pub(in crate::arch) fn k4_scales_mins(q: &[u8; 12]) -> __m256i {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes(*at::<u8, 4>(q, 4 * i));
    let (w0, w1, w2) = (w(0), w(1), w(2));
    let sc_lo = w0 & LOW6;
    let sc_hi = (w2 & LOW4) | (((w0 >> 6) & LOW2) << 4);
    let m_lo = w1 & LOW6;
    let m_hi = ((w2 >> 4) & LOW4) | (((w1 >> 6) & LOW2) << 4);
    let bytes = _mm_set_epi32(m_hi as i32, m_lo as i32, sc_hi as i32, sc_lo as i32);
    _mm256_cvtepu8_epi16(bytes)
}

/// The sixteen Q3_K scales, unbiased (-32..32), as i16. Layout in `quant::kscales`.
#[inline]
#[target_feature(enable = "avx2")]
pub(in crate::arch) fn q3_k_scales(q: &[u8; 12]) -> __m256i {
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes(*at::<u8, 4>(q, 4 * i));
    let (w0, w1, w2) = (w(0), w(1), w(2));
    let s0 = (w0 & LOW4) | ((w2 & LOW2) << 4);
    let s1 = (w1 & LOW4) | (((w2 >> 2) & LOW2) << 4);
    let s2 = ((w0 >> 4) & LOW4) | (((w2 >> 4) & LOW2) << 4);
    let s3 = ((w1 >> 4) & LOW4) | (((w2 >> 6) & LOW2) << 4);
    let raw = _mm_set_epi32(s3 as i32, s2 as i32, s1 as i32, s0 as i32);
    _mm256_cvtepi8_epi16(_mm_sub_epi8(raw, _mm_set1_epi8(32)))
}

// ---------------------------------------------------------------- Q4_K

/// x: [nb] Q4_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx2, fma and f16c.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q4_k·q8_k: block counts differ");
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    let mut acc_m = _mm_setzero_ps();
    for (bx, by) in x.iter().zip(y) {
        let (d, dmin) = d_dmin(by.d, bx.d, bx.dmin);
        let sm = k4_scales_mins(&bx.scales);
        // min term: sum over sub-blocks j of m[j] * (bsums[2j] + bsums[2j+1])
        let bs = load_bsums(&by.bsums);
        let bs_pairs = _mm_hadd_epi16(
            _mm256_castsi256_si128(bs),
            _mm256_extracti128_si256::<1>(bs),
        );
        let mins = _mm_madd_epi16(_mm256_extracti128_si256::<1>(sm), bs_pairs);
        acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(mins), acc_m);

        let scales = half_of(sm, 0);
        let mut sumi = _mm256_setzero_si256();
        for c in 0..4 {
            // qs[32c..32c+32]: low nibbles = elements 64c.., high = 64c+32..
            let q4 = load_u8x32(at(&bx.qs, 32 * c));
            let lo = _mm256_and_si256(q4, m4);
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
            let p_lo = _mm256_maddubs_epi16(lo, load_i8x32(at(&by.qs, 64 * c)));
            let p_hi = _mm256_maddubs_epi16(hi, load_i8x32(at(&by.qs, 64 * c + 32)));
            let p_lo = _mm256_madd_epi16(p_lo, one_scale(scales, 2 * c));
            let p_hi = _mm256_madd_epi16(p_hi, one_scale(scales, 2 * c + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc) + hsum_ps128(acc_m)
}

// ---------------------------------------------------------------- Q5_K

/// x: [nb] Q5_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx2, fma and f16c.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q5_k·q8_k: block counts differ");
    let m4 = _mm256_set1_epi8(0x0F);
    let b4 = _mm256_set1_epi8(16);
    let mut acc = _mm256_setzero_ps();
    let mut summs = 0f32;
    for (bx, by) in x.iter().zip(y) {
        let (d, dmin) = d_dmin(by.d, bx.d, bx.dmin);
        let sm = k4_scales_mins(&bx.scales);
        let bs = load_bsums(&by.bsums);
        let bs_pairs = _mm_hadd_epi16(
            _mm256_castsi256_si128(bs),
            _mm256_extracti128_si256::<1>(bs),
        );
        let mins = _mm_madd_epi16(_mm256_extracti128_si256::<1>(sm), bs_pairs);
        // Unlike Q4_K's four lanes, llama.cpp sums the min integer first and
        // folds it into one scalar: `summs += dmin * isum`, which GCC
        // contracts into an FMA.
        summs = dmin.mul_add(hsum_epi32x4(mins) as f32, summs);

        let scales = half_of(sm, 0);
        // qh[l] bit e / 32 is the fifth bit of element e (l = e % 32)
        let qh = load_u8x32(&bx.qh);
        let mut sumi = _mm256_setzero_si256();
        for c in 0..4 {
            let bit_lo = _mm256_set1_epi8((1u8 << (2 * c)) as i8);
            let bit_hi = _mm256_set1_epi8((1u8 << (2 * c + 1)) as i8);
            let h_lo = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_lo), bit_lo);
            let h_hi = _mm256_cmpeq_epi8(_mm256_and_si256(qh, bit_hi), bit_hi);
            let q4 = load_u8x32(at(&bx.qs, 32 * c));
            let lo = _mm256_or_si256(_mm256_and_si256(q4, m4), _mm256_and_si256(h_lo, b4));
            let hi = _mm256_and_si256(_mm256_srli_epi16::<4>(q4), m4);
            let hi = _mm256_or_si256(hi, _mm256_and_si256(h_hi, b4));
            let p_lo = _mm256_maddubs_epi16(lo, load_i8x32(at(&by.qs, 64 * c)));
            let p_hi = _mm256_maddubs_epi16(hi, load_i8x32(at(&by.qs, 64 * c + 32)));
            let p_lo = _mm256_madd_epi16(p_lo, one_scale(scales, 2 * c));
            let p_hi = _mm256_madd_epi16(p_hi, one_scale(scales, 2 * c + 1));
            sumi = _mm256_add_epi32(sumi, _mm256_add_epi32(p_lo, p_hi));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc) + summs
}

// ---------------------------------------------------------------- Q6_K

/// x: [nb] Q6_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx2, fma and f16c.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q6_k·q8_k: block counts differ");
    let m4 = _mm256_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    for (bx, by) in x.iter().zip(y) {
        let d = d_only(by.d, bx.d);
        let sc = _mm256_cvtepi8_epi16(load_x16(&bx.scales));
        // sum (q - 32) * q8 * sc = sum q * q8 * sc - 32 * sum_j sc[j] * bsums[j]
        let offset = _mm256_slli_epi32::<5>(_mm256_madd_epi16(sc, load_bsums(&by.bsums)));
        let mut sumi = _mm256_setzero_si256();
        for n in 0..2 {
            let s = half_of(sc, n);
            let ql0 = load_u8x32(at(&bx.ql, 64 * n));
            let ql1 = load_u8x32(at(&bx.ql, 64 * n + 32));
            let qh = load_u8x32(at(&bx.qh, 32 * n));
            // element 128n + 32k + l: low 4 bits from ql0/ql1 (k & 1) low/high
            // nibble (k >> 1), high 2 bits at bits 2k..2k+2 of qh[l]; q in 0..64
            let hbits = |mask: u8| _mm256_and_si256(qh, _mm256_set1_epi8(mask as i8));
            let q = [
                _mm256_or_si256(
                    _mm256_and_si256(ql0, m4),
                    _mm256_slli_epi16::<4>(hbits(0x03)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(ql1, m4),
                    _mm256_slli_epi16::<2>(hbits(0x0C)),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql0), m4),
                    hbits(0x30),
                ),
                _mm256_or_si256(
                    _mm256_and_si256(_mm256_srli_epi16::<4>(ql1), m4),
                    _mm256_srli_epi16::<2>(hbits(0xC0)),
                ),
            ];
            for (k, &qk) in q.iter().enumerate() {
                let q8 = load_i8x32(at(&by.qs, 128 * n + 32 * k));
                let p = _mm256_madd_epi16(_mm256_maddubs_epi16(qk, q8), pair_scales(s, k));
                sumi = _mm256_add_epi32(sumi, p);
            }
        }
        let sumi = _mm256_sub_epi32(sumi, offset);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

// ---------------------------------------------------------------- Q3_K

/// x: [nb] Q3_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx2, fma and f16c.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q3_k·q8_k: block counts differ");
    let m3 = _mm256_set1_epi8(3);
    let four = _mm256_set1_epi8(4);
    let mut acc = _mm256_setzero_ps();
    for (bx, by) in x.iter().zip(y) {
        let d = d_only(by.d, bx.d);
        let sc = q3_k_scales(&bx.scales);
        let hm = load_u8x32(&bx.hmask);
        let mut sumi = _mm256_setzero_si256();
        for n in 0..2 {
            let s = half_of(sc, n);
            // element 128n + 32k + l: bits 2k..2k+2 of qs[32n + l], and bit
            // 4n + k of hmask[l] (high bit, worth 4); q = (low | 4·h) - 4.
            // As llama.cpp, the -4 leaves each i16 pair sum before the
            // scales: `maddubs(q + 4, q8) - maddubs(4, q8)` (the same i32
            // lanes as its `maddubs(low, q8) - maddubs(4·!h, q8)`).
            let mut q2 = load_u8x32(at(&bx.qs, 32 * n));
            for k in 0..4 {
                let bit = _mm256_set1_epi8((1u8 << (4 * n + k)) as i8);
                let set = _mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit);
                let q = _mm256_or_si256(_mm256_and_si256(q2, m3), _mm256_and_si256(set, four));
                let q8 = load_i8x32(at(&by.qs, 128 * n + 32 * k));
                let p =
                    _mm256_sub_epi16(_mm256_maddubs_epi16(q, q8), _mm256_maddubs_epi16(four, q8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, pair_scales(s, k)));
                q2 = _mm256_srli_epi16::<2>(q2);
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

// ---------------------------------------------------------------- Q2_K

/// x: [nb] Q2_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
///
/// # Safety
/// The CPU must support avx2, fma and f16c.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q2_k·q8_k: block counts differ");
    let m3 = _mm256_set1_epi8(3);
    let m4 = _mm_set1_epi8(0x0F);
    let mut acc = _mm256_setzero_ps();
    for (bx, by) in x.iter().zip(y) {
        let (dall, dmin) = d_dmin(by.d, bx.d, bx.dmin);
        // scales[j] = scale | min << 4 for sub-block j of 16
        let sm = load_x16(&bx.scales);
        let mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16::<4>(sm), m4));
        let summs = _mm256_madd_epi16(mins, load_bsums(&by.bsums));
        let sc = _mm256_cvtepu8_epi16(_mm_and_si128(sm, m4));
        let mut sumi = _mm256_setzero_si256();
        for n in 0..2 {
            let s = half_of(sc, n);
            // element 128n + 32k + l: bits 2k..2k+2 of qs[32n + l]
            let mut q2 = load_u8x32(at(&bx.qs, 32 * n));
            for k in 0..4 {
                let q8 = load_i8x32(at(&by.qs, 128 * n + 32 * k));
                let p = _mm256_maddubs_epi16(_mm256_and_si256(q2, m3), q8);
                let p = _mm256_madd_epi16(p, pair_scales(s, k));
                sumi = _mm256_add_epi32(sumi, p);
                q2 = _mm256_srli_epi16::<2>(q2);
            }
        }
        // llama.cpp folds the mins in before the scales.
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summs), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(sumi), acc);
    }
    hsum_ps(acc)
}

// ---------------------------------------------------------------- Q8_K

/// x: [nb * 256] f32 -> y: [nb] Q8_K blocks, byte-identical to
/// `quant::q8_k::quantize` (`d = max / -127` with `max` the first element of
/// largest magnitude, NaNs skipped as the reference does; `q =
/// min(nearest_int(x * -127 / max), 127)` stored truncating to i8; `bsums`
/// the sums of each 16 quants; an all-zero block is all zero).
///
/// # Safety
/// The CPU must support avx2, fma and f16c.
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn quantize_row_q8_k(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(x.len(), y.len() * QK_K, "q8_k quantize: input length");
    for (xb, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        quantize_block_q8_k(at(xb, 0), b);
    }
}

// x: [256] f32 -> one Q8_K block
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn quantize_block_q8_k(x: &[f32; QK_K], b: &mut BlockQ8K) {
    let abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
    let mut vmax = _mm256_setzero_ps();
    for i in 0..QK_K / 8 {
        let a = _mm256_and_ps(load_f32x8(at(x, 8 * i)), abs_mask);
        // maxps returns its second operand if either is NaN: NaNs are skipped
        vmax = _mm256_max_ps(a, vmax);
    }
    let m = _mm_max_ps(
        _mm256_castps256_ps128(vmax),
        _mm256_extractf128_ps::<1>(vmax),
    );
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let amax = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    if amax == 0.0 {
        b.d = 0.0;
        b.qs = [0; QK_K];
        b.bsums = [0; QK_K / 16];
        return;
    }
    // The reference keeps the first element whose magnitude is the maximum.
    let vamax = _mm256_set1_ps(amax);
    let mut first = 0;
    for i in 0..QK_K / 8 {
        let a = _mm256_and_ps(load_f32x8(at(x, 8 * i)), abs_mask);
        let hits = _mm256_movemask_ps(_mm256_cmp_ps::<_CMP_EQ_OQ>(a, vamax));
        if hits != 0 {
            first = 8 * i + hits.trailing_zeros() as usize;
            break;
        }
    }
    let iscale = -127.0 / x[first];

    let vscale = _mm256_set1_ps(iscale);
    let magic = _mm256_set1_ps(12_582_912.0); // 1.5 * 2^23
    let mantissa = _mm256_set1_epi32(0x007f_ffff);
    let bias = _mm256_set1_epi32(0x0040_0000);
    let max_q = _mm256_set1_epi32(127);
    let low_byte = _mm256_set1_epi32(0xFF);
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    let zero = _mm256_setzero_si256();
    let bias_sum = _mm256_set1_epi64x(8 * 128);
    let sign_bit = _mm256_set1_epi8(-128);
    for g in 0..QK_K / 32 {
        // nearest_int(iscale * v): multiply, then add 1.5 * 2^23 (two roundings,
        // as the reference), read the mantissa; min with 127; keep the low byte
        let q = |i: usize| {
            let v = load_f32x8(at(x, 32 * g + 8 * i));
            let t = _mm256_add_ps(_mm256_mul_ps(v, vscale), magic);
            let n = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(t), mantissa), bias);
            _mm256_and_si256(_mm256_min_epi32(n, max_q), low_byte)
        };
        // values are 0..=255 here, so the saturating packs are exact
        let p01 = _mm256_packus_epi32(q(0), q(1));
        let p23 = _mm256_packus_epi32(q(2), q(3));
        let bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(p01, p23), order);
        store_i8x32(at_mut(&mut b.qs, 32 * g), bytes);
        // bsums: sums of 8 bytes with sad on the bytes biased to unsigned
        let sad = _mm256_sad_epu8(_mm256_xor_si256(bytes, sign_bit), zero);
        let sad = _mm256_sub_epi64(sad, bias_sum);
        let pairs = _mm256_add_epi64(sad, _mm256_srli_si256::<8>(sad));
        b.bsums[2 * g] = _mm256_extract_epi64::<0>(pairs) as i16;
        b.bsums[2 * g + 1] = _mm256_extract_epi64::<2>(pairs) as i16;
    }
    b.d = 1.0 / iscale;
}

/// `s[off..off + N]` as a mutable array reference.
#[inline(always)]
fn at_mut<T, const N: usize>(s: &mut [T], off: usize) -> &mut [T; N] {
    (&mut s[off..off + N])
        .try_into()
        .expect("sub-array in bounds")
}
