//! Small simd128 helpers shared by the kernel families: loads of fixed-size
//! arrays, horizontal sums, byte products and f16 -> f32 conversion.
//!
//! wasm has no run-time feature detection: this module is compiled only when
//! the build enables `simd128`, and then every instruction here is valid.
//! The intrinsics are safe functions; only the loads take raw pointers.

use core::arch::wasm32::*;

/// `s[off..off + N]` as an array reference (constant offsets after
/// unrolling, so the bounds check folds away).
#[inline(always)]
pub(crate) fn at<T, const N: usize>(s: &[T], off: usize) -> &[T; N] {
    s[off..off + N].try_into().expect("sub-array in bounds")
}

/// 16 bytes as a vector.
#[inline(always)]
pub(super) fn load_u8(b: &[u8; 16]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 16 signed bytes as a vector.
#[inline(always)]
pub(super) fn load_i8(b: &[i8; 16]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 8 i16 as a vector.
#[inline(always)]
pub(super) fn load_i16(b: &[i16; 8]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 8 u16 (f16 / bf16 bits) as a vector.
#[inline(always)]
pub(crate) fn load_u16(b: &[u16; 8]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// Sum of the 4 f32 lanes, as `(l0 + l2) + (l1 + l3)`.
#[inline(always)]
pub(crate) fn hsum_f32(v: v128) -> f32 {
    let s = f32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s)
}

/// 16 products of signed bytes, summed in pairs to 8 i16 (lane l: products
/// l and l + 8). Exact while |a| <= 127 for any i8 `b`; callers with small
/// weights (|a| <= 63) add two or four of these in i16 and stay exact.
#[inline(always)]
pub(super) fn mul_i8_pairs(a: v128, b: v128) -> v128 {
    i16x8_add(i16x8_extmul_low_i8x16(a, b), i16x8_extmul_high_i8x16(a, b))
}

/// 16 products of signed bytes summed to 4 i32 lanes (lane l: products
/// 2l, 2l + 1, 2l + 8, 2l + 9), exact for any bytes: the bytes widened to
/// i16, then `i32x4.dot_i16x8_s` (x64 `pmaddwd`), which V8 runs in fewer
/// instructions than `extmul` + `extadd_pairwise` for the same lanes.
#[inline(always)]
pub(super) fn dot_i8(a: v128, b: v128) -> v128 {
    i32x4_add(
        i32x4_dot_i16x8(i16x8_extend_low_i8x16(a), i16x8_extend_low_i8x16(b)),
        i32x4_dot_i16x8(i16x8_extend_high_i8x16(a), i16x8_extend_high_i8x16(b)),
    )
}

/// 2^112 (as f32): rescales an f16 exponent placed in an f32's exponent bits.
const F16_REBIAS: f32 = f32::from_bits((127 + 112) << 23);

/// f16 bits -> f32, exactly as `half::f16::to_f32` for every non-NaN value
/// (NaN stays NaN). The 15 magnitude bits shifted into an f32 read as the
/// value times 2^-112 (subnormals included), so one exact multiply rebiases;
/// an all-ones exponent (inf / NaN) is set directly.
#[inline(always)]
pub(crate) fn f16_to_f32(h: half::f16) -> f32 {
    let h = h.to_bits() as u32;
    let sign = (h & 0x8000) << 16;
    let em = h & 0x7fff;
    let mag = if em >= 0x7c00 {
        0x7f80_0000 | (em & 0x03ff) << 13
    } else {
        (f32::from_bits(em << 13) * F16_REBIAS).to_bits()
    };
    f32::from_bits(sign | mag)
}

/// Four f16 (bits in the low 16 of each u32 lane) -> four f32, as `f16_to_f32`.
#[inline(always)]
pub(super) fn f16x4_to_f32(h: v128) -> v128 {
    let sign = i32x4_shl(v128_and(h, u32x4_splat(0x8000)), 16);
    let em = v128_and(h, u32x4_splat(0x7fff));
    let shifted = i32x4_shl(em, 13);
    let finite = f32x4_mul(shifted, f32x4_splat(F16_REBIAS));
    let special = v128_or(shifted, u32x4_splat(0x7f80_0000));
    let is_special = u32x4_ge(em, u32x4_splat(0x7c00));
    v128_or(v128_bitselect(special, finite, is_special), sign)
}
