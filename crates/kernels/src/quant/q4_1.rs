//! Q4_1: blocks of 32 weights `w = d * q + m`, q in 0..16, two per byte
//! (low nibble of byte j is element j, high nibble is element j + 16).
//! Activation (vec_dot) type: Q8_1.

use crate::blocks::{BlockQ4_1, BlockQ8_1, QK};
use half::f16;

// x: [n] blocks -> y: [n * 32] f32
pub fn dequantize(x: &[BlockQ4_1], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK, "q4_1 dequantize: length mismatch");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = b.d.to_f32();
        let m = b.m.to_f32();
        for (j, &q) in b.qs.iter().enumerate() {
            out[j] = (q & 0x0f) as f32 * d + m;
            out[j + QK / 2] = (q >> 4) as f32 * d + m;
        }
    }
}

/// Smallest and largest element of a block.
pub(crate) fn min_max(x: &[f32]) -> (f32, f32) {
    let mut min = f32::MAX;
    let mut max = -f32::MAX;
    for &v in x {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    (min, max)
}

// x: [n * 32] f32 -> y: [n] blocks
// As ggml's quantize_row_q4_1_ref: m = min, d = (max - min) / 15,
// q = min(15, trunc((x - m) / d + 0.5)).
pub fn quantize(x: &[f32], y: &mut [BlockQ4_1]) {
    assert_eq!(x.len(), y.len() * QK, "q4_1 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (min, max) = min_max(src);
        let d = (max - min) / 15.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        b.m = f16::from_f32(min);
        for j in 0..QK / 2 {
            let q0 = (((src[j] - min) * id + 0.5) as u8).min(15);
            let q1 = (((src[j + QK / 2] - min) * id + 0.5) as u8).min(15);
            b.qs[j] = q0 | (q1 << 4);
        }
    }
}

// x: [n] Q4_1 blocks (weights), y: [n] Q8_1 blocks (activations) -> dot product
// Per block: `(dx * dy) * sum(q * qy) + mx * sy`, where sy = dy * sum(qy).
pub fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            sumi0 += (bx.qs[j] & 0x0f) as i32 * by.qs[j] as i32;
            sumi1 += (bx.qs[j] >> 4) as i32 * by.qs[j + QK / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (bx.d.to_f32() * by.d.to_f32()) * sumi as f32 + bx.m.to_f32() * by.s.to_f32();
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_exact() {
        // min = -1, max = 14: d = 1, every integer in between is exact.
        let x: Vec<f32> = (0..QK).map(|i| (i % 16) as f32 - 1.0).collect();
        let mut b = [BlockQ4_1 {
            d: f16::ZERO,
            m: f16::ZERO,
            qs: [0; 16],
        }];
        quantize(&x, &mut b);
        assert_eq!((b[0].d.to_f32(), b[0].m.to_f32()), (1.0, -1.0));
        let mut y = vec![0.0f32; QK];
        dequantize(&b, &mut y);
        assert_eq!(y, x);
    }
}
