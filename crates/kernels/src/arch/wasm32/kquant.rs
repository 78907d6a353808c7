//! simd128 k-quant kernels: Q2_K … Q6_K weights against Q8_K activations.
//!
//! Same math as the scalar references in `quant::q*_k`, with exact integer
//! sums per super-block: the weight quants are unpacked unsigned (0..64)
//! and multiplied by the activation bytes through `kproducts` (i16 pair
//! products in simd128 builds, the relaxed i8 dot in relaxed-simd builds,
//! with the same integers per i32 lane, so both builds give the same
//! results). The min terms of Q2_K / Q4_K / Q5_K, like the constant
//! offsets of Q3_K (-4) and Q6_K (-32), come from the Q8_K `bsums`. Each
//! super-block's integer sum is scaled once in f32, into four lanes summed
//! at the end: results equal the reference up to f32 summation order.
//! (Q4_K and Q6_K run the multi-row kernels of `rows_kquant` on one row.)
//! The kernels are generic over the `Products` so that tests can hold the
//! two ways equal in one build.

use core::arch::wasm32::*;

use super::kproducts::{fastest, Products};
use super::rows_kquant;
use super::simd::{at, f16_to_f32, hsum_f32, load_i16, load_i8, load_u8};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::quant::kscales::unpack_q3_k_scales;

/// `sum_j sc[j] * bsums[j]` over the 16 sub-blocks of 16, as 4 i32 lanes;
/// `sc` holds 16 signed byte scales (|sc| <= 128).
#[inline(always)]
pub(super) fn scaled_bsums(sc: v128, by: &BlockQ8K) -> v128 {
    let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(sc), load_i16(at(&by.bsums, 0)));
    let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(sc), load_i16(at(&by.bsums, 8)));
    i32x4_add(lo, hi)
}

/// `f32(sumi) * d`, added to `acc`.
#[inline(always)]
pub(super) fn fma(acc: v128, sumi: v128, d: f32) -> v128 {
    f32x4_add(acc, f32x4_mul(f32x4_convert_i32x4(sumi), f32x4_splat(d)))
}

/// The Q4_K / Q5_K 6-bit scales and mins as bytes `[sc0..sc8, m0..m8]`
/// (layout in `quant::kscales`).
#[inline(always)]
pub(super) fn k4_scales_mins(q: &[u8; 12]) -> [u8; 16] {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let w = |i: usize| u32::from_le_bytes(*at::<u8, 4>(q, 4 * i));
    let (w0, w1, w2) = (w(0), w(1), w(2));
    let words = [
        w0 & LOW6,
        (w2 & LOW4) | (((w0 >> 6) & LOW2) << 4),
        w1 & LOW6,
        ((w2 >> 4) & LOW4) | (((w1 >> 6) & LOW2) << 4),
    ];
    let mut b = [0u8; 16];
    for (o, w) in b.chunks_exact_mut(4).zip(words) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    b
}

/// The Q4_K / Q5_K min term `sum_j m[j] * (bsums[2j] + bsums[2j + 1])` as
/// 4 i32 lanes; `sm` holds `[sc0..sc8, m0..m8]`.
#[inline(always)]
fn k4_min_term(sm: &[u8; 16], by: &BlockQ8K) -> v128 {
    let mins = u16x8_extend_high_u8x16(load_u8(sm));
    // Pair sums of the 16 bsums (each |sum| <= 16 * 128): exact in i16.
    let p0 = i32x4_extadd_pairwise_i16x8(load_i16(at(&by.bsums, 0)));
    let p1 = i32x4_extadd_pairwise_i16x8(load_i16(at(&by.bsums, 8)));
    i32x4_dot_i16x8(mins, i16x8_narrow_i32x4(p0, p1))
}

/// x: [nb] Q4_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
pub(super) fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q4_k·q8_k: block counts differ");
    rows_kquant::q4_k([x], y, fastest())[0]
}

/// x: [nb] Q5_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
pub(super) fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    q5_k(x, y, fastest())
}

/// The Q5_K dot with the products `p`.
// x: [nb] Q5_K blocks, y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn q5_k(x: &[BlockQ5K], y: &[BlockQ8K], p: impl Products) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q5_k·q8_k: block counts differ");
    let m4 = u8x16_splat(0x0f);
    let b4 = u8x16_splat(0x10);
    let mut acc = f32x4_splat(0.0);
    let mut acc_m = f32x4_splat(0.0);
    for (bx, by) in x.iter().zip(y) {
        let sm = k4_scales_mins(&bx.scales);
        // qh[l] bit j is the fifth bit of element 32j + l
        let qh = (
            p.order(load_u8(at(&bx.qh, 0))),
            p.order(load_u8(at(&bx.qh, 16))),
        );
        let fifth = |j: usize, q: (v128, v128)| {
            let bit = u8x16_splat(1 << j);
            let h0 = v128_and(i8x16_eq(v128_and(qh.0, bit), bit), b4);
            let h1 = v128_and(i8x16_eq(v128_and(qh.1, bit), bit), b4);
            (v128_or(q.0, h0), v128_or(q.1, h1))
        };
        let mut sumi = i32x4_splat(0);
        for c in 0..4 {
            let q0 = p.order(load_u8(at(&bx.qs, 32 * c)));
            let q1 = p.order(load_u8(at(&bx.qs, 32 * c + 16)));
            let lo = fifth(2 * c, (v128_and(q0, m4), v128_and(q1, m4)));
            let hi = (
                v128_and(u16x8_shr(q0, 4), m4),
                v128_and(u16x8_shr(q1, 4), m4),
            );
            let hi = fifth(2 * c + 1, hi);
            let a = |off: usize| p.order(load_i8(at(&by.qs, off)));
            let (a_lo, a_hi) = (
                (a(64 * c), a(64 * c + 16)),
                (a(64 * c + 32), a(64 * c + 48)),
            );
            sumi = i32x4_add(sumi, p.scaled_dot32(lo, a_lo, sm[2 * c] as i32));
            sumi = i32x4_add(sumi, p.scaled_dot32(hi, a_hi, sm[2 * c + 1] as i32));
        }
        acc = fma(acc, sumi, f16_to_f32(bx.d) * by.d);
        acc_m = fma(acc_m, k4_min_term(&sm, by), f16_to_f32(bx.dmin) * by.d);
    }
    hsum_f32(acc) - hsum_f32(acc_m)
}

/// x: [nb] Q6_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
pub(super) fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q6_k·q8_k: block counts differ");
    rows_kquant::q6_k([x], y, fastest())[0]
}

/// x: [nb] Q3_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
pub(super) fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    q3_k(x, y, fastest())
}

/// The Q3_K dot with the products `p`.
// x: [nb] Q3_K blocks, y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn q3_k(x: &[BlockQ3K], y: &[BlockQ8K], p: impl Products) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q3_k·q8_k: block counts differ");
    let m3 = u8x16_splat(3);
    let four = u8x16_splat(4);
    let mut acc = f32x4_splat(0.0);
    for (bx, by) in x.iter().zip(y) {
        // scales biased by 32; q = (low | 4·h) - 4, so sum q * q8 * sc =
        // sum (low | 4·h) * q8 * sc - 4 * sum_j sc[j] * bsums[j]
        let raw = unpack_q3_k_scales(&bx.scales);
        let sc = i8x16_sub(load_u8(&raw), u8x16_splat(32));
        let mut sumi = i32x4_sub(i32x4_splat(0), i32x4_shl(scaled_bsums(sc, by), 2));
        for n in 0..2 {
            for h in 0..2 {
                // element 128n + 32k + 16h + l: bits 2k..2k+2 of qs[32n + 16h + l],
                // high bit (worth 4) at bit 4n + k of hmask[16h + l]
                let q2 = p.order(load_u8(at(&bx.qs, 32 * n + 16 * h)));
                let hm = p.order(load_u8(at(&bx.hmask, 16 * h)));
                for k in 0..4 {
                    let low = v128_and(u16x8_shr(q2, 2 * k as u32), m3);
                    let bit = u8x16_splat(1 << (4 * n + k));
                    let high = v128_and(i8x16_eq(v128_and(hm, bit), bit), four);
                    let a = p.order(load_i8(at(&by.qs, 128 * n + 32 * k + 16 * h)));
                    let s = raw[8 * n + 2 * k + h] as i32 - 32;
                    sumi = i32x4_add(sumi, p.scaled_dot16(v128_or(low, high), a, s));
                }
            }
        }
        acc = fma(acc, sumi, f16_to_f32(bx.d) * by.d);
    }
    hsum_f32(acc)
}

/// x: [nb] Q2_K blocks (one weight row), y: [nb] Q8_K blocks (the activation) -> dot product
pub(super) fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    q2_k(x, y, fastest())
}

/// The Q2_K dot with the products `p`.
// x: [nb] Q2_K blocks, y: [nb] Q8_K blocks -> dot product
#[inline(always)]
pub(super) fn q2_k(x: &[BlockQ2K], y: &[BlockQ8K], p: impl Products) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q2_k·q8_k: block counts differ");
    let m3 = u8x16_splat(3);
    let mut acc = f32x4_splat(0.0);
    let mut acc_m = f32x4_splat(0.0);
    for (bx, by) in x.iter().zip(y) {
        // scales[j] = scale | min << 4 for sub-block j of 16
        let mins = u8x16_shr(load_u8(&bx.scales), 4);
        let summs = scaled_bsums(mins, by);
        let mut sumi = i32x4_splat(0);
        for n in 0..2 {
            for h in 0..2 {
                // element 128n + 32k + 16h + l: bits 2k..2k+2 of qs[32n + 16h + l]
                let q2 = p.order(load_u8(at(&bx.qs, 32 * n + 16 * h)));
                for k in 0..4 {
                    let q = v128_and(u16x8_shr(q2, 2 * k as u32), m3);
                    let a = p.order(load_i8(at(&by.qs, 128 * n + 32 * k + 16 * h)));
                    let s = (bx.scales[8 * n + 2 * k + h] & 0x0f) as i32;
                    sumi = i32x4_add(sumi, p.scaled_dot16(q, a, s));
                }
            }
        }
        acc = fma(acc, sumi, f16_to_f32(bx.d) * by.d);
        acc_m = fma(acc_m, summs, f16_to_f32(bx.dmin) * by.d);
    }
    hsum_f32(acc) - hsum_f32(acc_m)
}
