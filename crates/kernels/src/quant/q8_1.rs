//! Q8_1: blocks of 32 values `v = d * q`, q in -127..=127, plus
//! `s = d * sum(q)` (stored as f16). The activation type of Q4_1 and Q5_1:
//! `s` folds the weights' offset `m` into one multiply per block.
//! ggml has no dot product with Q8_1 weights, so none is provided here.

use crate::blocks::{BlockQ8_1, QK};
use crate::quant::q8_0::absmax;
use half::f16;

// x: [n] blocks -> y: [n * 32] f32 (`s` is redundant and ignored)
pub fn dequantize(x: &[BlockQ8_1], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK, "q8_1 dequantize: length mismatch");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = b.d.to_f32();
        for (o, &q) in out.iter_mut().zip(&b.qs) {
            *o = q as f32 * d;
        }
    }
}

// x: [n * 32] f32 -> y: [n] blocks
// As ggml's quantize_row_q8_1_ref: d = absmax / 127, q = round(x / d),
// s = sum(q) * d (with the f32 d, before rounding d to f16).
pub fn quantize(x: &[f32], y: &mut [BlockQ8_1]) {
    assert_eq!(x.len(), y.len() * QK, "q8_1 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let d = absmax(src) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        let mut sum = 0i32;
        for (q, &v) in b.qs.iter_mut().zip(src) {
            *q = (v * id).round() as i8;
            sum += *q as i32;
        }
        b.s = f16::from_f32(sum as f32 * d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sum_field_matches_quants() {
        let x: Vec<f32> = (0..QK)
            .map(|i| (i as f32 * 0.37).sin() * 3.0 + 0.5)
            .collect();
        let mut b = [BlockQ8_1 {
            d: f16::ZERO,
            s: f16::ZERO,
            qs: [0; QK],
        }];
        quantize(&x, &mut b);
        let sum: i32 = b[0].qs.iter().map(|&q| q as i32).sum();
        let d = absmax(&x) / 127.0;
        assert_eq!(b[0].s, f16::from_f32(sum as f32 * d));
        assert_eq!(b[0].qs.iter().map(|q| q.unsigned_abs()).max(), Some(127));
        let mut y = vec![0.0f32; QK];
        dequantize(&b, &mut y);
        for (a, b) in x.iter().zip(&y) {
            assert!((a - b).abs() <= d * 0.5 + 1e-3, "{a} vs {b}");
        }
    }
}
