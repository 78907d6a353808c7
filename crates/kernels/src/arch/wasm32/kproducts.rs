//! The scaled sub-block products of the k-quant kernels, two ways with the
//! same integers per lane.
//!
//! A k-quant kernel multiplies 16 (or 32) unsigned weight codes (below 64)
//! by as many activation bytes, scales the sum by the sub-block scale and
//! keeps it as 4 i32 lanes that are converted to f32 once per super-block.
//! Which products land in which lane therefore shows in the f32 result, so
//! both ways below put products {2l, 2l + 1, 2l + 8, 2l + 9} into lane l:
//! - [`Pairs`] (simd128): `i16x8.extmul` products summed in i16 pairs
//!   (l, l + 8), then `i32x4.dot_i16x8` with the scale splatted sums
//!   neighbouring pairs and scales in one step;
//! - [`Relaxed`] (relaxed-simd builds): `i16x8.relaxed_dot_i8x16_i7x16`
//!   (x64 `pmaddubsw`) sums neighbouring products in i16, then
//!   `i32x4.dot_i16x8` with the scale splatted sums neighbouring pairs and
//!   scales, so lane l holds products 4l..4l + 4; both operands are first
//!   put in the order `ORDER` (one `i8x16.relaxed_swizzle` each, in range,
//!   so deterministic), which brings the products of lane l of `Pairs` to
//!   bytes 4l..4l + 4. The codes are below 128, as the relaxed dot's second
//!   operand must be for a deterministic result, and the i16 sums stay far
//!   from saturation. (This took 8% less time per Q4_K / Q6_K block in
//!   Chromium than `i32x4.relaxed_dot_i8x16_i7x16_add` and an i32 multiply
//!   by the scale: `bench/browser/kernel-timing.mjs`.)
//!
//! Kernels call [`Products::order`] on every weight and activation vector
//! before the products (identity for `Pairs`); byte-wise steps (nibble
//! splits, high-bit merges) commute with it, so they may run after it.

use core::arch::wasm32::*;

use super::simd::mul_i8_pairs;

/// Sub-block products with the lane layout of the module docs.
pub(super) trait Products: Copy {
    /// `v`'s 16 bytes in the order the products take them.
    fn order(self, v: v128) -> v128;

    /// `sc` times the dot of 16 ordered weight codes `q` (unsigned, below
    /// 64) with 16 ordered activation bytes `a`, as 4 i32 lanes (exact).
    fn scaled_dot16(self, q: v128, a: v128, sc: i32) -> v128;

    /// As `scaled_dot16` over 32 codes `w` and 32 activation bytes `a`
    /// (codes below 32: the two halves are summed before the scale).
    fn scaled_dot32(self, w: (v128, v128), a: (v128, v128), sc: i32) -> v128;
}

/// The simd128 way: i16 pair products, then `i32x4.dot_i16x8`. (Relaxed
/// builds use it only in the tests that hold `Relaxed` equal to it.)
#[cfg_attr(all(target_feature = "relaxed-simd", not(test)), allow(dead_code))]
#[derive(Clone, Copy)]
pub(super) struct Pairs;

impl Products for Pairs {
    #[inline(always)]
    fn order(self, v: v128) -> v128 {
        v
    }

    #[inline(always)]
    fn scaled_dot16(self, q: v128, a: v128, sc: i32) -> v128 {
        i32x4_dot_i16x8(mul_i8_pairs(q, a), i16x8_splat(sc as i16))
    }

    #[inline(always)]
    fn scaled_dot32(self, w: (v128, v128), a: (v128, v128), sc: i32) -> v128 {
        // |sum| <= 2 * 2 * 31 * 128: exact in i16
        let p = i16x8_add(mul_i8_pairs(w.0, a.0), mul_i8_pairs(w.1, a.1));
        i32x4_dot_i16x8(p, i16x8_splat(sc as i16))
    }
}

/// The swizzle selector: byte `4l + k` of an ordered vector is byte
/// `ORDER[4l + k]` of the original, so lane l of the relaxed dot holds
/// products 2l, 2l + 1, 2l + 8, 2l + 9, as in `Pairs`.
#[cfg(target_feature = "relaxed-simd")]
const ORDER: v128 = u8x16(0, 1, 8, 9, 2, 3, 10, 11, 4, 5, 12, 13, 6, 7, 14, 15);

/// The relaxed-simd way: operands reordered, then the relaxed i8 dot into
/// i16 pairs.
#[cfg(target_feature = "relaxed-simd")]
#[derive(Clone, Copy)]
pub(super) struct Relaxed {
    /// `ORDER` as a swizzle selector (kept in a register, see `opaque`).
    order: v128,
}

#[cfg(target_feature = "relaxed-simd")]
impl Relaxed {
    #[inline(always)]
    pub(super) fn new() -> Relaxed {
        Relaxed {
            order: super::simd::opaque(ORDER),
        }
    }
}

#[cfg(target_feature = "relaxed-simd")]
impl Products for Relaxed {
    #[inline(always)]
    fn order(self, v: v128) -> v128 {
        i8x16_relaxed_swizzle(v, self.order)
    }

    #[inline(always)]
    fn scaled_dot16(self, q: v128, a: v128, sc: i32) -> v128 {
        // i16 pair sums (|.| <= 2 * 63 * 128), then pairs of pairs times sc
        let p = i16x8_relaxed_dot_i8x16_i7x16(a, q);
        i32x4_dot_i16x8(p, i16x8_splat(sc as i16))
    }

    #[inline(always)]
    fn scaled_dot32(self, w: (v128, v128), a: (v128, v128), sc: i32) -> v128 {
        // codes below 32: the two halves' pair sums add in i16 (|.| <= 4 * 31 * 128)
        let p = i16x8_add(
            i16x8_relaxed_dot_i8x16_i7x16(a.0, w.0),
            i16x8_relaxed_dot_i8x16_i7x16(a.1, w.1),
        );
        i32x4_dot_i16x8(p, i16x8_splat(sc as i16))
    }
}

/// The products this build's kernels use.
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
pub(super) fn fastest() -> Relaxed {
    Relaxed::new()
}

/// The products this build's kernels use.
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
pub(super) fn fastest() -> Pairs {
    Pairs
}
