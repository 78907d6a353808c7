//! Q2_K: super-blocks of 256 = 16 sub-blocks of 16, `w = d*sc*q - dmin*m`,
//! q in 0..4; `scales[j] = sc | m << 4` (4 bits each).
//!
//! Quant layout: element `128n + 32k + l` (n in 0..2, k in 0..4, l in 0..32) is
//! bits `2k..2k+2` of `qs[32n + l]`; sub-block of element `e` is `e / 16`.

use super::batched::{sub_dot, KSums};
use super::ksearch::{group, group_mut, make_qkx2_quants, max_c, nearest_int};
use super::q8_k::{lane_dot, sub};
use crate::blocks::{BlockQ2K, BlockQ8K, QK_K};
use half::f16;

/// The 2-bit quants (0..4) of all 256 elements, in element order.
#[inline]
fn unpack(b: &BlockQ2K, a: &mut [i8; QK_K]) {
    for n in 0..2 {
        for k in 0..4 {
            for l in 0..32 {
                a[128 * n + 32 * k + l] = ((b.qs[32 * n + l] >> (2 * k)) & 3) as i8;
            }
        }
    }
}

// x: [n] blocks -> y: [n * 256] f32
pub fn dequantize(x: &[BlockQ2K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K, "q2_k dequantize: output length");
    let mut a = [0i8; QK_K];
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        unpack(b, &mut a);
        let d = b.d.to_f32();
        let dmin = b.dmin.to_f32();
        for (j, (sub, qa)) in out.chunks_exact_mut(16).zip(a.chunks_exact(16)).enumerate() {
            let sc = b.scales[j];
            let dl = d * (sc & 0xF) as f32;
            let ml = dmin * (sc >> 4) as f32;
            for (o, &q) in sub.iter_mut().zip(qa) {
                *o = dl * q as f32 - ml;
            }
        }
    }
}

// x: [n * 256] f32 -> y: [n] blocks (ggml's quantize_row_q2_K_ref)
pub fn quantize(x: &[f32], y: &mut [BlockQ2K]) {
    assert_eq!(x.len(), y.len() * QK_K, "q2_k quantize: input length");
    for (xb, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        quantize_block(xb, b);
    }
}

fn quantize_block(x: &[f32], b: &mut BlockQ2K) {
    const Q4SCALE: f32 = 15.0;
    let mut l_all = [0u8; QK_K];
    let mut weights = [0.0f32; 16];
    let mut scales = [0.0f32; 16];
    let mut mins = [0.0f32; 16];
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..16 {
        let r = 16 * j..16 * j + 16;
        for (w, &v) in weights.iter_mut().zip(&x[r.clone()]) {
            *w = v.abs();
        }
        (scales[j], mins[j]) = make_qkx2_quants(
            group(&x[r.clone()]),
            &weights,
            3,
            group_mut(&mut l_all[r]),
            -0.5,
            0.1,
            15,
            true,
        );
        max_scale = max_c(max_scale, scales[j]);
        max_min = max_c(max_min, mins[j]);
    }
    // ggml stores nearest_int into uint8_t scales (wrapping).
    if max_scale > 0.0 {
        let iscale = Q4SCALE / max_scale;
        for (s, &v) in b.scales.iter_mut().zip(&scales) {
            *s = nearest_int(iscale * v) as u8;
        }
        b.d = f16::from_f32(max_scale / Q4SCALE);
    } else {
        b.scales = [0; 16];
        b.d = f16::from_f32(0.0);
    }
    if max_min > 0.0 {
        let iscale = Q4SCALE / max_min;
        for (s, &v) in b.scales.iter_mut().zip(&mins) {
            *s |= (nearest_int(iscale * v) << 4) as u8;
        }
        b.dmin = f16::from_f32(max_min / Q4SCALE);
    } else {
        b.dmin = f16::from_f32(0.0);
    }
    let d_all = b.d.to_f32();
    let dmin_all = b.dmin.to_f32();
    for j in 0..16 {
        let d = d_all * (b.scales[j] & 0xF) as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_all * (b.scales[j] >> 4) as f32;
        for i in 16 * j..16 * j + 16 {
            l_all[i] = nearest_int((x[i] + dm) / d).clamp(0, 3) as u8;
        }
    }
    for n in 0..2 {
        let l = &l_all[128 * n..128 * n + 128];
        for i in 0..32 {
            b.qs[32 * n + i] = l[i] | (l[i + 32] << 2) | (l[i + 64] << 4) | (l[i + 96] << 6);
        }
    }
}

// w: [n] Q2_K blocks, a: [n] Q8_K blocks -> dot(w, a), as ggml's generic
// ggml_vec_dot_q2_K_q8_K: integer sum per sub-block of 16, one float
// accumulator, min term from the Q8_K bsums.
pub fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q2_k·q8_k: block counts differ");
    let mut sumf = 0.0f32;
    let mut a = [0i8; QK_K];
    for (bx, by) in x.iter().zip(y) {
        let mut summs = 0i32;
        for (&bs, &sc) in by.bsums.iter().zip(&bx.scales) {
            summs += bs as i32 * (sc >> 4) as i32;
        }
        let dall = by.d * bx.d.to_f32();
        let dmin = by.d * bx.dmin.to_f32();
        unpack(bx, &mut a);
        let mut isum = 0i32;
        for (j, &sc) in bx.scales.iter().enumerate() {
            let lanes = lane_dot::<16>(sub(&a, j), sub(&by.qs, j));
            isum += (sc & 0xF) as i32 * lanes.iter().sum::<i32>();
        }
        sumf += dall * isum as f32 - dmin * summs as f32;
    }
    sumf
}

/// Exact per-block integers of llama.cpp's batched order
/// ([`super::batched`]): `s1 = Σ_j (sc[j] & 15) · Σ q·a`,
/// `s2 = Σ_j (sc[j] >> 4) · Σ a` over the 16 sub-blocks of 16.
pub(crate) fn batched_sums(bx: &BlockQ2K, by: &BlockQ8K) -> KSums {
    let mut q = [0i8; QK_K];
    unpack(bx, &mut q);
    let mut k = KSums {
        s1: 0,
        s2: 0,
        d: bx.d.to_f32(),
        dmin: bx.dmin.to_f32(),
    };
    for (j, &sc) in bx.scales.iter().enumerate() {
        k.s1 += (sc & 0xF) as i32 * sub_dot::<16>(&q, &by.qs, j);
        k.s2 += (sc >> 4) as i32 * by.bsums[j] as i32;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytemuck::Zeroable;

    #[test]
    fn dequantize_known_block() {
        let mut b = BlockQ2K::zeroed();
        b.d = f16::from_f32(0.5);
        b.dmin = f16::from_f32(0.25);
        b.scales[11] = 3 | (7 << 4);
        // element 128 + 32*1 + 20 = 180 (sub-block 11): bits 2..4 of qs[32 + 20].
        b.qs[52] = 0b10 << 2;
        let mut y = vec![0.0; QK_K];
        dequantize(&[b], &mut y);
        assert_eq!(y[180], 0.5 * 3.0 * 2.0 - 0.25 * 7.0);
        assert_eq!(y[176], -0.25 * 7.0);
        assert_eq!(y[0], 0.0);
    }

    #[test]
    fn quantize_two_level_signal() {
        // Each sub-block holds only two values: representable exactly up to f16 scale rounding.
        let x: Vec<f32> = (0..QK_K)
            .map(|i| if i % 3 == 0 { 0.9 } else { -0.3 })
            .collect();
        let mut b = [BlockQ2K::zeroed()];
        quantize(&x, &mut b);
        let mut y = vec![0.0; QK_K];
        dequantize(&b, &mut y);
        let max_err = x
            .iter()
            .zip(&y)
            .map(|(a, r)| (a - r).abs())
            .fold(0.0, f32::max);
        assert!(max_err < 0.05, "max err {max_err}");
    }
}
