//! Q5_1: blocks of 32 weights `w = d * q + m`, q in 0..32, bit layout as Q5_0.
//! Activation (vec_dot) type: Q8_1.

use crate::blocks::{BlockQ5_1, BlockQ8_1, QK};
use crate::quant::q4_1::min_max;
use crate::quant::q5_0::quant5_pair;
use half::f16;

// x: [n] blocks -> y: [n * 32] f32
pub fn dequantize(x: &[BlockQ5_1], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK, "q5_1 dequantize: length mismatch");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = b.d.to_f32();
        let m = b.m.to_f32();
        let qh = u32::from_le_bytes(b.qh);
        for j in 0..QK / 2 {
            let (q0, q1) = quant5_pair(&b.qs, qh, j);
            out[j] = q0 as f32 * d + m;
            out[j + QK / 2] = q1 as f32 * d + m;
        }
    }
}

// x: [n * 32] f32 -> y: [n] blocks
// As ggml's quantize_row_q5_1_ref: m = min, d = (max - min) / 31,
// q = trunc((x - m) / d + 0.5) (clamped to 31 against rounding overshoot).
pub fn quantize(x: &[f32], y: &mut [BlockQ5_1]) {
    assert_eq!(x.len(), y.len() * QK, "q5_1 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let (min, max) = min_max(src);
        let d = (max - min) / 31.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        b.m = f16::from_f32(min);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = (((src[j] - min) * id + 0.5) as u8).min(31);
            let q1 = (((src[j + QK / 2] - min) * id + 0.5) as u8).min(31);
            b.qs[j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
            qh |= ((q0 >> 4) as u32) << j;
            qh |= ((q1 >> 4) as u32) << (j + QK / 2);
        }
        b.qh = qh.to_le_bytes();
    }
}

// x: [n] Q5_1 blocks (weights), y: [n] Q8_1 blocks (activations) -> dot product
// Per block: `(dx * dy) * sum(q * qy) + mx * sy`.
pub fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(bx.qh);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            let (q0, q1) = quant5_pair(&bx.qs, qh, j);
            sumi0 += q0 as i32 * by.qs[j] as i32;
            sumi1 += q1 as i32 * by.qs[j + QK / 2] as i32;
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
    fn integer_grid_is_exact() {
        // min = 2, max = 33: d = 1, all 32 levels used once.
        let x: Vec<f32> = (0..QK).map(|i| i as f32 + 2.0).collect();
        let mut b = [BlockQ5_1 {
            d: f16::ZERO,
            m: f16::ZERO,
            qh: [0; 4],
            qs: [0; 16],
        }];
        quantize(&x, &mut b);
        assert_eq!(u32::from_le_bytes(b[0].qh), 0xffff_0000);
        let mut y = vec![0.0f32; QK];
        dequantize(&b, &mut y);
        assert_eq!(y, x);
    }
}
