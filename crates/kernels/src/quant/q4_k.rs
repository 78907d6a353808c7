//! Q4_K: super-blocks of 256 = 8 sub-blocks of 32, `w = d*sc*q - dmin*m`,
//! q in 0..16, 6-bit sc/m packed by [`super::kscales`].
//!
//! Quant layout: `qs[32c + l]` holds element `64c + l` in its low nibble and
//! element `64c + 32 + l` in its high nibble (c in 0..4).

use super::batched::{k4_sums, KSums};
use super::kscales::{get_scale_min_k4, pack_scales_mins_k4, unpack_scales_mins_k4};
use super::ksearch::{group, group_mut, make_qkx2_quants, max_c, nearest_int};
use super::q8_k::{lane_dot, sub};
use crate::blocks::{BlockQ4K, BlockQ8K, QK_K};
use half::f16;

// x: [n] blocks -> y: [n * 256] f32
pub fn dequantize(x: &[BlockQ4K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K, "q4_k dequantize: output length");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        let d = b.d.to_f32();
        let dmin = b.dmin.to_f32();
        for c in 0..4 {
            let (sc1, m1) = get_scale_min_k4(2 * c, &b.scales);
            let (sc2, m2) = get_scale_min_k4(2 * c + 1, &b.scales);
            let (d1, m1) = (d * sc1 as f32, dmin * m1 as f32);
            let (d2, m2) = (d * sc2 as f32, dmin * m2 as f32);
            let q = &b.qs[32 * c..32 * c + 32];
            let (lo, hi) = out[64 * c..64 * c + 64].split_at_mut(32);
            for l in 0..32 {
                lo[l] = d1 * (q[l] & 0xF) as f32 - m1;
                hi[l] = d2 * (q[l] >> 4) as f32 - m2;
            }
        }
    }
}

// x: [n * 256] f32 -> y: [n] blocks (ggml's quantize_row_q4_K_ref)
pub fn quantize(x: &[f32], y: &mut [BlockQ4K]) {
    assert_eq!(x.len(), y.len() * QK_K, "q4_k quantize: input length");
    for (xb, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        quantize_block(xb, b);
    }
}

fn quantize_block(x: &[f32], b: &mut BlockQ4K) {
    let mut l_all = [0u8; QK_K];
    let mut weights = [0.0f32; 32];
    let mut scales = [0.0f32; 8];
    let mut mins = [0.0f32; 8];
    let mut max_scale = 0.0f32;
    let mut max_min = 0.0f32;
    for j in 0..8 {
        let xs = &x[32 * j..32 * j + 32];
        let sum_x2: f32 = xs.iter().fold(0.0, |s, &v| s + v * v);
        let av_x = (sum_x2 / 32.0).sqrt();
        for (w, &v) in weights.iter_mut().zip(xs) {
            *w = av_x + v.abs();
        }
        let ls = &mut l_all[32 * j..32 * j + 32];
        (scales[j], mins[j]) =
            make_qkx2_quants(group(xs), &weights, 15, group_mut(ls), -1.0, 0.1, 20, false);
        max_scale = max_c(max_scale, scales[j]);
        max_min = max_c(max_min, mins[j]);
    }
    let inv_scale = if max_scale > 0.0 {
        63.0 / max_scale
    } else {
        0.0
    };
    let inv_min = if max_min > 0.0 { 63.0 / max_min } else { 0.0 };
    let mut ls = [0u8; 8];
    let mut lm = [0u8; 8];
    for j in 0..8 {
        // ggml stores nearest_int into a uint8_t (wrapping) before the min.
        ls[j] = (nearest_int(inv_scale * scales[j]) as u8).min(63);
        lm[j] = (nearest_int(inv_min * mins[j]) as u8).min(63);
    }
    b.scales = pack_scales_mins_k4(&ls, &lm);
    b.d = f16::from_f32(max_scale / 63.0);
    b.dmin = f16::from_f32(max_min / 63.0);

    let d_all = b.d.to_f32();
    let dmin_all = b.dmin.to_f32();
    for j in 0..8 {
        let d = d_all * ls[j] as f32;
        if d == 0.0 {
            continue;
        }
        let dm = dmin_all * lm[j] as f32;
        for i in 32 * j..32 * j + 32 {
            l_all[i] = nearest_int((x[i] + dm) / d).clamp(0, 15) as u8;
        }
    }
    for c in 0..4 {
        for l in 0..32 {
            b.qs[32 * c + l] = l_all[64 * c + l] | (l_all[64 * c + 32 + l] << 4);
        }
    }
}

// w: [n] Q4_K blocks, a: [n] Q8_K blocks -> dot(w, a), as ggml's generic
// ggml_vec_dot_q4_K_q8_K: integer sums per sub-block, 8 float lanes
// (element e goes to lane e % 8), min term from the Q8_K bsums.
pub fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    debug_assert_eq!(x.len(), y.len(), "q4_k·q8_k: block counts differ");
    let mut sums = [0.0f32; 8];
    let mut sumf = 0.0f32;
    let mut a = [0i8; QK_K];
    for (bx, by) in x.iter().zip(y) {
        for c in 0..4 {
            let q = &bx.qs[32 * c..32 * c + 32];
            for l in 0..32 {
                a[64 * c + l] = (q[l] & 0xF) as i8;
                a[64 * c + 32 + l] = (q[l] >> 4) as i8;
            }
        }
        let (sc, m) = unpack_scales_mins_k4(&bx.scales);
        let mut sumi = 0i32;
        for (j, &bs) in by.bsums.iter().enumerate() {
            sumi += bs as i32 * m[j / 2] as i32;
        }
        let mut aux32 = [0i32; 8];
        for (j, &s) in sc.iter().enumerate() {
            let lanes = lane_dot::<32>(sub(&a, j), sub(&by.qs, j));
            for l in 0..8 {
                aux32[l] += s as i32 * lanes[l];
            }
        }
        let d = bx.d.to_f32() * by.d;
        for l in 0..8 {
            sums[l] += d * aux32[l] as f32;
        }
        let dmin = bx.dmin.to_f32() * by.d;
        sumf -= dmin * sumi as f32;
    }
    for s in sums {
        sumf += s;
    }
    sumf
}

/// Exact per-block integers of llama.cpp's batched order
/// ([`super::batched`]): `s1 = Σ_j sc[j] · Σ q·a`, `s2 = Σ_j m[j] · Σ a`
/// over the 8 sub-blocks of 32.
pub(crate) fn batched_sums(bx: &BlockQ4K, by: &BlockQ8K) -> KSums {
    let mut q = [0i8; QK_K];
    for c in 0..4 {
        for l in 0..32 {
            q[64 * c + l] = (bx.qs[32 * c + l] & 0xF) as i8;
            q[64 * c + 32 + l] = (bx.qs[32 * c + l] >> 4) as i8;
        }
    }
    let (sc, m) = unpack_scales_mins_k4(&bx.scales);
    k4_sums(&q, &sc, &m, bx.d.to_f32(), bx.dmin.to_f32(), by)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytemuck::Zeroable;

    #[test]
    fn dequantize_known_block() {
        let mut b = BlockQ4K::zeroed();
        b.d = f16::from_f32(0.5);
        b.dmin = f16::from_f32(0.25);
        let mut sc = [0u8; 8];
        let mut m = [0u8; 8];
        sc[0] = 2;
        m[0] = 4;
        sc[5] = 40;
        m[5] = 63;
        b.scales = pack_scales_mins_k4(&sc, &m);
        b.qs[0] = 0x3 | (0x9 << 4); // element 0 (sub-block 0), element 32 (sub-block 1)
        b.qs[64 + 5] = 0xF0; // element 128 + 32 + 5 = 165 (sub-block 5), high nibble
        let mut y = vec![0.0; QK_K];
        dequantize(&[b], &mut y);
        assert_eq!(y[0], 0.5 * 2.0 * 3.0 - 0.25 * 4.0);
        assert_eq!(y[32], 0.0);
        assert_eq!(y[165], 0.5 * 40.0 * 15.0 - 0.25 * 63.0);
        assert_eq!(y[160], -0.25 * 63.0);
    }

    #[test]
    fn quantize_constant_and_zero() {
        let mut b = [BlockQ4K::zeroed()];
        quantize(&[0.0; QK_K], &mut b);
        let mut y = vec![1.0; QK_K];
        dequantize(&b, &mut y);
        assert!(y.iter().all(|&v| v == 0.0));
        quantize(&[-0.75; QK_K], &mut b);
        dequantize(&b, &mut y);
        assert!(
            y.iter().all(|&v| (v + 0.75).abs() < 0.75 / 63.0),
            "{}",
            y[0]
        );
    }
}
