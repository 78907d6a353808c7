//! Q3_K: super-blocks of 256 = 16 sub-blocks of 16, `w = d * (sc - 32) * q`,
//! q in -4..4, sc a 6-bit scale packed by [`super::kscales`].
//!
//! Quant layout: element `e = 128n + 32k + l` (n in 0..2, k in 0..4, l in 0..32)
//! has its low 2 bits at bits `2k..2k+2` of `qs[32n + l]` and its high bit at
//! bit `e / 32` of `hmask[l]`; q = low - 4 when the high bit is clear.

use super::batched::{sub_dot, KSums};
use super::kscales::{pack_q3_k_scales, unpack_q3_k_scales};
use super::ksearch::{make_q3_quants_rmse, nearest_int};
use super::q8_k::{lane_dot, sub};
use crate::blocks::{BlockQ3K, BlockQ8K, QK_K};
use half::f16;

/// The signed 3-bit quants (-4..4) of all 256 elements, in element order.
#[inline]
fn unpack(b: &BlockQ3K, a: &mut [i8; QK_K]) {
    for n in 0..2 {
        for k in 0..4 {
            let mask = 1u8 << (4 * n + k);
            for l in 0..32 {
                let low = ((b.qs[32 * n + l] >> (2 * k)) & 3) as i8;
                let offset = if b.hmask[l] & mask != 0 { 0 } else { 4 };
                a[128 * n + 32 * k + l] = low - offset;
            }
        }
    }
}

// x: [n] blocks -> y: [n * 256] f32
pub fn dequantize(x: &[BlockQ3K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K, "q3_k dequantize: output length");
    let mut a = [0i8; QK_K];
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        unpack(b, &mut a);
        let d_all = b.d.to_f32();
        let sc = unpack_q3_k_scales(&b.scales);
        for (j, (sub, qa)) in out.chunks_exact_mut(16).zip(a.chunks_exact(16)).enumerate() {
            let dl = d_all * (sc[j] as i32 - 32) as f32;
            for (o, &q) in sub.iter_mut().zip(qa) {
                *o = dl * q as f32;
            }
        }
    }
}

// x: [n * 256] f32 -> y: [n] blocks (ggml's quantize_row_q3_K_ref)
pub fn quantize(x: &[f32], y: &mut [BlockQ3K]) {
    assert_eq!(x.len(), y.len() * QK_K, "q3_k quantize: input length");
    for (xb, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        quantize_block(xb, b);
    }
}

fn quantize_block(x: &[f32], b: &mut BlockQ3K) {
    let mut l_all = [0i8; QK_K];
    let mut scales = [0.0f32; 16];
    let mut max_scale = 0.0f32;
    let mut amax = 0.0f32;
    for (j, s) in scales.iter_mut().enumerate() {
        let r = 16 * j..16 * j + 16;
        *s = make_q3_quants_rmse(&x[r.clone()], 4, &mut l_all[r]);
        if s.abs() > amax {
            amax = s.abs();
            max_scale = *s;
        }
    }
    if max_scale != 0.0 {
        let iscale = -32.0 / max_scale;
        let mut raw = [0u8; 16];
        for j in 0..16 {
            // ggml: int8_t l = nearest_int(..) (a truncating store), then clamp.
            let l = nearest_int(iscale * scales[j]) as i8;
            raw[j] = (l.clamp(-32, 31) + 32) as u8;
        }
        b.scales = pack_q3_k_scales(&raw);
        b.d = f16::from_f32(1.0 / iscale);
    } else {
        b.scales = [0; 12];
        b.d = f16::from_f32(0.0);
    }
    let d_all = b.d.to_f32();
    let sc = unpack_q3_k_scales(&b.scales);
    for (j, &s) in sc.iter().enumerate() {
        let d = d_all * (s as i32 - 32) as f32;
        if d == 0.0 {
            continue;
        }
        for i in 16 * j..16 * j + 16 {
            l_all[i] = (nearest_int(x[i] / d).clamp(-4, 3) + 4) as i8;
        }
    }
    b.hmask = [0; QK_K / 8];
    for (e, l) in l_all.iter_mut().enumerate() {
        if *l > 3 {
            b.hmask[e % 32] |= 1 << (e / 32);
            *l -= 4;
        }
    }
    for n in 0..2 {
        let l: [u8; 128] = std::array::from_fn(|i| l_all[128 * n + i] as u8);
        for i in 0..32 {
            b.qs[32 * n + i] = l[i] | (l[i + 32] << 2) | (l[i + 64] << 4) | (l[i + 96] << 6);
        }
    }
}

// w: [n] Q3_K blocks, a: [n] Q8_K blocks -> dot(w, a), as ggml's generic
// ggml_vec_dot_q3_K_q8_K: integer sums per sub-block of 16, 8 float lanes
// (element e goes to lane e % 8).
pub fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q3_k·q8_k: block counts differ");
    let mut sums = [0.0f32; 8];
    let mut a = [0i8; QK_K];
    for (bx, by) in x.iter().zip(y) {
        unpack(bx, &mut a);
        let sc = unpack_q3_k_scales(&bx.scales);
        let mut aux32 = [0i32; 8];
        for (j, &s) in sc.iter().enumerate() {
            let lanes = lane_dot::<16>(sub(&a, j), sub(&by.qs, j));
            for l in 0..8 {
                aux32[l] += (s as i32 - 32) * lanes[l];
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
/// ([`super::batched`]): `s1 = Σ_j (sc[j] − 32) · Σ q·a` over the 16
/// sub-blocks of 16 (q in −4..4); no mins.
pub(crate) fn batched_sums(bx: &BlockQ3K, by: &BlockQ8K) -> KSums {
    let mut q = [0i8; QK_K];
    unpack(bx, &mut q);
    let sc = unpack_q3_k_scales(&bx.scales);
    let mut s1 = 0;
    for (j, &s) in sc.iter().enumerate() {
        s1 += (s as i32 - 32) * sub_dot::<16>(&q, &by.qs, j);
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
    use bytemuck::Zeroable;

    #[test]
    fn dequantize_known_block() {
        let mut b = BlockQ3K::zeroed();
        b.d = f16::from_f32(0.5);
        let mut raw = [32u8; 16]; // scale 0
        raw[9] = 32 + 5;
        b.scales = pack_q3_k_scales(&raw);
        // element 128 + 32*0 + 20 = 148 (sub-block 9): bits 0..2 of qs[32 + 20], hmask[20] bit 4.
        b.qs[52] = 0b11;
        b.hmask[20] = 1 << 4;
        // element 150: low bits 0, high bit clear -> q = -4.
        let mut y = vec![0.0; QK_K];
        dequantize(&[b], &mut y);
        assert_eq!(y[148], 0.5 * 5.0 * 3.0);
        assert_eq!(y[150], 0.5 * 5.0 * -4.0);
        assert_eq!(y[0], 0.0);
    }

    #[test]
    fn quantize_round_trip_small_error() {
        // Levels -4..=3 times 0.2 (the most negative first): representable up to scale rounding.
        let x: Vec<f32> = (0..QK_K)
            .map(|i| ((i * 13 % 8) as f32 - 4.0) * 0.2)
            .collect();
        let mut b = [BlockQ3K::zeroed()];
        quantize(&x, &mut b);
        let mut y = vec![0.0; QK_K];
        dequantize(&b, &mut y);
        let max_err = x
            .iter()
            .zip(&y)
            .map(|(a, r)| (a - r).abs())
            .fold(0.0, f32::max);
        assert!(max_err < 0.01, "max err {max_err}");
    }
}
