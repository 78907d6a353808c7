//! NEON kernels of the legacy block types: Q4_0, Q5_0, Q8_0 weights against
//! Q8_0 activations, Q4_1, Q5_1 weights against Q8_1 activations.
//!
//! Every weight block is first turned into 32 signed bytes (Q4_0: the
//! nibble minus 8, Q5_0: the 5-bit value minus 16, Q4_1 / Q5_1: the
//! unsigned value, at most 31), then dotted with the activation quants through `I8Dot` (exact i32
//! lane sums) and scaled in f32 per block, as the scalar references in
//! `quant::q*_*`; only the order of the f32 additions differs (two
//! 4-lane accumulators, summed at the end).
//!
//! Generic over the byte dot (`Mull` or `Sdot`) and `#[inline(always)]`:
//! `super` instantiates them with `Mull`, `super::dotprod` with `Sdot`.

use std::arch::aarch64::*;

use super::common::{dot32, f16_product, f16x4, load_i8x32, load_u8x16, I8Dot};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};
use half::f16;

/// A legacy weight block: its 32 quants as signed bytes (elements 0..16,
/// 16..32) and its scale `d`.
pub(super) trait Quants {
    fn quants(&self) -> (int8x16_t, int8x16_t);
    fn d(&self) -> f16;
}

/// A legacy weight block with an offset `m` (`w = d * q + m`).
pub(super) trait WithMin: Quants {
    fn m(&self) -> f16;
}

/// 16 bytes of packed nibbles: (low nibbles = elements 0..16, high nibbles
/// = elements 16..32), each 0..16.
#[inline(always)]
fn nibbles(qs: &[u8; 16]) -> (uint8x16_t, uint8x16_t) {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let v = load_u8x16(qs);
        (vandq_u8(v, vdupq_n_u8(0x0f)), vshrq_n_u8::<4>(v))
    }
}

/// Bit j of `bits` -> byte j: 0xff if set, 0 if clear (elements 0..16, 16..32).
#[inline(always)]
fn bytes_from_bits(bits: [u8; 4]) -> (uint8x16_t, uint8x16_t) {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let word = vreinterpretq_u8_u32(vdupq_n_u32(u32::from_le_bytes(bits)));
        // Byte j takes source byte j / 8, then tests bit j % 8.
        let pick_lo = vcombine_u8(vcreate_u8(0), vcreate_u8(0x0101_0101_0101_0101));
        let pick_hi = vcombine_u8(
            vcreate_u8(0x0202_0202_0202_0202),
            vcreate_u8(0x0303_0303_0303_0303),
        );
        let bit = vcombine_u8(
            vcreate_u8(0x8040_2010_0804_0201),
            vcreate_u8(0x8040_2010_0804_0201),
        );
        (
            vtstq_u8(vqtbl1q_u8(word, pick_lo), bit),
            vtstq_u8(vqtbl1q_u8(word, pick_hi), bit),
        )
    }
}

impl Quants for BlockQ8_0 {
    #[inline(always)]
    fn quants(&self) -> (int8x16_t, int8x16_t) {
        load_i8x32(&self.qs)
    }
    #[inline(always)]
    fn d(&self) -> f16 {
        self.d
    }
}

impl Quants for BlockQ4_0 {
    #[inline(always)]
    fn quants(&self) -> (int8x16_t, int8x16_t) {
        // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
        unsafe {
            let (lo, hi) = nibbles(&self.qs);
            let eight = vdupq_n_s8(8);
            (
                vsubq_s8(vreinterpretq_s8_u8(lo), eight),
                vsubq_s8(vreinterpretq_s8_u8(hi), eight),
            )
        }
    }
    #[inline(always)]
    fn d(&self) -> f16 {
        self.d
    }
}

impl Quants for BlockQ5_0 {
    #[inline(always)]
    fn quants(&self) -> (int8x16_t, int8x16_t) {
        // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
        unsafe {
            // q - 16 as a byte: nibble | 0xf0 (= nibble - 16) where the fifth
            // bit is clear, the nibble alone (= nibble + 16 - 16) where it is set.
            let (lo, hi) = nibbles(&self.qs);
            let (set_lo, set_hi) = bytes_from_bits(self.qh);
            let f0 = vdupq_n_u8(0xf0);
            (
                vreinterpretq_s8_u8(vorrq_u8(lo, vbicq_u8(f0, set_lo))),
                vreinterpretq_s8_u8(vorrq_u8(hi, vbicq_u8(f0, set_hi))),
            )
        }
    }
    #[inline(always)]
    fn d(&self) -> f16 {
        self.d
    }
}

impl Quants for BlockQ4_1 {
    #[inline(always)]
    fn quants(&self) -> (int8x16_t, int8x16_t) {
        // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
        unsafe {
            let (lo, hi) = nibbles(&self.qs);
            (vreinterpretq_s8_u8(lo), vreinterpretq_s8_u8(hi))
        }
    }
    #[inline(always)]
    fn d(&self) -> f16 {
        self.d
    }
}

impl WithMin for BlockQ4_1 {
    #[inline(always)]
    fn m(&self) -> f16 {
        self.m
    }
}

impl Quants for BlockQ5_1 {
    #[inline(always)]
    fn quants(&self) -> (int8x16_t, int8x16_t) {
        // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
        unsafe {
            let (lo, hi) = nibbles(&self.qs);
            let (set_lo, set_hi) = bytes_from_bits(self.qh);
            let h = vdupq_n_u8(0x10);
            (
                vreinterpretq_s8_u8(vorrq_u8(lo, vandq_u8(set_lo, h))),
                vreinterpretq_s8_u8(vorrq_u8(hi, vandq_u8(set_hi, h))),
            )
        }
    }
    #[inline(always)]
    fn d(&self) -> f16 {
        self.d
    }
}

impl WithMin for BlockQ5_1 {
    #[inline(always)]
    fn m(&self) -> f16 {
        self.m
    }
}

/// The exact integer dot of one weight block with 32 activation quants.
#[inline(always)]
fn block_sum<D: I8Dot, B: Quants>(bx: &B, qs: &[i8; 32]) -> i32 {
    let lanes = dot32::<D>(zero_i32x4(), bx.quants(), load_i8x32(qs));
    // SAFETY: NEON register intrinsic (NEON is an aarch64 baseline feature); no memory access.
    unsafe { vaddvq_s32(lanes) }
}

/// x: [nb] weight blocks (one row), y: [nb] Q8_0 blocks (the activation)
/// -> Σ dx·dy·Σ qx·qy. For Q4_0, Q5_0 and Q8_0 weights.
///
/// Each block's integer sum is reduced to one i32 before it meets a float,
/// so the `Mull` and `Sdot` builds agree bit for bit.
#[inline(always)]
pub(super) fn vec_dot_q8_0<D: I8Dot, B: Quants>(x: &[B], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    // Two accumulators hide the add latency.
    let (mut acc0, mut acc1) = (0.0f32, 0.0f32);
    let mut xs = x.chunks_exact(2);
    let mut ys = y.chunks_exact(2);
    for (bx, by) in (&mut xs).zip(&mut ys) {
        let s0 = block_sum::<D, B>(&bx[0], &by[0].qs);
        let s1 = block_sum::<D, B>(&bx[1], &by[1].qs);
        acc0 += s0 as f32 * f16_product(bx[0].d(), by[0].d);
        acc1 += s1 as f32 * f16_product(bx[1].d(), by[1].d);
    }
    for (bx, by) in xs.remainder().iter().zip(ys.remainder()) {
        let s = block_sum::<D, B>(bx, &by.qs);
        acc0 += s as f32 * f16_product(bx.d(), by.d);
    }
    acc0 + acc1
}

/// x: [nb] weight blocks (one row), y: [nb] Q8_1 blocks (the activation)
/// -> Σ (dx·dy·Σ qx·qy + m·s). For Q4_1 and Q5_1 weights.
#[inline(always)]
pub(super) fn vec_dot_q8_1<D: I8Dot, B: WithMin>(x: &[B], y: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let (mut acc, mut mins) = (0.0f32, 0.0f32);
    for (bx, by) in x.iter().zip(y) {
        // [dx, m, dy, s] · [dy, s, dx, m] = [dx·dy, m·s, ..]
        let p = f16x4(bx.d(), bx.m(), by.d, by.s);
        // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
        let (dd, ms) = unsafe {
            let p = vmulq_f32(p, vextq_f32::<2>(p, p));
            (vgetq_lane_f32::<0>(p), vgetq_lane_f32::<1>(p))
        };
        acc += dd * block_sum::<D, B>(bx, &by.qs) as f32;
        mins += ms;
    }
    acc + mins
}

/// Four zero i32 lanes.
#[inline(always)]
fn zero_i32x4() -> int32x4_t {
    // SAFETY: NEON register intrinsic (NEON is an aarch64 baseline feature); no memory access.
    unsafe { vdupq_n_s32(0) }
}
