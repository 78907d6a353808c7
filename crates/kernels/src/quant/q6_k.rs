//! Q6_K: super-blocks of 256 = 16 sub-blocks of 16, `w = d * sc * (q - 32)`,
//! q in 0..64, sc a signed 8-bit scale per sub-block.
//!
//! Quant layout, per half `n` (128 elements; `ql` offset 64n, `qh` offset 32n),
//! element `128n + 32k + l` (k in 0..4, l in 0..32): low 4 bits in
//! `ql[64n + 32(k&1) + l]` (low nibble for k < 2, high nibble for k >= 2),
//! high 2 bits at bits `2k..2k+2` of `qh[32n + l]`.

use super::batched::{sub_dot, KSums};
use super::ksearch::{group, group_mut, make_qx_quants_rmse1, nearest_int, GROUP_MAX_EPS};
use super::q8_k::{lane_dot, sub};
use crate::blocks::{BlockQ6K, BlockQ8K, QK_K};
use bytemuck::Zeroable;
use half::f16;

/// The signed 6-bit quants (-32..32) of all 256 elements, in element order.
#[inline]
fn unpack(b: &BlockQ6K, a: &mut [i8; QK_K]) {
    for n in 0..2 {
        for l in 0..32 {
            let (ql0, ql1, qh) = (b.ql[64 * n + l], b.ql[64 * n + 32 + l], b.qh[32 * n + l]);
            a[128 * n + l] = ((ql0 & 0xF) | ((qh & 3) << 4)) as i8 - 32;
            a[128 * n + 32 + l] = ((ql1 & 0xF) | (((qh >> 2) & 3) << 4)) as i8 - 32;
            a[128 * n + 64 + l] = ((ql0 >> 4) | (((qh >> 4) & 3) << 4)) as i8 - 32;
            a[128 * n + 96 + l] = ((ql1 >> 4) | (((qh >> 6) & 3) << 4)) as i8 - 32;
        }
    }
}

// x: [n] blocks -> y: [n * 256] f32
pub fn dequantize(x: &[BlockQ6K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K, "q6_k dequantize: output length");
    let mut a = [0i8; QK_K];
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        unpack(b, &mut a);
        let d = b.d.to_f32();
        for (j, (sub, qa)) in out.chunks_exact_mut(16).zip(a.chunks_exact(16)).enumerate() {
            let dl = d * b.scales[j] as f32;
            for (o, &q) in sub.iter_mut().zip(qa) {
                *o = dl * q as f32;
            }
        }
    }
}

// x: [n * 256] f32 -> y: [n] blocks (ggml's quantize_row_q6_K_ref)
pub fn quantize(x: &[f32], y: &mut [BlockQ6K]) {
    assert_eq!(x.len(), y.len() * QK_K, "q6_k quantize: input length");
    for (xb, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        quantize_block(xb, b);
    }
}

fn quantize_block(x: &[f32], b: &mut BlockQ6K) {
    let mut l_all = [0u8; QK_K];
    let mut scales = [0.0f32; 16];
    let mut max_scale = 0.0f32;
    let mut max_abs_scale = 0.0f32;
    for (ib, s) in scales.iter_mut().enumerate() {
        let r = 16 * ib..16 * ib + 16;
        let scale = make_qx_quants_rmse1::<16>(group(&x[r.clone()]), 32, group_mut(&mut l_all[r]));
        *s = scale;
        let abs_scale = scale.abs();
        if abs_scale > max_abs_scale {
            max_abs_scale = abs_scale;
            max_scale = scale;
        }
    }
    if max_abs_scale < GROUP_MAX_EPS {
        *b = BlockQ6K::zeroed();
        return;
    }
    let iscale = -128.0 / max_scale;
    b.d = f16::from_f32(1.0 / iscale);
    for (s, &v) in b.scales.iter_mut().zip(&scales) {
        // ggml: int8_t = MIN(127, nearest_int(..)), a truncating store.
        *s = nearest_int(iscale * v).min(127) as i8;
    }
    let d_all = b.d.to_f32();
    for j in 0..16 {
        let d = d_all * b.scales[j] as f32;
        if d == 0.0 {
            continue;
        }
        for i in 16 * j..16 * j + 16 {
            l_all[i] = (nearest_int(x[i] / d).clamp(-32, 31) + 32) as u8;
        }
    }
    for n in 0..2 {
        let l = &l_all[128 * n..128 * n + 128];
        for i in 0..32 {
            let (q1, q2, q3, q4) = (l[i], l[i + 32], l[i + 64], l[i + 96]);
            b.ql[64 * n + i] = (q1 & 0xF) | ((q3 & 0xF) << 4);
            b.ql[64 * n + 32 + i] = (q2 & 0xF) | ((q4 & 0xF) << 4);
            b.qh[32 * n + i] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
        }
    }
}

// w: [n] Q6_K blocks, a: [n] Q8_K blocks -> dot(w, a), as ggml's generic
// ggml_vec_dot_q6_K_q8_K: integer sums per sub-block of 16, 8 float lanes
// (element e goes to lane e % 8).
pub fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q6_k·q8_k: block counts differ");
    let mut sums = [0.0f32; 8];
    let mut a = [0i8; QK_K];
    for (bx, by) in x.iter().zip(y) {
        unpack(bx, &mut a);
        let mut aux32 = [0i32; 8];
        for (j, &s) in bx.scales.iter().enumerate() {
            let lanes = lane_dot::<16>(sub(&a, j), sub(&by.qs, j));
            for l in 0..8 {
                aux32[l] += s as i32 * lanes[l];
            }
        }
        let d = bx.d.to_f32() * by.d;
        for l in 0..8 {
            sums[l] += d * aux32[l] as f32;
        }
    }
    let mut sumf = 0.0f32;
    for s in sums {
        sumf += s;
    }
    sumf
}

/// Exact per-block integers of llama.cpp's batched order
/// ([`super::batched`]): `s1 = Σ_j sc[j] · Σ (q − 32)·a` over the 16
/// sub-blocks of 16; no mins.
pub(crate) fn batched_sums(bx: &BlockQ6K, by: &BlockQ8K) -> KSums {
    let mut q = [0i8; QK_K];
    unpack(bx, &mut q);
    let mut s1 = 0;
    for (j, &s) in bx.scales.iter().enumerate() {
        s1 += s as i32 * sub_dot::<16>(&q, &by.qs, j);
    }
    KSums {
        s1,
        s2: 0,
        d: bx.d.to_f32(),
        dmin: 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dequantize_known_block() {
        let mut b = BlockQ6K::zeroed();
        b.d = f16::from_f32(0.125);
        b.scales = [1; 16];
        b.scales[12] = -3;
        // element 128 + 64 + 5 = 197 (n=1, k=2, l=5): ql[64 + 5] high nibble, qh[32 + 5] bits 4..6.
        b.ql[69] = 0xB0;
        b.qh[37] = 0b10 << 4;
        let mut y = vec![0.0; QK_K];
        dequantize(&[b], &mut y);
        assert_eq!(y[197], 0.125 * -3.0 * ((0x2B - 32) as f32));
        assert_eq!(y[0], 0.125 * -32.0);
        assert_eq!(y[192], 0.125 * -3.0 * -32.0);
    }

    #[test]
    fn quantize_zero_block_is_all_zero() {
        let mut b = [BlockQ6K::zeroed()];
        b[0].ql = [0xFF; 128];
        quantize(&[0.0; QK_K], &mut b);
        assert!(bytemuck::bytes_of(&b[0]).iter().all(|&v| v == 0));
    }
}
