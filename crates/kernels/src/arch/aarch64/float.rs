//! NEON dot products of float rows: F32, F16 (widened with `fcvtl`) and
//! BF16 (widened by a shift). Products are fused into f32 over 4 x 4 lanes
//! (the scalar reference sums products in f64, as ggml's generic code; ggml's
//! own NEON code sums in f32 like this), so results match it to about 1e-6
//! of Σ|x·y| for rows of a few thousand elements.

use std::arch::aarch64::*;

use super::common::{at, f16_to_f32, widen_f16x4};
use crate::quant::float::bf16_to_f32;
use half::{bf16, f16};

/// Elements per main-loop step: 4 accumulators of 4 lanes.
const STEP: usize = 16;

/// Sums `load(x, i) * load(y, i)` over groups of 8 (two vectors) with four
/// accumulators, then adds the scalar products of the last `len % 8`.
#[inline(always)]
fn float_dot<T: Copy>(
    x: &[T],
    y: &[T],
    load8: impl Fn(&[T; 8]) -> (float32x4_t, float32x4_t),
    to_f32: impl Fn(T) -> f32,
) -> f32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        assert_eq!(x.len(), y.len(), "float dot: length mismatch");
        let n = x.len();
        let mut acc = [vdupq_n_f32(0.0); 4];
        let mut i = 0;
        while i + STEP <= n {
            let (a0, a1) = load8(at(x, i));
            let (b0, b1) = load8(at(y, i));
            let (a2, a3) = load8(at(x, i + 8));
            let (b2, b3) = load8(at(y, i + 8));
            acc[0] = vfmaq_f32(acc[0], a0, b0);
            acc[1] = vfmaq_f32(acc[1], a1, b1);
            acc[2] = vfmaq_f32(acc[2], a2, b2);
            acc[3] = vfmaq_f32(acc[3], a3, b3);
            i += STEP;
        }
        if i + 8 <= n {
            let (a0, a1) = load8(at(x, i));
            let (b0, b1) = load8(at(y, i));
            acc[0] = vfmaq_f32(acc[0], a0, b0);
            acc[1] = vfmaq_f32(acc[1], a1, b1);
            i += 8;
        }
        let all = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
        let tail: f32 = x[i..]
            .iter()
            .zip(&y[i..])
            .map(|(&a, &b)| to_f32(a) * to_f32(b))
            .sum();
        vaddvq_f32(all) + tail
    }
}

#[inline(always)]
fn load_f32(v: &[f32; 8]) -> (float32x4_t, float32x4_t) {
    // SAFETY: `v` is 8 readable f32s; `ld1` has no alignment requirement.
    unsafe { (vld1q_f32(v.as_ptr()), vld1q_f32(v.as_ptr().add(4))) }
}

#[inline(always)]
fn load_f16(v: &[f16; 8]) -> (float32x4_t, float32x4_t) {
    // SAFETY: `v` is 8 f16s = 16 readable bytes; `ld1` is unaligned.
    unsafe {
        let h = vld1q_u16(v.as_ptr().cast());
        (widen_f16x4(vget_low_u16(h)), widen_f16x4(vget_high_u16(h)))
    }
}

#[inline(always)]
fn load_bf16(v: &[bf16; 8]) -> (float32x4_t, float32x4_t) {
    // SAFETY: `v` is 8 bf16s = 16 readable bytes; `ld1` is unaligned.
    unsafe {
        let h = vld1q_u16(v.as_ptr().cast());
        // The bf16 bits are the upper half of the f32 (exact).
        (
            vreinterpretq_f32_u32(vshll_n_u16::<16>(vget_low_u16(h))),
            vreinterpretq_f32_u32(vshll_high_n_u16::<16>(h)),
        )
    }
}

/// x: [n] f32, y: [n] f32 -> sum(x * y)
pub(super) fn vec_dot_f32_f32(x: &[f32], y: &[f32]) -> f32 {
    float_dot(x, y, load_f32, |v| v)
}

/// x: [n] f16, y: [n] f16 -> sum(x * y) in f32
pub(super) fn vec_dot_f16_f16(x: &[f16], y: &[f16]) -> f32 {
    float_dot(x, y, load_f16, f16_to_f32)
}

/// x: [n] bf16, y: [n] bf16 -> sum(x * y) in f32
pub(super) fn vec_dot_bf16_bf16(x: &[bf16], y: &[bf16]) -> f32 {
    float_dot(x, y, load_bf16, bf16_to_f32)
}
