//! AVX2 dot products of float rows: F32, F16 (widened with F16C) and BF16
//! (widened by a shift). Products are accumulated in f32 over 4 x 8 lanes
//! (the scalar reference sums in f64), so results match it to about
//! 1e-6 of sum |x * y|.

use std::arch::x86_64::*;

use super::legacy::hsum;
use crate::quant::float::bf16_to_f32;
use half::{bf16, f16};

/// Elements per main-loop step: 4 accumulators of 8 lanes.
const STEP: usize = 32;

/// Sums `load(x, i) * load(y, i)` over 8-element groups with 4 accumulators,
/// then adds the scalar products of the last `len % 8` elements.
macro_rules! float_dot {
    ($x:expr, $y:expr, $load:ident, $to_f32:expr) => {{
        let (x, y) = ($x, $y);
        assert_eq!(x.len(), y.len(), "float dot: length mismatch");
        let n = x.len();
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + STEP <= n {
            for (k, a) in acc.iter_mut().enumerate() {
                let j = i + 8 * k;
                *a = _mm256_fmadd_ps($load(&x[j..j + 8]), $load(&y[j..j + 8]), *a);
            }
            i += STEP;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps($load(&x[i..i + 8]), $load(&y[i..i + 8]), acc[0]);
            i += 8;
        }
        let all = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let tail: f32 = x[i..]
            .iter()
            .zip(&y[i..])
            .map(|(&a, &b)| $to_f32(a) * $to_f32(b))
            .sum();
        hsum(all) + tail
    }};
}

/// 8 f32s (`v.len() == 8`).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn load_f32(v: &[f32]) -> __m256 {
    assert_eq!(v.len(), 8);
    // SAFETY: `v` holds 8 f32s (asserted); `loadu` has no alignment requirement.
    unsafe { _mm256_loadu_ps(v.as_ptr()) }
}

/// 8 f16s widened to f32 (`v.len() == 8`).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn load_f16(v: &[f16]) -> __m256 {
    assert_eq!(v.len(), 8);
    // SAFETY: `v` holds 8 f16s = 16 bytes (asserted); `loadu` is unaligned.
    let h = unsafe { _mm_loadu_si128(v.as_ptr().cast()) };
    _mm256_cvtph_ps(h)
}

/// 8 bf16s widened to f32 (exact: the bits become the upper half).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn load_bf16(v: &[bf16]) -> __m256 {
    assert_eq!(v.len(), 8);
    // SAFETY: `v` holds 8 bf16s = 16 bytes (asserted); `loadu` is unaligned.
    let h = unsafe { _mm_loadu_si128(v.as_ptr().cast()) };
    _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(h)))
}

/// x: [n] f32, y: [n] f32 -> sum(x * y)
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_f32_f32(x: &[f32], y: &[f32]) -> f32 {
    float_dot!(x, y, load_f32, |v: f32| v)
}

/// x: [n] f16, y: [n] f16 -> sum(x * y) in f32
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_f16_f16(x: &[f16], y: &[f16]) -> f32 {
    float_dot!(x, y, load_f16, f16::to_f32)
}

/// x: [n] bf16, y: [n] bf16 -> sum(x * y) in f32
#[target_feature(enable = "avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_bf16_bf16(x: &[bf16], y: &[bf16]) -> f32 {
    float_dot!(x, y, load_bf16, bf16_to_f32)
}
