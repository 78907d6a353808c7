//! Q8_0: blocks of 32 weights `w = d * q`, q in -127..=127.
//! Also the activation type of Q4_0, Q5_0 and Q8_0 weights.

use crate::blocks::{BlockQ8_0, QK};
use half::f16;

// x: [n] blocks -> y: [n * 32] f32
pub fn dequantize(x: &[BlockQ8_0], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK, "q8_0 dequantize: length mismatch");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = b.d.to_f32();
        for (o, &q) in out.iter_mut().zip(&b.qs) {
            *o = q as f32 * d;
        }
    }
}

/// Largest magnitude of a block.
pub(crate) fn absmax(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

// x: [n * 32] f32 -> y: [n] blocks
// As ggml's quantize_row_q8_0_ref: d = absmax / 127, q = round(x / d)
// (round half away from zero, like C's roundf). `id` uses the f32 d, not the
// f16-rounded one stored in the block.
pub fn quantize(x: &[f32], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len() * QK, "q8_0 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let d = absmax(src) / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        for (q, &v) in b.qs.iter_mut().zip(src) {
            *q = (v * id).round() as i8;
        }
    }
}

// x: [n] Q8_0 blocks (weights), y: [n] Q8_0 blocks (activations) -> dot product
// Per block: `sum(qx * qy) * (dx * dy)`.
pub fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let mut sumi = 0i32;
        for (&a, &b) in bx.qs.iter().zip(&by.qs) {
            sumi += a as i32 * b as i32;
        }
        sumf += sumi as f32 * (bx.d.to_f32() * by.d.to_f32());
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_half_away_from_zero() {
        // absmax 127 gives d = 1 exactly, so x = ±k.5 hits the tie.
        let mut x = [0.0f32; QK];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -2.5;
        x[3] = -127.0;
        let mut b = [BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK],
        }];
        quantize(&x, &mut b);
        assert_eq!(b[0].d.to_f32(), 1.0);
        assert_eq!(&b[0].qs[..4], &[127, 3, -3, -127]);
    }

    #[test]
    fn dot_of_identical_blocks() {
        let x: Vec<f32> = (0..QK).map(|i| i as f32 - 15.0).collect();
        let mut b = [BlockQ8_0 {
            d: f16::ZERO,
            qs: [0; QK],
        }];
        quantize(&x, &mut b);
        let mut deq = vec![0.0f32; QK];
        dequantize(&b, &mut deq);
        let want: f32 = deq.iter().map(|v| v * v).sum();
        let got = vec_dot_q8_0_q8_0(&b, &b);
        assert!((got - want).abs() <= want * 1e-6, "{got} vs {want}");
    }
}
