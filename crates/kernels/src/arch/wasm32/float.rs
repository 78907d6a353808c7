//! simd128 dot products of float rows: F32, F16 (widened with the bit
//! trick of `simd::f16x4_to_f32`) and BF16 (widened by a shift). Products
//! are accumulated in f32 over 4 x 4 lanes (the scalar reference sums in
//! f64), so results match it to about 1e-6 of sum |x * y|. simd128 has no
//! fused multiply-add: each step is a multiply then an add.

use core::arch::wasm32::*;

use super::simd::{at, f16_to_f32, f16x4_to_f32, hsum_f32, load_u16};
use crate::quant::float::bf16_to_f32;
use half::{bf16, f16};

/// Sums `x[i] * y[i]` with `$load8(v, i)` giving 8 elements as two f32x4:
/// steps of 16 into 4 accumulators, then one step of 8, then the scalar
/// products of the last `len % 8` elements.
macro_rules! float_dot {
    ($x:expr, $y:expr, $load8:expr, $to_f32:expr) => {{
        let (x, y) = ($x, $y);
        assert_eq!(x.len(), y.len(), "float dot: length mismatch");
        let mul = |xs, ys, i| {
            let (x0, x1) = $load8(xs, i);
            let (y0, y1) = $load8(ys, i);
            (f32x4_mul(x0, y0), f32x4_mul(x1, y1))
        };
        let zero = f32x4_splat(0.0);
        let (mut a0, mut a1, mut a2, mut a3) = (zero, zero, zero, zero);
        let mut xc = x.chunks_exact(16);
        let mut yc = y.chunks_exact(16);
        for (xs, ys) in (&mut xc).zip(&mut yc) {
            let (p0, p1) = mul(xs, ys, 0);
            let (p2, p3) = mul(xs, ys, 8);
            a0 = f32x4_add(a0, p0);
            a1 = f32x4_add(a1, p1);
            a2 = f32x4_add(a2, p2);
            a3 = f32x4_add(a3, p3);
        }
        let (mut xr, mut yr) = (xc.remainder(), yc.remainder());
        if xr.len() >= 8 {
            let (p0, p1) = mul(xr, yr, 0);
            a0 = f32x4_add(a0, p0);
            a1 = f32x4_add(a1, p1);
            (xr, yr) = (&xr[8..], &yr[8..]);
        }
        let all = f32x4_add(f32x4_add(a0, a1), f32x4_add(a2, a3));
        let tail: f32 = xr
            .iter()
            .zip(yr)
            .map(|(&a, &b)| $to_f32(a) * $to_f32(b))
            .sum();
        hsum_f32(all) + tail
    }};
}

/// 8 f32s at `i` as two vectors (loaded through a u16 view: V8 ran the
/// direct `[f32; 4]` loads at half the speed).
#[inline(always)]
fn load8_f32(v: &[f32], i: usize) -> (v128, v128) {
    let b: &[u16; 16] = bytemuck::cast_ref(at::<f32, 8>(v, i));
    (load_u16(at(b, 0)), load_u16(at(b, 8)))
}

/// 8 f16s at `i` widened to two f32 vectors.
#[inline(always)]
pub(crate) fn load8_f16(v: &[f16], i: usize) -> (v128, v128) {
    let h = load_u16(bytemuck::cast_ref(at::<f16, 8>(v, i)));
    (
        f16x4_to_f32(u32x4_extend_low_u16x8(h)),
        f16x4_to_f32(u32x4_extend_high_u16x8(h)),
    )
}

/// 8 bf16s at `i` widened to two f32 vectors (exact: the bits become the
/// upper half).
#[inline(always)]
fn load8_bf16(v: &[bf16], i: usize) -> (v128, v128) {
    let h = load_u16(bytemuck::cast_ref(at::<bf16, 8>(v, i)));
    (
        i32x4_shl(u32x4_extend_low_u16x8(h), 16),
        i32x4_shl(u32x4_extend_high_u16x8(h), 16),
    )
}

/// x: [n] f32, y: [n] f32 -> sum(x * y)
pub(super) fn vec_dot_f32_f32(x: &[f32], y: &[f32]) -> f32 {
    float_dot!(x, y, load8_f32, |v: f32| v)
}

/// x: [n] f16, y: [n] f16 -> sum(x * y) in f32
pub(super) fn vec_dot_f16_f16(x: &[f16], y: &[f16]) -> f32 {
    float_dot!(x, y, load8_f16, f16_to_f32)
}

/// x: [n] bf16, y: [n] bf16 -> sum(x * y) in f32
pub(super) fn vec_dot_bf16_bf16(x: &[bf16], y: &[bf16]) -> f32 {
    float_dot!(x, y, load8_bf16, bf16_to_f32)
}
