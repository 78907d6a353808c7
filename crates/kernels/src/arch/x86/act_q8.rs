//! Q8_0 / Q8_1 activation quantization with AVX2: `ops::quantize_acts`'s
//! formula (llama.cpp's x86 `quantize_row_q8_0/1`) bit for bit, a block
//! of 32 values per step instead of one value.
//!
//! Every step is exact or the same IEEE operation as the scalar code:
//! the block maximum of `|x|` does not depend on the order (NaNs are
//! skipped, as `f32::max` does), `d` and `127 / amax` are the same scalar
//! divisions, `x * id` the same multiply, and `vcvtps2dq` under the default
//! rounding mode rounds half to even like the scalar magic-number rounding
//! (a NaN product becomes 0 in both).

use std::arch::x86_64::*;

use half::f16;

use crate::blocks::QK;
use crate::GgmlType;

/// Quantizes `x` into the Q8_0 / Q8_1 blocks of `out` (`ty`) if the CPU has
/// AVX2; returns whether it did.
// x: [n] f32 (n a multiple of 32) -> out: [n / 32] blocks of `ty`
pub(crate) fn quantize(ty: GgmlType, x: &[f32], out: &mut [u8]) -> bool {
    if !std::arch::is_x86_feature_detected!("avx2") {
        return false;
    }
    // SAFETY: AVX2 was detected just above.
    unsafe { quantize_avx2(ty, x, out) };
    true
}

/// Values `8k..8k + 8` of the block.
#[target_feature(enable = "avx2")]
#[inline]
fn eight(xb: &[f32; QK], k: usize) -> __m256 {
    let v: &[f32; 8] = xb[8 * k..8 * k + 8].try_into().expect("8 values");
    // SAFETY: `v` is 8 readable f32s; `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// Values `8k..8k + 8` of the block times `id`, rounded half to even, NaN as 0.
#[target_feature(enable = "avx2")]
#[inline]
fn rounded(xb: &[f32; QK], k: usize, id: __m256) -> __m256i {
    let v = _mm256_mul_ps(eight(xb, k), id);
    _mm256_cvtps_epi32(_mm256_and_ps(v, _mm256_cmp_ps::<_CMP_ORD_Q>(v, v)))
}

/// `|x|` of values `8k..8k + 8`, NaN as 0 (`maxps` returns its second
/// operand when either is NaN).
#[target_feature(enable = "avx2")]
#[inline]
fn abs8(xb: &[f32; QK], k: usize) -> __m256 {
    let abs = _mm256_andnot_ps(_mm256_set1_ps(-0.0), eight(xb, k));
    _mm256_max_ps(abs, _mm256_setzero_ps())
}

/// `max(|x|)` over the block, NaNs skipped (0 if all are NaN or zero).
#[target_feature(enable = "avx2")]
#[inline]
fn abs_max(xb: &[f32; QK]) -> f32 {
    let m = _mm256_max_ps(
        _mm256_max_ps(abs8(xb, 0), abs8(xb, 1)),
        _mm256_max_ps(abs8(xb, 2), abs8(xb, 3)),
    );
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps::<1>(m));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_movehdup_ps(m));
    _mm_cvtss_f32(m)
}

#[target_feature(enable = "avx2")]
fn quantize_avx2(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    let bs = ty.type_size();
    let qs_off = if ty == GgmlType::Q8_1 { 4 } else { 2 };
    // bytes 0..4 of each 128-bit lane after the two packs: dwords of c0, c1, c2, c3
    let order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(bs)) {
        let xb: &[f32; QK] = xb.try_into().expect("32 values");
        let amax = abs_max(xb);
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let id = _mm256_set1_ps(id);
        let (c0, c1) = (rounded(xb, 0, id), rounded(xb, 1, id));
        let (c2, c3) = (rounded(xb, 2, id), rounded(xb, 3, id));
        // |c| <= 127: the saturating packs keep every value
        let q = _mm256_packs_epi16(_mm256_packs_epi32(c0, c1), _mm256_packs_epi32(c2, c3));
        let q = _mm256_permutevar8x32_epi32(q, order);
        let qs: &mut [u8; QK] = (&mut ob[qs_off..qs_off + QK]).try_into().expect("32 bytes");
        // SAFETY: `qs` is 32 writable bytes; `storeu` has no alignment requirement.
        unsafe { _mm256_storeu_si256(qs.as_mut_ptr().cast(), q) };
        ob[0..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        if ty == GgmlType::Q8_1 {
            let s = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3));
            let s = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256::<1>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
            let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
            let sum = _mm_cvtsi128_si32(s);
            ob[2..4].copy_from_slice(&f16::from_f32(d * sum as f32).to_le_bytes());
        }
    }
}
