//! Q4_0: blocks of 32 weights `w = d * (q - 8)`, q in 0..16, two per byte
//! (low nibble of byte j is element j, high nibble is element j + 16).
//! Activation (vec_dot) type: Q8_0.

use crate::blocks::{BlockQ4_0, BlockQ8_0, QK};
use half::f16;

// x: [n] blocks -> y: [n * 32] f32
pub fn dequantize(x: &[BlockQ4_0], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK, "q4_0 dequantize: length mismatch");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = b.d.to_f32();
        for (j, &q) in b.qs.iter().enumerate() {
            out[j] = ((q & 0x0f) as i32 - 8) as f32 * d;
            out[j + QK / 2] = ((q >> 4) as i32 - 8) as f32 * d;
        }
    }
}

/// The element of largest magnitude, with its sign (the first one on ties).
pub(crate) fn signed_absmax(x: &[f32]) -> f32 {
    let mut amax = 0.0f32;
    let mut max = 0.0f32;
    for &v in x {
        if amax < v.abs() {
            amax = v.abs();
            max = v;
        }
    }
    max
}

// x: [n * 32] f32 -> y: [n] blocks
// As ggml's quantize_row_q4_0_ref: d = (signed absmax) / -8, so the largest
// magnitude maps to q = 0 exactly; q = min(15, trunc(x / d + 8.5)).
pub fn quantize(x: &[f32], y: &mut [BlockQ4_0]) {
    assert_eq!(x.len(), y.len() * QK, "q4_0 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let d = signed_absmax(src) / -8.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        for j in 0..QK / 2 {
            let q0 = quantize_one(src[j] * id);
            let q1 = quantize_one(src[j + QK / 2] * id);
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

/// `min(15, trunc(v + 8.5))` for `v` already divided by d (v in -8..=8).
fn quantize_one(v: f32) -> u8 {
    // `as u8` truncates toward zero and saturates, like the C int8 cast for
    // the in-range values here (v + 8.5 >= 0.5).
    ((v + 8.5) as u8).min(15)
}

// x: [n] Q4_0 blocks (weights), y: [n] Q8_0 blocks (activations) -> dot product
// Per block: integer dot of (q - 8) and the Q8_0 quants, then `sumi * dx * dy`.
pub fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            let v0 = (bx.qs[j] & 0x0f) as i32 - 8;
            let v1 = (bx.qs[j] >> 4) as i32 - 8;
            sumi0 += v0 * by.qs[j] as i32;
            sumi1 += v1 * by.qs[j + QK / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += sumi as f32 * bx.d.to_f32() * by.d.to_f32();
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_magnitude_maps_to_zero_quant() {
        let mut x = [0.0f32; QK];
        x[3] = -4.0; // largest magnitude, negative: d = -4 / -8 = 0.5
        x[20] = 1.0;
        let mut b = [BlockQ4_0 {
            d: f16::ZERO,
            qs: [0; 16],
        }];
        quantize(&x, &mut b);
        assert_eq!(b[0].d.to_f32(), 0.5);
        assert_eq!(b[0].qs[3] & 0x0f, 0); // -4 = 0.5 * (0 - 8)
        assert_eq!(b[0].qs[4] >> 4, 10); // x[20] = 1 = 0.5 * (10 - 8)
        let mut y = [0.0f32; QK];
        dequantize(&b, &mut y);
        assert_eq!(y, x);
    }

    #[test]
    fn zero_block_is_zero() {
        let x = [0.0f32; QK];
        let mut b = [BlockQ4_0 {
            d: f16::ONE,
            qs: [0xff; 16],
        }];
        quantize(&x, &mut b);
        assert_eq!(b[0].d.to_f32(), 0.0);
        assert!(b[0].qs.iter().all(|&q| q == 0x88));
    }
}
