//! simd128 inner loops of the attention backends: 4-lane dot products (four
//! accumulators) of a query with f32 or f16 key rows, `o += w * v` over
//! value rows, rescaling. f16 rows are widened with the exact bit trick of
//! `arch::wasm32::simd::f16x4_to_f32`. simd128 has no fused multiply-add, so
//! `o += w * v` is a multiply then an add, as in the scalar reference (whose
//! `+=` is not fused either): `axpy_*`, `axpys_f16` and `scale` equal the
//! scalar table bit for bit; the dot products differ from its sequential
//! sums only in summation order. `exp_sum` and `round_f16` stay scalar: the
//! reference `exp` is defined with fused multiply-adds, and both run once
//! per key, not once per key element.
//!
//! Compiled only into simd128 builds (wasm has no run-time detection).

use core::arch::wasm32::*;

use half::f16;

use super::simd::{self, AttnOps};
use crate::arch::wasm32::float::load8_f16 as ld16;
use crate::arch::wasm32::simd::{at, f16_to_f32, hsum_f32, load_u16};
use crate::arch::Isa;

pub(super) static SIMD128: AttnOps = AttnOps {
    isa: Isa::Simd128,
    dot_f32,
    dot_f16,
    axpy_f32,
    axpy_f16,
    dots_f16,
    axpys_f16,
    axpys_f16w,
    dots_heads: None,
    axpys_heads: None,
    round_f16: simd::SCALAR.round_f16,
    scale,
    exp_sum: simd::SCALAR.exp_sum,
    softmax: simd::SCALAR.softmax,
};

/// 4 f32s at `v[i..i + 4]` (through a u16 view, as `arch::wasm32::float`:
/// V8 ran direct `[f32; 4]` loads at half the speed).
#[inline(always)]
fn ld(v: &[f32], i: usize) -> v128 {
    let b: &[u16; 8] = bytemuck::cast_ref(at::<f32, 4>(v, i));
    load_u16(b)
}

/// Stores 4 f32s to `v[i..i + 4]`.
#[inline(always)]
fn st(v: &mut [f32], i: usize, x: v128) {
    let s: &mut [f32; 4] = (&mut v[i..i + 4]).try_into().expect("4 floats in bounds");
    // SAFETY: `s` is 16 writable bytes; `v128_store` has no alignment requirement.
    unsafe { v128_store(s.as_mut_ptr().cast(), x) }
}

/// a: [n], b: [n] -> a·b: steps of 8 into 2 x 2 accumulators, one step of
/// 4, then the scalar products of the last `n % 4` elements.
#[inline(always)]
fn dot_with(
    a: &[f32],
    n: usize,
    b8: impl Fn(usize) -> (v128, v128),
    b1: impl Fn(usize) -> f32,
) -> f32 {
    let zero = f32x4_splat(0.0);
    let mut acc = [zero; 4];
    let mut i = 0;
    while i + 16 <= n {
        for k in 0..2 {
            let (lo, hi) = b8(i + 8 * k);
            acc[2 * k] = f32x4_add(acc[2 * k], f32x4_mul(ld(a, i + 8 * k), lo));
            acc[2 * k + 1] = f32x4_add(acc[2 * k + 1], f32x4_mul(ld(a, i + 8 * k + 4), hi));
        }
        i += 16;
    }
    while i + 8 <= n {
        let (lo, hi) = b8(i);
        acc[0] = f32x4_add(acc[0], f32x4_mul(ld(a, i), lo));
        acc[1] = f32x4_add(acc[1], f32x4_mul(ld(a, i + 4), hi));
        i += 8;
    }
    let all = f32x4_add(f32x4_add(acc[0], acc[1]), f32x4_add(acc[2], acc[3]));
    let tail: f32 = (i..n).map(|j| a[j] * b1(j)).sum();
    hsum_f32(all) + tail
}

/// a: [n], b: [n] -> a·b
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    dot_with(a, n, |i| (ld(b, i), ld(b, i + 4)), |j| b[j])
}

/// a: [n], b: [n] f16 -> a·b
fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    dot_with(a, n, |i| ld16(b, i), |j| f16_to_f32(b[j]))
}

/// o: [n] += w * x: [n]
fn axpy_f32(o: &mut [f32], w: f32, x: &[f32]) {
    let n = o.len().min(x.len());
    let wv = f32x4_splat(w);
    let mut i = 0;
    while i + 4 <= n {
        st(o, i, f32x4_add(ld(o, i), f32x4_mul(wv, ld(x, i))));
        i += 4;
    }
    for (oi, xi) in o[i..n].iter_mut().zip(&x[i..n]) {
        *oi += w * xi;
    }
}

/// o: [n] += w * x: [n] f16
fn axpy_f16(o: &mut [f32], w: f32, x: &[f16]) {
    axpys_f16(o, &[w], x, 0);
}

/// `dot_f16(q, k_j)` for every key j.
// q: [d], k: key j at k[j * stride..][..d] -> s[j]
fn dots_f16(q: &[f32], k: &[f16], stride: usize, s: &mut [f32]) {
    let d = q.len();
    for (j, s) in s.iter_mut().enumerate() {
        *s = dot_f16(q, &k[j * stride..][..d]);
    }
}

/// o: [d] += sum_j w[j] * v_j over f16 value rows (`axpys_with`).
// o: [d], w: [n], v: row j at v[j * stride..][..d] f16
fn axpys_f16(o: &mut [f32], w: &[f32], v: &[f16], stride: usize) {
    let Some(v) = simd::rows_of(v, w.len(), stride, o.len()) else {
        return;
    };
    axpys_with(o, w, stride, |i| ld16(v, i), |i| f16_to_f32(v[i]));
}

/// o: [d] += sum_j w[j] * v_j over f16 values held as f32 (`axpys_with`):
/// equals `axpys_f16` on the f16 values bit for bit.
// o: [d], w: [n], v: row j at v[j * stride..][..d]
fn axpys_f16w(o: &mut [f32], w: &[f32], v: &[f32], stride: usize) {
    let Some(v) = simd::rows_of(v, w.len(), stride, o.len()) else {
        return;
    };
    axpys_with(o, w, stride, |i| (ld(v, i), ld(v, i + 4)), |i| v[i]);
}

/// `o += w[j] * v_j` for j = 0, 1, ... with `o` held in registers 16
/// (then 8, then 1) elements at a time across all the rows: per element
/// the same multiplies and adds in the same order as one `axpy_f16` per
/// row. `v8(i)` gives value elements i..i + 8 (row j's element e at
/// `i = j * stride + e`) as f32, `v1(i)` one element.
// o: [d], w: [n] -> o += sum_j w[j] v_j
#[inline(always)]
fn axpys_with(
    o: &mut [f32],
    w: &[f32],
    stride: usize,
    v8: impl Fn(usize) -> (v128, v128),
    v1: impl Fn(usize) -> f32,
) {
    let d = o.len();
    let mut i = 0;
    while i + 16 <= d {
        let mut acc = [ld(o, i), ld(o, i + 4), ld(o, i + 8), ld(o, i + 12)];
        for (j, &wj) in w.iter().enumerate() {
            let wv = f32x4_splat(wj);
            for h in 0..2 {
                let (lo, hi) = v8(j * stride + i + 8 * h);
                acc[2 * h] = f32x4_add(acc[2 * h], f32x4_mul(wv, lo));
                acc[2 * h + 1] = f32x4_add(acc[2 * h + 1], f32x4_mul(wv, hi));
            }
        }
        for (k, &a) in acc.iter().enumerate() {
            st(o, i + 4 * k, a);
        }
        i += 16;
    }
    while i + 8 <= d {
        let (mut a0, mut a1) = (ld(o, i), ld(o, i + 4));
        for (j, &wj) in w.iter().enumerate() {
            let wv = f32x4_splat(wj);
            let (lo, hi) = v8(j * stride + i);
            a0 = f32x4_add(a0, f32x4_mul(wv, lo));
            a1 = f32x4_add(a1, f32x4_mul(wv, hi));
        }
        st(o, i, a0);
        st(o, i + 4, a1);
        i += 8;
    }
    for (e, oe) in o.iter_mut().enumerate().skip(i) {
        for (j, &wj) in w.iter().enumerate() {
            *oe += wj * v1(j * stride + e);
        }
    }
}

/// o: [n] *= s
fn scale(o: &mut [f32], s: f32) {
    let sv = f32x4_splat(s);
    let n = o.len();
    let mut i = 0;
    while i + 4 <= n {
        st(o, i, f32x4_mul(ld(o, i), sv));
        i += 4;
    }
    for oi in &mut o[i..] {
        *oi *= s;
    }
}
