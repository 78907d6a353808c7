//! simd128 kernels of the legacy block types: Q4_0, Q5_0, Q8_0 weights
//! against Q8_0 activations, Q4_1, Q5_1 weights against Q8_1 activations.
//!
//! A block's integer dot is exact: `i16x8.extmul` of signed bytes, summed
//! in i16 only where the weights are small enough (|q| <= 31: four
//! products of at most 31 * 128 per lane), then widened pairwise to i32.
//! Q8_0 weights (any i8, -128 included) widen every product pair at once.
//! Each block's sum is scaled in f32 into four lanes summed at the end, so
//! results equal the scalar reference up to f32 summation order.

use core::arch::wasm32::*;

use super::simd::{at, dot_i8, f16_to_f32, hsum_f32, load_i8, load_u8, mul_i8_pairs};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1, QK};

/// The 32 quants of a Q8 block as two vectors (elements 0..16, 16..32).
#[inline(always)]
fn q8(qs: &[i8; QK]) -> (v128, v128) {
    (load_i8(at(qs, 0)), load_i8(at(qs, 16)))
}

/// 16 bytes of packed nibbles -> (low nibbles = elements 0..16, high
/// nibbles = elements 16..32), each 0..16.
#[inline(always)]
fn nibbles(qs: &[u8; QK / 2]) -> (v128, v128) {
    let v = load_u8(qs);
    let m4 = u8x16_splat(0x0f);
    (v128_and(v, m4), v128_and(u16x8_shr(v, 4), m4))
}

/// The fifth bits of a Q5 block: byte j of the pair is 0xff where bit j of
/// `qh` (little-endian u32) is set, else 0 (elements 0..16, 16..32).
#[inline(always)]
fn fifth_bits(qh: [u8; 4]) -> (v128, v128) {
    let v = u32x4_splat(u32::from_le_bytes(qh));
    // Byte j takes source byte j / 8, then keeps bit j % 8.
    let lo = i8x16_swizzle(v, u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    let hi = i8x16_swizzle(v, u8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    let bit = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128);
    (
        i8x16_eq(v128_and(lo, bit), bit),
        i8x16_eq(v128_and(hi, bit), bit),
    )
}

/// Dot of 32 small weights (|q| <= 31) with 32 activation quants -> 4 i32.
#[inline(always)]
fn dot_small(w: (v128, v128), a: (v128, v128)) -> v128 {
    i32x4_extadd_pairwise_i16x8(i16x8_add(mul_i8_pairs(w.0, a.0), mul_i8_pairs(w.1, a.1)))
}

/// Sums `dx * dy * sum(qx * qy)` over block pairs; `$dot(&bx, q8)` gives a
/// weight block's exact integer dot with the 32 activation quants `q8`, as
/// 4 i32 lanes.
macro_rules! sum_q8_0 {
    ($x:expr, $y:expr, $dot:expr) => {{
        let (x, y) = ($x, $y);
        debug_assert_eq!(x.len(), y.len());
        let mut acc = f32x4_splat(0.0);
        for (bx, by) in x.iter().zip(y) {
            let sumi: v128 = $dot(bx, q8(&by.qs));
            let d = f32x4_splat(f16_to_f32(bx.d) * f16_to_f32(by.d));
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(sumi), d));
        }
        hsum_f32(acc)
    }};
}

/// x: [nb] Q8_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
pub(super) fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    sum_q8_0!(x, y, |bx: &BlockQ8_0, a: (v128, v128)| {
        let w = q8(&bx.qs);
        i32x4_add(dot_i8(w.0, a.0), dot_i8(w.1, a.1))
    })
}

/// x: [nb] Q4_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
pub(super) fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    let eight = i8x16_splat(8);
    sum_q8_0!(x, y, |bx: &BlockQ4_0, a| {
        let (lo, hi) = nibbles(&bx.qs);
        dot_small((i8x16_sub(lo, eight), i8x16_sub(hi, eight)), a)
    })
}

/// x: [nb] Q5_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
pub(super) fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    // q - 16 as a byte: nibble | 0xf0 (= nibble - 16) where the fifth bit
    // is clear, the nibble alone where it is set.
    let f0 = u8x16_splat(0xf0);
    sum_q8_0!(x, y, |bx: &BlockQ5_0, a| {
        let (lo, hi) = nibbles(&bx.qs);
        let (h0, h1) = fifth_bits(bx.qh);
        let w = (
            v128_or(lo, v128_andnot(f0, h0)),
            v128_or(hi, v128_andnot(f0, h1)),
        );
        dot_small(w, a)
    })
}

/// Sums `dx * dy * sum(qx * qy) + m * s` over block pairs; `$quants(&bx)`
/// gives the 32 unsigned weight quants (0..32).
macro_rules! sum_q8_1 {
    ($x:expr, $y:expr, $quants:expr) => {{
        let (x, y) = ($x, $y);
        debug_assert_eq!(x.len(), y.len());
        let mut acc = f32x4_splat(0.0);
        let mut mins = 0.0f32;
        for (bx, by) in x.iter().zip(y) {
            let sumi = dot_small($quants(bx), q8(&by.qs));
            let d = f32x4_splat(f16_to_f32(bx.d) * f16_to_f32(by.d));
            acc = f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(sumi), d));
            mins += f16_to_f32(bx.m) * f16_to_f32(by.s);
        }
        hsum_f32(acc) + mins
    }};
}

/// x: [nb] Q4_1 blocks (one weight row), y: [nb] Q8_1 blocks (the activation) -> dot product
pub(super) fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    sum_q8_1!(x, y, |bx: &BlockQ4_1| nibbles(&bx.qs))
}

/// x: [nb] Q5_1 blocks (one weight row), y: [nb] Q8_1 blocks (the activation) -> dot product
pub(super) fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let b4 = u8x16_splat(0x10);
    sum_q8_1!(x, y, |bx: &BlockQ5_1| {
        let (lo, hi) = nibbles(&bx.qs);
        let (h0, h1) = fifth_bits(bx.qh);
        (v128_or(lo, v128_and(h0, b4)), v128_or(hi, v128_and(h1, b4)))
    })
}
