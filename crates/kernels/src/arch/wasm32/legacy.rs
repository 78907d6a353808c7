//! simd128 kernels of the legacy block types: the block decoding shared by
//! Q4_0 … Q8_0 (unpacked quants as byte vectors), and Q4_1, Q5_1 weights
//! against Q8_1 activations. (Q4_0, Q5_0, Q8_0 weights against Q8_0
//! activations are in `legacy_rows`.)
//!
//! A Q8_1 block's integer dot is exact: `i16x8.extmul` of the unsigned
//! weight quants (0..32) with the signed activation bytes, four products of
//! at most 31 * 128 summed per i16 lane, then widened pairwise to i32. Each
//! block's sum is scaled in f32 into four lanes summed at the end, so
//! results equal the scalar reference up to f32 summation order.

use core::arch::wasm32::*;

use super::simd::{at, f16_to_f32, hsum_f32, load_i8, load_u8, mul_i8_pairs, opaque};
use crate::blocks::{BlockQ4_1, BlockQ5_1, BlockQ8_1, QK};

/// The byte masks of the block decoding, made once per row or group of
/// rows (`opaque`, so that V8 keeps them in registers in the block loops).
#[derive(Clone, Copy)]
pub(super) struct Masks {
    /// 0x0f in every byte.
    m4: v128,
    /// Byte j: 1 << (j % 8).
    bit: v128,
    /// 1 in every byte.
    pub(super) one: v128,
    /// 0x00ff in every u16 lane (the even bytes).
    #[cfg_attr(target_feature = "relaxed-simd", allow(dead_code))]
    pub(super) low8: v128,
    /// Relaxed builds: the byte selectors of the fifth bits (qh bytes 0, 1
    /// and 2, 3, each 8 times).
    #[cfg(target_feature = "relaxed-simd")]
    spread: [v128; 2],
    /// Relaxed builds: 0x7f in every byte.
    #[cfg(target_feature = "relaxed-simd")]
    pub(super) low7: v128,
}

impl Masks {
    #[inline(always)]
    pub(super) fn new() -> Masks {
        Masks {
            m4: opaque(u8x16_splat(0x0f)),
            bit: opaque(u8x16(
                1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128,
            )),
            one: opaque(u8x16_splat(1)),
            low8: opaque(u16x8_splat(0x00ff)),
            #[cfg(target_feature = "relaxed-simd")]
            spread: [
                opaque(u8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1)),
                opaque(u8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3)),
            ],
            #[cfg(target_feature = "relaxed-simd")]
            low7: opaque(u8x16_splat(0x7f)),
        }
    }
}

/// The 32 quants of a Q8 block as two vectors (elements 0..16, 16..32).
#[inline(always)]
pub(super) fn q8(qs: &[i8; QK]) -> (v128, v128) {
    (load_i8(at(qs, 0)), load_i8(at(qs, 16)))
}

/// 16 bytes of packed nibbles -> (low nibbles = elements 0..16, high
/// nibbles = elements 16..32), each 0..16.
#[inline(always)]
pub(super) fn nibbles(qs: &[u8; QK / 2], k: &Masks) -> (v128, v128) {
    let v = load_u8(qs);
    (v128_and(v, k.m4), v128_and(u16x8_shr(v, 4), k.m4))
}

/// The fifth bits of a Q5 block as values: byte j of the pair is 16 where
/// bit j of `qh` (little-endian u32) is set, else 0 (elements 0..16,
/// 16..32).
#[inline(always)]
pub(super) fn fifth_bits(qh: [u8; 4], k: &Masks) -> (v128, v128) {
    // Bytes b0 b1 b2 b3 spread to b0 x 8, b1 x 8 | b2 x 8, b3 x 8.
    #[cfg(target_feature = "relaxed-simd")]
    let (lo, hi) = {
        // One pshufb each, the selectors in registers (deterministic: every
        // index is below 16).
        let v = u32x4_splat(u32::from_le_bytes(qh));
        (
            i8x16_relaxed_swizzle(v, k.spread[0]),
            i8x16_relaxed_swizzle(v, k.spread[1]),
        )
    };
    // Without relaxed SIMD a swizzle by a non-constant selector costs a range
    // fix in V8; these constant shuffles (which LLVM merges into one byte
    // shuffle, then dword unpacks) cost one rematerialized constant.
    #[cfg(not(target_feature = "relaxed-simd"))]
    let (lo, hi) = {
        let v = u32x4(u32::from_le_bytes(qh), 0, 0, 0);
        let v = i8x16_shuffle::<0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23>(v, v);
        let v = i16x8_shuffle::<0, 8, 1, 9, 2, 10, 3, 11>(v, v);
        (
            i32x4_shuffle::<0, 4, 1, 5>(v, v),
            i32x4_shuffle::<2, 6, 3, 7>(v, v),
        )
    };
    // Byte j keeps bit j % 8 (min(.., 1): 0 or 1), moved to bit 4 (no bit
    // crosses a byte).
    let sixteen = |b| i16x8_shl(u8x16_min(v128_and(b, k.bit), k.one), 4);
    (sixteen(lo), sixteen(hi))
}

/// Dot of 32 small weights (|q| <= 31) with 32 activation quants -> 4 i32.
#[inline(always)]
fn dot_small(w: (v128, v128), a: (v128, v128)) -> v128 {
    i32x4_extadd_pairwise_i16x8(i16x8_add(mul_i8_pairs(w.0, a.0), mul_i8_pairs(w.1, a.1)))
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
    let k = Masks::new();
    sum_q8_1!(x, y, |bx: &BlockQ4_1| nibbles(&bx.qs, &k))
}

/// x: [nb] Q5_1 blocks (one weight row), y: [nb] Q8_1 blocks (the activation) -> dot product
pub(super) fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    let k = Masks::new();
    sum_q8_1!(x, y, |bx: &BlockQ5_1| {
        let (lo, hi) = nibbles(&bx.qs, &k);
        let (h0, h1) = fifth_bits(bx.qh, &k);
        (v128_or(lo, h0), v128_or(hi, h1))
    })
}
