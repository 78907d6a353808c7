//! Q8_K: the activation type of the k-quants (never a weight type in ggml).
//!
//! 256 values `x = d * q`, `d` f32, q in -127..=127 (ggml's reference picks
//! `d = max / -127` where `max` is the element of largest magnitude), plus
//! `bsums[j] = sum(q[16j..16j+16])` used by the k-quant dot products' min terms.

use super::ksearch::nearest_int;
use crate::blocks::{BlockQ8K, QK_K};

// x: [n] blocks -> y: [n * 256] f32
pub fn dequantize(x: &[BlockQ8K], y: &mut [f32]) {
    assert_eq!(y.len(), x.len() * QK_K, "q8_k dequantize: output length");
    for (b, out) in x.iter().zip(y.chunks_exact_mut(QK_K)) {
        for (o, &q) in out.iter_mut().zip(b.qs.iter()) {
            *o = b.d * q as f32;
        }
    }
}

// x: [n * 256] f32 -> y: [n] blocks (as ggml's quantize_row_q8_K_ref; an
// all-zero block gets zero bsums too, which ggml leaves unwritten)
pub fn quantize(x: &[f32], y: &mut [BlockQ8K]) {
    assert_eq!(x.len(), y.len() * QK_K, "q8_k quantize: input length");
    for (xb, b) in x.chunks_exact(QK_K).zip(y.iter_mut()) {
        quantize_block(xb, b);
    }
}

fn quantize_block(x: &[f32], b: &mut BlockQ8K) {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let av = v.abs();
        if av > amax {
            amax = av;
            max = v;
        }
    }
    if amax == 0.0 {
        b.d = 0.0;
        b.qs = [0; QK_K];
        b.bsums = [0; QK_K / 16];
        return;
    }
    let iscale = -127.0 / max;
    for (q, &v) in b.qs.iter_mut().zip(x) {
        *q = nearest_int(iscale * v).min(127) as i8;
    }
    for (s, g) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
        *s = g.iter().map(|&q| q as i16).sum();
    }
    b.d = 1.0 / iscale;
}

/// Integer dot of `N` unpacked weight quants with `N` Q8_K quants, kept in the
/// 8 lanes of ggml's generic k-quant kernels: lane `l` sums elements `i` with
/// `i % 8 == l`. `N` is 16 or 32 (one sub-block).
#[inline(always)]
pub(crate) fn lane_dot<const N: usize>(a: &[i8; N], q8: &[i8; N]) -> [i32; 8] {
    // |a| <= 32 and |q8| <= 128, so each product fits i16 (as in ggml's aux16),
    // which lets the compiler use 16-bit multiplies.
    let mut s = [0i32; 8];
    for i in 0..N {
        s[i % 8] += (a[i] as i16 * q8[i] as i16) as i32;
    }
    s
}

/// Sub-block `j` (`N` elements) of a 256-element array, as a fixed-size array.
#[inline(always)]
pub(crate) fn sub<const N: usize>(v: &[i8; QK_K], j: usize) -> &[i8; N] {
    v[N * j..N * j + N]
        .try_into()
        .expect("N * (j + 1) <= 256 by construction")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytemuck::Zeroable;

    #[test]
    fn formula_and_bsums() {
        let x: Vec<f32> = (0..QK_K)
            .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
            .collect();
        let mut b = [BlockQ8K::zeroed()];
        quantize(&x, &mut b);
        let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!((b[0].d.abs() - amax / 127.0).abs() <= 1e-7 * amax);
        assert!(b[0].qs.iter().any(|&q| q == 127 || q == -127));
        for j in 0..16 {
            let s: i32 = b[0].qs[16 * j..16 * j + 16].iter().map(|&q| q as i32).sum();
            assert_eq!(b[0].bsums[j] as i32, s);
        }
        let mut y = vec![0.0; QK_K];
        dequantize(&b, &mut y);
        for (a, r) in x.iter().zip(&y) {
            assert!((a - r).abs() <= b[0].d.abs() * 0.5 + 1e-6);
        }
    }

    #[test]
    fn zero_block() {
        let mut b = [BlockQ8K::zeroed()];
        b[0].bsums = [5; 16];
        quantize(&[0.0; QK_K], &mut b);
        assert_eq!(b[0].d, 0.0);
        assert!(b[0].qs.iter().all(|&q| q == 0));
        assert!(b[0].bsums.iter().all(|&s| s == 0));
    }
}
