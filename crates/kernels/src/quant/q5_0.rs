//! Q5_0: blocks of 32 weights `w = d * (q - 16)`, q in 0..32. Low 4 bits as
//! in Q4_0 (byte j: element j low nibble, element j + 16 high nibble); bit j
//! of the little-endian u32 `qh` is element j's fifth bit.
//! Activation (vec_dot) type: Q8_0.

use crate::blocks::{BlockQ5_0, BlockQ8_0, QK};
use crate::quant::q4_0::signed_absmax;
use half::f16;

/// The five-bit quants of elements `j` and `j + 16` (j in 0..16) of a block.
#[inline]
pub(crate) fn quant5_pair(qs: &[u8; QK / 2], qh: u32, j: usize) -> (u8, u8) {
    let h0 = ((qh >> j) & 1) as u8;
    let h1 = ((qh >> (j + QK / 2)) & 1) as u8;
    ((qs[j] & 0x0f) | (h0 << 4), (qs[j] >> 4) | (h1 << 4))
}

// x: [n] blocks -> y: [n * 32] f32
pub fn dequantize(x: &[BlockQ5_0], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK, "q5_0 dequantize: length mismatch");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK)) {
        let d = b.d.to_f32();
        let qh = u32::from_le_bytes(b.qh);
        for j in 0..QK / 2 {
            let (q0, q1) = quant5_pair(&b.qs, qh, j);
            out[j] = (q0 as i32 - 16) as f32 * d;
            out[j + QK / 2] = (q1 as i32 - 16) as f32 * d;
        }
    }
}

// x: [n * 32] f32 -> y: [n] blocks
// As ggml's quantize_row_q5_0_ref: d = (signed absmax) / -16,
// q = min(31, trunc(x / d + 16.5)).
pub fn quantize(x: &[f32], y: &mut [BlockQ5_0]) {
    assert_eq!(x.len(), y.len() * QK, "q5_0 quantize: length mismatch");
    for (src, b) in x.chunks_exact(QK).zip(y.iter_mut()) {
        let d = signed_absmax(src) / -16.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        b.d = f16::from_f32(d);
        let mut qh = 0u32;
        for j in 0..QK / 2 {
            let q0 = ((src[j] * id + 16.5) as u8).min(31);
            let q1 = ((src[j + QK / 2] * id + 16.5) as u8).min(31);
            b.qs[j] = (q0 & 0x0f) | ((q1 & 0x0f) << 4);
            qh |= ((q0 >> 4) as u32) << j;
            qh |= ((q1 >> 4) as u32) << (j + QK / 2);
        }
        b.qh = qh.to_le_bytes();
    }
}

/// Re-encodes Q5_0 blocks as Q8_0 blocks of the same values (`qs = q - 16`,
/// the same `d`): lossless, and every Q8_0 dot product of the copy computes
/// the Q5_0 kernel's integer block sums and scale products (load-time
/// repacking for engines whose Q8_0 kernels are faster).
// x: [n] Q5_0 blocks -> y: [n] Q8_0 blocks
pub fn to_q8_0(x: &[BlockQ5_0], y: &mut [BlockQ8_0]) {
    assert_eq!(x.len(), y.len(), "q5_0 to_q8_0: length mismatch");
    for (b, out) in x.iter().zip(y.iter_mut()) {
        let qh = u32::from_le_bytes(b.qh);
        out.d = b.d;
        for j in 0..QK / 2 {
            let (q0, q1) = quant5_pair(&b.qs, qh, j);
            out.qs[j] = q0 as i8 - 16;
            out.qs[j + QK / 2] = q1 as i8 - 16;
        }
    }
}

// x: [n] Q5_0 blocks (weights), y: [n] Q8_0 blocks (activations) -> dot product
// Per block: `(dx * dy) * sum((q - 16) * qy)`.
pub fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let mut sumf = 0.0f32;
    for (bx, by) in x.iter().zip(y) {
        let qh = u32::from_le_bytes(bx.qh);
        let mut sumi0 = 0i32;
        let mut sumi1 = 0i32;
        for j in 0..QK / 2 {
            let (q0, q1) = quant5_pair(&bx.qs, qh, j);
            sumi0 += (q0 as i32 - 16) * by.qs[j] as i32;
            sumi1 += (q1 as i32 - 16) * by.qs[j + QK / 2] as i32;
        }
        let sumi = sumi0 + sumi1;
        sumf += (bx.d.to_f32() * by.d.to_f32()) * sumi as f32;
    }
    sumf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_q8_0_keeps_every_value_and_dot() {
        use bytemuck::Zeroable;
        let mut seed = 7u32;
        let mut next = || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            seed
        };
        let blocks: Vec<BlockQ5_0> = (0..9)
            .map(|i| BlockQ5_0 {
                d: f16::from_f32([0.5, -0.03125, 1e-3, 65504.0][i % 4]),
                // every fifth bit set, every bit clear, then random
                qh: match i {
                    0 => [0xff; 4],
                    1 => [0; 4],
                    _ => next().to_le_bytes(),
                },
                qs: std::array::from_fn(|_| next() as u8),
            })
            .collect();
        let mut q8 = vec![BlockQ8_0::zeroed(); blocks.len()];
        to_q8_0(&blocks, &mut q8);
        let (mut a, mut b) = (vec![0f32; 9 * QK], vec![0f32; 9 * QK]);
        dequantize(&blocks, &mut a);
        crate::quant::q8_0::dequantize(&q8, &mut b);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        let acts: Vec<BlockQ8_0> = (0..9)
            .map(|_| BlockQ8_0 {
                d: f16::from_f32(0.01),
                qs: std::array::from_fn(|_| (next() % 255) as i8),
            })
            .collect();
        assert_eq!(
            vec_dot_q5_0_q8_0(&blocks, &acts).to_bits(),
            crate::quant::q8_0::vec_dot_q8_0_q8_0(&q8, &acts).to_bits()
        );
    }

    #[test]
    fn high_bits_land_in_qh() {
        // d = -16 / -16 = 1: x = q - 16, so x = 15 needs q = 31 (fifth bit set).
        let mut x = [0.0f32; QK];
        x[0] = -16.0;
        x[5] = 15.0;
        x[17] = 15.0;
        x[31] = -1.0;
        let mut b = [BlockQ5_0 {
            d: f16::ZERO,
            qh: [0; 4],
            qs: [0; 16],
        }];
        quantize(&x, &mut b);
        assert_eq!(b[0].d.to_f32(), 1.0);
        let qh = u32::from_le_bytes(b[0].qh);
        assert_eq!(qh & 1, 0); // q = 0
        assert_eq!((qh >> 5) & 1, 1);
        assert_eq!((qh >> 17) & 1, 1);
        assert_eq!((qh >> 31) & 1, 0); // q = 15
        let mut y = [0.0f32; QK];
        dequantize(&b, &mut y);
        assert_eq!(y, x);
    }
}
