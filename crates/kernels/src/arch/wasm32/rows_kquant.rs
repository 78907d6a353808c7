//! simd128 Q4_K and Q6_K kernels over `R` weight rows at once (the row
//! dots of `kquant` are the one-row case): each activation super-block is
//! loaded once for all the rows, its bsums terms derived once, and the
//! rows' f16 scales widened together. Per row, the integer and f32 steps
//! are those of a single row, so every row's result is the same whatever
//! `R` (see `kquant` for the math). Each activation vector is put in the
//! products' order (`kproducts`) once for all the rows.

use core::arch::wasm32::*;

use super::kproducts::{fastest, Products};
use super::kquant::{fma, k4_scales_mins, scaled_bsums};
use super::simd::{at, f16x4_to_f32, hsum_f32, load_i16, load_i8, load_u8};
use crate::blocks::{BlockQ4K, BlockQ6K, BlockQ8K};

/// Rows per group of the multi-row kernels.
const GROUP: usize = 2;

/// Runs `two` on the rows `GROUP` at a time, a group taking one row from
/// each half of the matrix (rows q and q + m for m = rows / 2: two
/// sequential streams, see `rows::q8_groups`); a last odd row runs alone.
// x: [y.len() * nb] blocks -> y: [y.len()]
#[inline(always)]
fn groups<B>(
    x: &[B],
    nb: usize,
    y: &mut [f32],
    two: impl Fn([&[B]; GROUP]) -> [f32; GROUP],
    one: impl Fn([&[B]; 1]) -> [f32; 1],
) {
    let m = y.len() / GROUP;
    let row = |r: usize| &x[r * nb..(r + 1) * nb];
    for q in 0..m {
        [y[q], y[q + m]] = two([row(q), row(q + m)]);
    }
    if y.len() % GROUP == 1 {
        let last = y.len() - 1;
        y[last] = one([row(last)])[0];
    }
}

/// The f32 scales of `R` rows' blocks `i`: `pick(block)` gives two f16
/// bit patterns, returned as `[first, second]` of each row.
#[inline(always)]
fn scales2<B, const R: usize>(
    x: &[&[B]; R],
    i: usize,
    pick: impl Fn(&B) -> [u16; 2],
) -> [[f32; 2]; R] {
    let mut out = [[0f32; 2]; R];
    for pair in (0..R).step_by(2) {
        let a = pick(&x[pair][i]);
        let b = pick(&x[(pair + 1) % R][i]);
        let v = f16x4_to_f32(u32x4(a[0] as u32, a[1] as u32, b[0] as u32, b[1] as u32));
        out[pair] = [f32x4_extract_lane::<0>(v), f32x4_extract_lane::<1>(v)];
        if pair + 1 < R {
            out[pair + 1] = [f32x4_extract_lane::<2>(v), f32x4_extract_lane::<3>(v)];
        }
    }
    out
}

/// The Q4_K dots of `R` rows with one activation row, products `p`.
// x: R rows of [nb] Q4_K blocks, y: [nb] Q8_K blocks -> [R]
#[inline(always)]
pub(super) fn q4_k<const R: usize>(
    x: [&[BlockQ4K]; R],
    y: &[BlockQ8K],
    p: impl Products,
) -> [f32; R] {
    let x = x.map(|r| &r[..y.len()]);
    let m4 = u8x16_splat(0x0f);
    let mut acc = [f32x4_splat(0.0); R];
    let mut acc_m = [f32x4_splat(0.0); R];
    for (i, by) in y.iter().enumerate() {
        // (loops, not `array::from_fn`, which LLVM may leave as calls)
        let mut sm = [[0u8; 16]; R];
        for r in 0..R {
            sm[r] = k4_scales_mins(&x[r][i].scales);
        }
        // Pair sums of the 16 bsums (each |sum| <= 16 * 128): exact in i16.
        let p0 = i32x4_extadd_pairwise_i16x8(load_i16(at(&by.bsums, 0)));
        let p1 = i32x4_extadd_pairwise_i16x8(load_i16(at(&by.bsums, 8)));
        let bsum_pairs = i16x8_narrow_i32x4(p0, p1);
        let mut sumi = [i32x4_splat(0); R];
        for c in 0..4 {
            let a = |off: usize| p.order(load_i8(at(&by.qs, 64 * c + off)));
            let (a_lo, a_hi) = ((a(0), a(16)), (a(32), a(48)));
            for r in 0..R {
                // qs[32c..32c+32]: low nibbles = elements 64c.., high = 64c+32..
                let q0 = p.order(load_u8(at(&x[r][i].qs, 32 * c)));
                let q1 = p.order(load_u8(at(&x[r][i].qs, 32 * c + 16)));
                let lo = (v128_and(q0, m4), v128_and(q1, m4));
                let hi = (
                    v128_and(u16x8_shr(q0, 4), m4),
                    v128_and(u16x8_shr(q1, 4), m4),
                );
                let s = &sm[r];
                sumi[r] = i32x4_add(sumi[r], p.scaled_dot32(lo, a_lo, s[2 * c] as i32));
                sumi[r] = i32x4_add(sumi[r], p.scaled_dot32(hi, a_hi, s[2 * c + 1] as i32));
            }
        }
        let d = scales2(&x, i, |b| [b.d.to_bits(), b.dmin.to_bits()]);
        for r in 0..R {
            let mins = u16x8_extend_high_u8x16(load_u8(&sm[r]));
            let min_term = i32x4_dot_i16x8(mins, bsum_pairs);
            acc[r] = fma(acc[r], sumi[r], d[r][0] * by.d);
            acc_m[r] = fma(acc_m[r], min_term, d[r][1] * by.d);
        }
    }
    std::array::from_fn(|r| hsum_f32(acc[r]) - hsum_f32(acc_m[r]))
}

/// The Q6_K dots of `R` rows with one activation row, products `p`.
// x: R rows of [nb] Q6_K blocks, y: [nb] Q8_K blocks -> [R]
#[inline(always)]
pub(super) fn q6_k<const R: usize>(
    x: [&[BlockQ6K]; R],
    y: &[BlockQ8K],
    p: impl Products,
) -> [f32; R] {
    let x = x.map(|r| &r[..y.len()]);
    let m4 = u8x16_splat(0x0f);
    let bits = |v: v128, mask: u8| v128_and(v, u8x16_splat(mask));
    let mut acc = [f32x4_splat(0.0); R];
    for (i, by) in y.iter().enumerate() {
        // sum (q - 32) * q8 * sc = sum q * q8 * sc - 32 * sum_j sc[j] * bsums[j]
        let mut sumi = [i32x4_splat(0); R];
        for r in 0..R {
            let offset = scaled_bsums(load_i8(&x[r][i].scales), by);
            sumi[r] = i32x4_sub(sumi[r], i32x4_shl(offset, 5));
        }
        for n in 0..2 {
            for h in 0..2 {
                // element 128n + 32k + 16h + l: low 4 bits from the low (k < 2)
                // or high nibble of ql[64n + 32(k & 1) + 16h + l], high 2 bits
                // at bits 2k..2k+2 of qh[32n + 16h + l]; q in 0..64
                let mut a = [i32x4_splat(0); 4];
                for (k, ak) in a.iter_mut().enumerate() {
                    *ak = p.order(load_i8(at(&by.qs, 128 * n + 32 * k + 16 * h)));
                }
                for r in 0..R {
                    let bx = &x[r][i];
                    let la = p.order(load_u8(at(&bx.ql, 64 * n + 16 * h)));
                    let lb = p.order(load_u8(at(&bx.ql, 64 * n + 32 + 16 * h)));
                    let qh = p.order(load_u8(at(&bx.qh, 32 * n + 16 * h)));
                    let q = [
                        v128_or(v128_and(la, m4), i16x8_shl(bits(qh, 0x03), 4)),
                        v128_or(v128_and(lb, m4), i16x8_shl(bits(qh, 0x0c), 2)),
                        v128_or(v128_and(u16x8_shr(la, 4), m4), bits(qh, 0x30)),
                        v128_or(v128_and(u16x8_shr(lb, 4), m4), u16x8_shr(bits(qh, 0xc0), 2)),
                    ];
                    for k in 0..4 {
                        let sc = bx.scales[8 * n + 2 * k + h] as i32;
                        sumi[r] = i32x4_add(sumi[r], p.scaled_dot16(q[k], a[k], sc));
                    }
                }
            }
        }
        let d = scales2(&x, i, |b| [b.d.to_bits(), 0]);
        for r in 0..R {
            acc[r] = fma(acc[r], sumi[r], d[r][0] * by.d);
        }
    }
    std::array::from_fn(|r| hsum_f32(acc[r]))
}

/// Q4_K rows `GROUP` at a time.
// x: [y.len() * nb] Q4_K blocks, act: [nb] Q8_K blocks -> y: [y.len()]
pub(super) fn rows_q4_k(x: &[BlockQ4K], nb: usize, act: &[BlockQ8K], y: &mut [f32]) {
    let p = fastest();
    groups(x, nb, y, |r| q4_k(r, act, p), |r| q4_k(r, act, p));
}

/// Q6_K rows `GROUP` at a time.
// x: [y.len() * nb] Q6_K blocks, act: [nb] Q8_K blocks -> y: [y.len()]
pub(super) fn rows_q6_k(x: &[BlockQ6K], nb: usize, act: &[BlockQ8K], y: &mut [f32]) {
    let p = fastest();
    groups(x, nb, y, |r| q6_k(r, act, p), |r| q6_k(r, act, p));
}
