//! NEON k-quant kernels: Q2_K … Q6_K weights against Q8_K activations.
//!
//! Same math as the scalar references in `quant::q*_k`: the weight quants
//! of a super-block become signed bytes (Q3_K and Q6_K with their constant
//! offsets, -4 where the high bit is clear and -32, already applied), each
//! 16- or 32-element sub-block is dotted with its Q8_K quants through
//! `I8Dot` and multiplied by its integer scale into four i32 lanes (exact:
//! the largest case, Q6_K, stays below 2^26), and the super-block is scaled
//! once in f32. The min terms of Q2_K / Q4_K / Q5_K come from the Q8_K
//! `bsums`. Only the order of the f32 additions differs from the
//! references (one running sum per super-block instead of 8 lanes).
//!
//! Generic over the byte dot (`Mull` or `Sdot`) and `#[inline(always)]`:
//! `super` instantiates them with `Mull`, `super::dotprod` with `Sdot`.

use std::arch::aarch64::*;

use super::common::{at, dot32, f16_to_f32, f16x4, load_i8x16, load_i8x32, load_u8x16};
use super::common::{load_u8x32, I8Dot};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use half::f16;

/// A pair of 16-byte vectors (32 consecutive quants).
type U8x32 = (uint8x16_t, uint8x16_t);
type I8x32 = (int8x16_t, int8x16_t);

#[inline(always)]
fn map2(v: U8x32, f: impl Fn(uint8x16_t) -> uint8x16_t) -> U8x32 {
    (f(v.0), f(v.1))
}

#[inline(always)]
fn signed(v: U8x32) -> I8x32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe { (vreinterpretq_s8_u8(v.0), vreinterpretq_s8_u8(v.1)) }
}

/// Eight i16 values.
#[inline(always)]
fn load_i16x8(v: &[i16; 8]) -> int16x8_t {
    // SAFETY: `v` is 16 readable bytes; `ld1` has no alignment requirement.
    unsafe { vld1q_s16(v.as_ptr()) }
}

/// `isum + s0 · (q.0 · y[0..16]) + s1 · (q.1 · y[16..32])`: two 16-element
/// sub-blocks with their own scales.
#[inline(always)]
fn mla16<D: I8Dot>(isum: int32x4_t, q: I8x32, y: &[i8; 32], s0: i32, s1: i32) -> int32x4_t {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let zero = vdupq_n_s32(0);
        let p0 = D::dot(zero, q.0, load_i8x16(at(y, 0)));
        let p1 = D::dot(zero, q.1, load_i8x16(at(y, 16)));
        vmlaq_n_s32(vmlaq_n_s32(isum, p0, s0), p1, s1)
    }
}

/// `isum + s · (q · y)`: one 32-element sub-block.
#[inline(always)]
fn mla32<D: I8Dot>(isum: int32x4_t, q: I8x32, y: &[i8; 32], s: i32) -> int32x4_t {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let p = dot32::<D>(vdupq_n_s32(0), q, load_i8x32(y));
        vmlaq_n_s32(isum, p, s)
    }
}

/// `[y_d · a, y_d · b]`: a block's scale and min scale against its Q8_K
/// block (the references' products).
#[inline(always)]
fn scaled_pair(y_d: f32, a: f16, b: f16) -> (f32, f32) {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let v = vmulq_n_f32(f16x4(a, b, f16::ZERO, f16::ZERO), y_d);
        (vgetq_lane_f32::<0>(v), vgetq_lane_f32::<1>(v))
    }
}

/// The Q4_K / Q5_K 6-bit scales and mins (layout in `quant::kscales`).
#[inline(always)]
fn k4_scales_mins(q: &[u8; 12]) -> ([u8; 8], [u8; 8]) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes(*at::<u8, 4>(q, 4 * i));
    let (w0, w1, w2) = (w(0), w(1), w(2));
    let sc_hi = (w2 & LOW4) | (((w0 >> 6) & LOW2) << 4);
    let m_hi = ((w2 >> 4) & LOW4) | (((w1 >> 6) & LOW2) << 4);
    let join = |lo: u32, hi: u32| (lo as u64 | (hi as u64) << 32).to_le_bytes();
    (join(w0 & LOW6, sc_hi), join(w1 & LOW6, m_hi))
}

/// Σ bsums[j] · m[j / 2]: the Q4_K / Q5_K min term in integers.
#[inline(always)]
fn k4_min_sum(bsums: &[i16; 16], m: [u8; 8]) -> i32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        // Pair sums of 16 quants each fit i16 (|.| <= 4096).
        let pairs = vpaddq_s16(load_i16x8(at(bsums, 0)), load_i16x8(at(bsums, 8)));
        let mins = vreinterpretq_s16_u16(vmovl_u8(vcreate_u8(u64::from_le_bytes(m))));
        let lo = vmull_s16(vget_low_s16(pairs), vget_low_s16(mins));
        vaddvq_s32(vmlal_high_s16(lo, pairs, mins))
    }
}

// ---------------------------------------------------------------- Q4_K, Q5_K

/// The exact integer sums of one Q4_K / Q5_K super-block against its Q8_K
/// block: (Σ scale·(q·y) over the 8 sub-blocks, Σ bsums·min). `quants(q)`
/// turns chunk j's 32 packed bytes into the quants of sub-blocks 2j (low
/// nibbles) and 2j + 1 (high nibbles); it is called for j = 0, 1, 2, 3.
#[inline(always)]
fn k4_sums<D: I8Dot>(
    qs: &[u8; 128],
    scales: &[u8; 12],
    y: &BlockQ8K,
    mut quants: impl FnMut(U8x32) -> (U8x32, U8x32),
) -> (i32, i32) {
    let (sc, m) = k4_scales_mins(scales);
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let mut isum = vdupq_n_s32(0);
        for j in 0..4 {
            let (lo, hi) = quants(load_u8x32(at(qs, 32 * j)));
            isum = mla32::<D>(isum, signed(lo), at(&y.qs, 64 * j), sc[2 * j] as i32);
            isum = mla32::<D>(
                isum,
                signed(hi),
                at(&y.qs, 64 * j + 32),
                sc[2 * j + 1] as i32,
            );
        }
        (vaddvq_s32(isum), k4_min_sum(&y.bsums, m))
    }
}

/// Low and high nibbles of 32 bytes.
#[inline(always)]
fn split_nibbles(q: U8x32) -> (U8x32, U8x32) {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let low4 = vdupq_n_u8(0x0f);
        (
            map2(q, |v| vandq_u8(v, low4)),
            map2(q, |v| vshrq_n_u8::<4>(v)),
        )
    }
}

/// x: [nb] Q4_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn vec_dot_q4_k_q8_k<D: I8Dot>(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let (mut sum, mut mins) = (0.0f32, 0.0f32);
    for (bx, by) in x.iter().zip(y) {
        let (d, dmin) = scaled_pair(by.d, bx.d, bx.dmin);
        let (isum, msum) = k4_sums::<D>(&bx.qs, &bx.scales, by, split_nibbles);
        sum += d * isum as f32;
        mins += dmin * msum as f32;
    }
    sum - mins
}

/// x: [nb] Q5_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn vec_dot_q5_k_q8_k<D: I8Dot>(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let (mut sum, mut mins) = (0.0f32, 0.0f32);
    for (bx, by) in x.iter().zip(y) {
        let (d, dmin) = scaled_pair(by.d, bx.d, bx.dmin);
        // Bit 2j of qh[l] is the fifth bit of element 64j + l, bit 2j + 1
        // that of element 64j + 32 + l; shifted down by 2 per chunk.
        let mut qh = load_u8x32(&bx.qh);
        let with_fifth_bits = |q: U8x32| {
            // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
            unsafe {
                let (lo, hi) = split_nibbles(q);
                let (one, two) = (vdupq_n_u8(1), vdupq_n_u8(2));
                let h_lo = map2(qh, |v| vshlq_n_u8::<4>(vandq_u8(v, one)));
                let h_hi = map2(qh, |v| vshlq_n_u8::<3>(vandq_u8(v, two)));
                qh = map2(qh, |v| vshrq_n_u8::<2>(v));
                (
                    (vorrq_u8(lo.0, h_lo.0), vorrq_u8(lo.1, h_lo.1)),
                    (vorrq_u8(hi.0, h_hi.0), vorrq_u8(hi.1, h_hi.1)),
                )
            }
        };
        let (isum, msum) = k4_sums::<D>(&bx.qs, &bx.scales, by, with_fifth_bits);
        sum += d * isum as f32;
        mins += dmin * msum as f32;
    }
    sum - mins
}

// ---------------------------------------------------------------- Q6_K

/// x: [nb] Q6_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn vec_dot_q6_k_q8_k<D: I8Dot>(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        debug_assert_eq!(x.len(), y.len());
        let mut sum = 0.0f32;
        let (low4, bits45) = (vdupq_n_u8(0x0f), vdupq_n_u8(0x30));
        // (4 low bits | 2 high bits already at bits 4..6) - 32
        let six = |lo: uint8x16_t, hi: uint8x16_t| {
            vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, hi)), vdupq_n_s8(32))
        };
        for (bx, by) in x.iter().zip(y) {
            let d = by.d * f16_to_f32(bx.d);
            let s = |j: usize| bx.scales[j] as i32;
            let mut isum = vdupq_n_s32(0);
            for n in 0..2 {
                let a = load_u8x32(at(&bx.ql, 64 * n));
                let b = load_u8x32(at(&bx.ql, 64 * n + 32));
                let h = load_u8x32(at(&bx.qh, 32 * n));
                // Elements 128n + 32k + l, k = 0..4: a low, b low, a high, b
                // high nibbles with qh bits 2k..2k+2.
                let quants = [
                    map2(a, |v| vandq_u8(v, low4)),
                    map2(b, |v| vandq_u8(v, low4)),
                    map2(a, |v| vshrq_n_u8::<4>(v)),
                    map2(b, |v| vshrq_n_u8::<4>(v)),
                ];
                let highs = [
                    map2(h, |v| vandq_u8(vshlq_n_u8::<4>(v), bits45)),
                    map2(h, |v| vandq_u8(vshlq_n_u8::<2>(v), bits45)),
                    map2(h, |v| vandq_u8(v, bits45)),
                    map2(h, |v| vandq_u8(vshrq_n_u8::<2>(v), bits45)),
                ];
                for k in 0..4 {
                    let (q, hb) = (quants[k], highs[k]);
                    let v = (six(q.0, hb.0), six(q.1, hb.1));
                    let j = 8 * n + 2 * k;
                    isum = mla16::<D>(isum, v, at(&by.qs, 128 * n + 32 * k), s(j), s(j + 1));
                }
            }
            sum += d * vaddvq_s32(isum) as f32;
        }
        sum
    }
}

// ---------------------------------------------------------------- Q3_K

/// The sixteen Q3_K scales, unbiased (-32..32). Layout in `quant::kscales`.
#[inline(always)]
fn q3_k_scales(q: &[u8; 12]) -> [i8; 16] {
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes(*at::<u8, 4>(q, 4 * i));
    let (w0, w1, w2) = (w(0), w(1), w(2));
    let words = [
        (w0 & LOW4) | ((w2 & LOW2) << 4),
        (w1 & LOW4) | (((w2 >> 2) & LOW2) << 4),
        ((w0 >> 4) & LOW4) | (((w2 >> 4) & LOW2) << 4),
        ((w1 >> 4) & LOW4) | (((w2 >> 6) & LOW2) << 4),
    ];
    std::array::from_fn(|j| (words[j / 4] >> (8 * (j % 4))) as u8 as i8 - 32)
}

/// x: [nb] Q3_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn vec_dot_q3_k_q8_k<D: I8Dot>(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        debug_assert_eq!(x.len(), y.len());
        let mut sum = 0.0f32;
        let (three, one) = (vdupq_n_u8(3), vdupq_n_u8(1));
        for (bx, by) in x.iter().zip(y) {
            let d = by.d * f16_to_f32(bx.d);
            let sc = q3_k_scales(&bx.scales);
            // Bit 4n + k of hmask[l] clear: element 128n + 32k + l is offset by
            // -4. Inverted, so bit 0 says "subtract 4"; shifted down per step.
            let mut off = map2(load_u8x32(&bx.hmask), |v| vmvnq_u8(v));
            let mut isum = vdupq_n_s32(0);
            for n in 0..2 {
                let mut q = load_u8x32(at(&bx.qs, 32 * n));
                for k in 0..4 {
                    let low = map2(q, |v| vandq_u8(v, three));
                    let sub = map2(off, |v| vshlq_n_u8::<2>(vandq_u8(v, one)));
                    let v = (
                        vsubq_s8(vreinterpretq_s8_u8(low.0), vreinterpretq_s8_u8(sub.0)),
                        vsubq_s8(vreinterpretq_s8_u8(low.1), vreinterpretq_s8_u8(sub.1)),
                    );
                    let j = 8 * n + 2 * k;
                    let (s0, s1) = (sc[j] as i32, sc[j + 1] as i32);
                    isum = mla16::<D>(isum, v, at(&by.qs, 128 * n + 32 * k), s0, s1);
                    q = map2(q, |v| vshrq_n_u8::<2>(v));
                    off = map2(off, |v| vshrq_n_u8::<1>(v));
                }
            }
            sum += d * vaddvq_s32(isum) as f32;
        }
        sum
    }
}

// ---------------------------------------------------------------- Q2_K

/// Σ bsums[j] · (scales[j] >> 4): the Q2_K min term in integers.
#[inline(always)]
fn q2_k_min_sum(bsums: &[i16; 16], scales: &[u8; 16]) -> i32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let mins = vshrq_n_u8::<4>(load_u8x16(scales));
        let m0 = vreinterpretq_s16_u16(vmovl_u8(vget_low_u8(mins)));
        let m1 = vreinterpretq_s16_u16(vmovl_high_u8(mins));
        let (b0, b1) = (load_i16x8(at(bsums, 0)), load_i16x8(at(bsums, 8)));
        let mut acc = vmull_s16(vget_low_s16(b0), vget_low_s16(m0));
        acc = vmlal_high_s16(acc, b0, m0);
        acc = vmlal_s16(acc, vget_low_s16(b1), vget_low_s16(m1));
        vaddvq_s32(vmlal_high_s16(acc, b1, m1))
    }
}

/// x: [nb] Q2_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn vec_dot_q2_k_q8_k<D: I8Dot>(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        debug_assert_eq!(x.len(), y.len());
        let mut sum = 0.0f32;
        let three = vdupq_n_u8(3);
        for (bx, by) in x.iter().zip(y) {
            let (dall, dmin) = scaled_pair(by.d, bx.d, bx.dmin);
            let s = |j: usize| (bx.scales[j] & 0xf) as i32;
            let mut isum = vdupq_n_s32(0);
            for n in 0..2 {
                // Element 128n + 32k + l: bits 2k..2k+2 of qs[32n + l].
                let mut q = load_u8x32(at(&bx.qs, 32 * n));
                for k in 0..4 {
                    let v = signed(map2(q, |v| vandq_u8(v, three)));
                    let j = 8 * n + 2 * k;
                    isum = mla16::<D>(isum, v, at(&by.qs, 128 * n + 32 * k), s(j), s(j + 1));
                    q = map2(q, |v| vshrq_n_u8::<2>(v));
                }
            }
            let summs = q2_k_min_sum(&by.bsums, &bx.scales);
            sum += dall * vaddvq_s32(isum) as f32 - dmin * summs as f32;
        }
        sum
    }
}
