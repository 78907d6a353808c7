//! AVX2 (+FMA, F16C) inner loops of flash attention: 8-lane dot products
//! (4 accumulators), fused `o += w * v`, f16 rows widened with F16C, and an
//! 8-lane `exp` doing exactly the scalar `simd::exp` operations.
//!
//! Soundness: the `#[target_feature]` functions are reached only through
//! `AVX2`, which `table()` hands out only when the CPU has AVX2, FMA and
//! F16C (`Isa::Avx2.detected()`).

use std::arch::x86_64::*;

use half::f16;

use super::simd::{self, AttnOps, EXP_C, EXP_SHIFT, LN2_HI, LN2_LO, LOG2E};
use crate::arch::Isa;

pub(super) static AVX2: AttnOps = AttnOps {
    isa: Isa::Avx2,
    dot_f32: |a, b| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { dot_f32(a, b) }
    },
    dot_f16: |a, b| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { dot_f16(a, b) }
    },
    axpy_f32: |o, w, x| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { axpy_f32(o, w, x) }
    },
    axpy_f16: |o, w, x| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { axpy_f16(o, w, x) }
    },
    dots_f16: |q, k, stride, s| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { dots_f16(q, k, stride, s) }
    },
    axpys_f16: |o, w, v, stride| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { axpys_f16(o, w, v, stride) }
    },
    axpys_f16w: |o, w, v, stride| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { axpys_f16w(o, w, v, stride) }
    },
    dots_heads: Some(|q, k, stride, s| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { dots_heads(q, k, stride, s) }
    }),
    axpys_heads: Some(|o, w, v, stride| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { axpys_heads(o, w, v, stride) }
    }),
    round_f16: |x| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { round_f16(x) }
    },
    scale: |o, s| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { scale(o, s) }
    },
    exp_sum: |s, m| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { exp_sum(s, m) }
    },
    softmax: |x| {
        // SAFETY: AVX2, FMA and F16C were detected before `AVX2` was handed out.
        unsafe { softmax_padded(x) }
    },
};

/// The AVX2 table if this CPU runs it.
pub(super) fn table() -> Option<&'static AttnOps> {
    Isa::Avx2.detected().then_some(&AVX2)
}

/// 8 f32s from `v[i..i + 8]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn ld(v: &[f32], i: usize) -> __m256 {
    let s = &v[i..i + 8];
    // SAFETY: `s` holds 8 f32s (the slice above is bounds-checked); `loadu` is unaligned.
    unsafe { _mm256_loadu_ps(s.as_ptr()) }
}

/// 8 f16s from `v[i..i + 8]`, widened to f32.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn ld16(v: &[f16], i: usize) -> __m256 {
    let s = &v[i..i + 8];
    // SAFETY: `s` holds 8 f16s = 16 bytes (bounds-checked above); `loadu` is unaligned.
    _mm256_cvtph_ps(unsafe { _mm_loadu_si128(s.as_ptr().cast()) })
}

/// Stores 8 f32s to `v[i..i + 8]`.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn st(v: &mut [f32], i: usize, x: __m256) {
    let s = &mut v[i..i + 8];
    // SAFETY: `s` holds 8 f32s (bounds-checked above); `storeu` is unaligned.
    unsafe { _mm256_storeu_ps(s.as_mut_ptr(), x) }
}

/// Sum of the 8 lanes.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// a: [n], b: [n] -> a·b
#[target_feature(enable = "avx2,fma,f16c")]
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, c) in acc.iter_mut().enumerate() {
            *c = _mm256_fmadd_ps(ld(a, i + 8 * k), ld(b, i + 8 * k), *c);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(ld(a, i), ld(b, i), acc[0]);
        i += 8;
    }
    let all = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let tail: f32 = a[i..n].iter().zip(&b[i..n]).map(|(x, y)| x * y).sum();
    hsum(all) + tail
}

/// a: [n], b: [n] f16 -> a·b
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i + 32 <= n {
        for (k, c) in acc.iter_mut().enumerate() {
            *c = _mm256_fmadd_ps(ld(a, i + 8 * k), ld16(b, i + 8 * k), *c);
        }
        i += 32;
    }
    while i + 8 <= n {
        acc[0] = _mm256_fmadd_ps(ld(a, i), ld16(b, i), acc[0]);
        i += 8;
    }
    let all = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let tail: f32 = a[i..n]
        .iter()
        .zip(&b[i..n])
        .map(|(x, y)| x * y.to_f32())
        .sum();
    hsum(all) + tail
}

/// o: [n] += w * x: [n]
#[target_feature(enable = "avx2,fma,f16c")]
fn axpy_f32(o: &mut [f32], w: f32, x: &[f32]) {
    let n = o.len().min(x.len());
    let wv = _mm256_set1_ps(w);
    let mut i = 0;
    while i + 8 <= n {
        let r = _mm256_fmadd_ps(wv, ld(x, i), ld(o, i));
        st(o, i, r);
        i += 8;
    }
    for (oi, xi) in o[i..n].iter_mut().zip(&x[i..n]) {
        *oi = w.mul_add(*xi, *oi);
    }
}

/// o: [n] += w * x: [n] f16
#[target_feature(enable = "avx2,fma,f16c")]
fn axpy_f16(o: &mut [f32], w: f32, x: &[f16]) {
    let n = o.len().min(x.len());
    let wv = _mm256_set1_ps(w);
    let mut i = 0;
    while i + 8 <= n {
        let r = _mm256_fmadd_ps(wv, ld16(x, i), ld(o, i));
        st(o, i, r);
        i += 8;
    }
    for (oi, xi) in o[i..n].iter_mut().zip(&x[i..n]) {
        *oi = w.mul_add(xi.to_f32(), *oi);
    }
}

/// `dot_f16(q, k_j)` for every key j: the same operations inlined into one
/// loop (no call per key).
// q: [d], k: key j at k[j * stride..][..d] -> s[j]
#[target_feature(enable = "avx2,fma,f16c")]
fn dots_f16(q: &[f32], k: &[f16], stride: usize, s: &mut [f32]) {
    let d = q.len();
    for (j, s) in s.iter_mut().enumerate() {
        *s = dot_f16(q, &k[j * stride..][..d]);
    }
}

/// `axpy_f16(o, w[j], v_j)` for j = 0, 1, ... with `o` held in registers
/// 32 (then 8, then 1) elements at a time across all the rows: per element
/// the same fused multiply-adds in the same order, without reloading and
/// storing `o` once per row.
// o: [d], w: [n], v: row j at v[j * stride..][..d] -> o += sum_j w[j] v_j
#[target_feature(enable = "avx2,fma,f16c")]
fn axpys_f16(o: &mut [f32], w: &[f32], v: &[f16], stride: usize) {
    let d = o.len();
    let Some(v) = simd::rows_of(v, w.len(), stride, d) else {
        return;
    };
    let mut i = 0;
    while i + 32 <= d {
        let mut acc = [ld(o, i), ld(o, i + 8), ld(o, i + 16), ld(o, i + 24)];
        for (j, &wj) in w.iter().enumerate() {
            let wv = _mm256_set1_ps(wj);
            let row = &v[j * stride + i..][..32];
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(wv, ld16(row, 8 * k), *a);
            }
        }
        for (k, &a) in acc.iter().enumerate() {
            st(o, i + 8 * k, a);
        }
        i += 32;
    }
    while i + 8 <= d {
        let mut acc = ld(o, i);
        for (j, &wj) in w.iter().enumerate() {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(wj), ld16(v, j * stride + i), acc);
        }
        st(o, i, acc);
        i += 8;
    }
    for (e, oe) in o.iter_mut().enumerate().skip(i) {
        for (j, &wj) in w.iter().enumerate() {
            *oe = wj.mul_add(v[j * stride + e].to_f32(), *oe);
        }
    }
}

/// `dots_f16` of N query heads over the same keys, each key widened once:
/// per head the same accumulators, fused multiply-adds and final sums as
/// `dot_f16`, so each `s[h]` equals a `dots_f16` call with `q[h]` bit for bit.
// q[h]: [d], k: key j at k[j * stride..][..d] -> s[h][j] = q[h]·k_j
// register-array loops over heads and lanes, indexed for the unrolling
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn dots_n<const N: usize>(q: &[&[f32]], k: &[f16], stride: usize, s: &mut [&mut [f32]]) {
    let d = q[0].len();
    let q: [&[f32]; N] = std::array::from_fn(|h| &q[h][..d]);
    let n = s[0].len();
    for j in 0..n {
        let kr = &k[j * stride..][..d];
        let mut a = [[_mm256_setzero_ps(); 4]; N];
        let mut i = 0;
        while i + 32 <= d {
            for m in 0..4 {
                let kv = ld16(kr, i + 8 * m);
                for h in 0..N {
                    a[h][m] = _mm256_fmadd_ps(ld(q[h], i + 8 * m), kv, a[h][m]);
                }
            }
            i += 32;
        }
        while i + 8 <= d {
            let kv = ld16(kr, i);
            for h in 0..N {
                a[h][0] = _mm256_fmadd_ps(ld(q[h], i), kv, a[h][0]);
            }
            i += 8;
        }
        for h in 0..N {
            let all = _mm256_add_ps(
                _mm256_add_ps(a[h][0], a[h][1]),
                _mm256_add_ps(a[h][2], a[h][3]),
            );
            let tail: f32 = q[h][i..]
                .iter()
                .zip(&kr[i..])
                .map(|(x, y)| x * y.to_f32())
                .sum();
            s[h][j] = hsum(all) + tail;
        }
    }
}

/// `axpys_f16` for N heads over the same values, each value widened once:
/// per output element the same fused multiply-adds in the same order, so
/// each `o[h]` equals an `axpys_f16` call with `w[h]` bit for bit.
// o[h]: [d], w[h]: [n], v: row j at v[j * stride..][..d] -> o[h] += sum_j w[h][j] v_j
// register-array loops over heads and lanes, indexed for the unrolling
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
pub(super) fn axpys_n<const N: usize>(
    o: &mut [&mut [f32]],
    w: &[&[f32]],
    v: &[f16],
    stride: usize,
) {
    let d = o[0].len();
    let n = w[0].len();
    let w: [&[f32]; N] = std::array::from_fn(|h| &w[h][..n]);
    let Some(v) = simd::rows_of(v, n, stride, d) else {
        return;
    };
    let mut i = 0;
    while i + 32 <= d {
        let mut a: [[__m256; 4]; N] = std::array::from_fn(|h| {
            let oh = &o[h][..d];
            [ld(oh, i), ld(oh, i + 8), ld(oh, i + 16), ld(oh, i + 24)]
        });
        for j in 0..n {
            let wv: [__m256; N] = std::array::from_fn(|h| _mm256_set1_ps(w[h][j]));
            let row = &v[j * stride + i..][..32];
            for m in 0..4 {
                let vv = ld16(row, 8 * m);
                for h in 0..N {
                    a[h][m] = _mm256_fmadd_ps(wv[h], vv, a[h][m]);
                }
            }
        }
        for h in 0..N {
            for m in 0..4 {
                st(o[h], i + 8 * m, a[h][m]);
            }
        }
        i += 32;
    }
    while i + 8 <= d {
        let mut a: [__m256; N] = std::array::from_fn(|h| ld(&o[h][..d], i));
        for j in 0..n {
            let vv = ld16(v, j * stride + i);
            for h in 0..N {
                a[h] = _mm256_fmadd_ps(_mm256_set1_ps(w[h][j]), vv, a[h]);
            }
        }
        for h in 0..N {
            st(o[h], i, a[h]);
        }
        i += 8;
    }
    for e in i..d {
        for j in 0..n {
            let ve = v[j * stride + e].to_f32();
            for h in 0..N {
                o[h][e] = w[h][j].mul_add(ve, o[h][e]);
            }
        }
    }
}

/// `dots_n` over any number of heads, two at a time (16 registers).
// q[h]: [d] -> s[h][j] = q[h]·k_j
#[target_feature(enable = "avx2,fma,f16c")]
fn dots_heads(q: &[&[f32]], k: &[f16], stride: usize, s: &mut [&mut [f32]]) {
    for (q, s) in q.chunks(2).zip(s.chunks_mut(2)) {
        match q.len() {
            2 => dots_n::<2>(q, k, stride, s),
            _ => dots_f16(q[0], k, stride, s[0]),
        }
    }
}

/// `axpys_n` over any number of heads, two at a time (16 registers).
// o[h] += sum_j w[h][j] v_j
#[target_feature(enable = "avx2,fma,f16c")]
fn axpys_heads(o: &mut [&mut [f32]], w: &[&[f32]], v: &[f16], stride: usize) {
    for (o, w) in o.chunks_mut(2).zip(w.chunks(2)) {
        match w.len() {
            2 => axpys_n::<2>(o, w, v, stride),
            _ => axpys_f16(o[0], w[0], v, stride),
        }
    }
}

/// `axpys_f16` on f16 values held as f32: `axpy_f32` per row (the same
/// fused multiply-adds per element, in row order).
// o: [d], w: [n], v: row j at v[j * stride..][..d] -> o += sum_j w[j] v_j
#[target_feature(enable = "avx2,fma,f16c")]
fn axpys_f16w(o: &mut [f32], w: &[f32], v: &[f32], stride: usize) {
    let d = o.len();
    for (j, &wj) in w.iter().enumerate() {
        axpy_f32(o, wj, &v[j * stride..][..d]);
    }
}

/// x: [n] <- f32(f16(x)): F16C's round to nearest even, as
/// `half::f16::from_f32` (which the tail uses).
#[target_feature(enable = "avx2,fma,f16c")]
fn round_f16(x: &mut [f32]) {
    let n = x.len();
    let mut i = 0;
    while i + 8 <= n {
        let h = _mm256_cvtps_ph::<_MM_FROUND_TO_NEAREST_INT>(ld(x, i));
        st(x, i, _mm256_cvtph_ps(h));
        i += 8;
    }
    for x in &mut x[i..] {
        *x = f16::from_f32(*x).to_f32();
    }
}

/// o: [n] *= s
#[target_feature(enable = "avx2,fma,f16c")]
fn scale(o: &mut [f32], s: f32) {
    let sv = _mm256_set1_ps(s);
    let n = o.len();
    let mut i = 0;
    while i + 8 <= n {
        let r = _mm256_mul_ps(ld(o, i), sv);
        st(o, i, r);
        i += 8;
    }
    for oi in &mut o[i..] {
        *oi *= s;
    }
}

/// `simd::exp` on 8 lanes, operation for operation.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn exp8(x: __m256) -> __m256 {
    let (y, n) = exp8_parts(x);
    let tiny = _mm256_cmp_ps::<_CMP_LT_OQ>(n, _mm256_set1_ps(-126.0));
    let huge = _mm256_cmp_ps::<_CMP_GT_OQ>(n, _mm256_set1_ps(127.0));
    let y = _mm256_blendv_ps(y, _mm256_set1_ps(f32::INFINITY), huge);
    _mm256_andnot_ps(tiny, y)
}

/// The vector `expf` on 8 lanes before its range checks: (`j * 2^n`, n),
/// with x = n ln2 + b and j the polynomial in b. Exact for lanes with n in
/// -126..=127, where 2^n is a normal float and `j * 2^n` is rounded once
/// (as `ops::expf_vec`'s f64 product is): the bits of both scalar `exp`s.
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn exp8_parts(x: __m256) -> (__m256, __m256) {
    let c = |bits: u32| _mm256_set1_ps(f32::from_bits(bits));
    let r = c(EXP_SHIFT);
    let n = _mm256_sub_ps(_mm256_fmadd_ps(x, c(LOG2E), r), r);
    let neg_n = _mm256_sub_ps(_mm256_setzero_ps(), n);
    let b = _mm256_fmadd_ps(neg_n, c(LN2_LO), _mm256_fmadd_ps(neg_n, c(LN2_HI), x));
    let u = _mm256_mul_ps(b, b);
    let [c1, c2, c3, c4, c5] = EXP_C.map(c);
    let j = _mm256_fmadd_ps(
        _mm256_fmadd_ps(_mm256_fmadd_ps(c5, b, c4), u, _mm256_fmadd_ps(c3, b, c2)),
        u,
        _mm256_fmadd_ps(c1, b, _mm256_set1_ps(1.0)),
    );
    let ni = _mm256_cvtps_epi32(n);
    let pow2 = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        ni,
        _mm256_set1_epi32(127),
    )));
    (_mm256_mul_ps(j, pow2), n)
}

/// `ops::expf_vec(x[i + l] - max)` for the 8 lanes l: `exp8_parts`, and
/// `expf_vec` itself for lanes outside its exact range (or NaN).
#[target_feature(enable = "avx2,fma,f16c")]
#[inline]
fn exp8_row(x: &[f32], i: usize, maxv: __m256) -> __m256 {
    let d = _mm256_sub_ps(ld(x, i), maxv);
    let (y, n) = exp8_parts(d);
    let out = _mm256_or_ps(
        _mm256_cmp_ps::<_CMP_NGE_UQ>(n, _mm256_set1_ps(-126.0)),
        _mm256_cmp_ps::<_CMP_NLE_UQ>(n, _mm256_set1_ps(127.0)),
    );
    if _mm256_movemask_ps(out) == 0 {
        return y;
    }
    let (mut ys, mut ds) = ([0f32; 8], [0f32; 8]);
    st(&mut ds, 0, d);
    for (yl, dl) in ys.iter_mut().zip(ds) {
        *yl = crate::ops::expf_vec(dl);
    }
    ld(&ys, 0)
}

/// `exact::softmax_padded`, bit for bit: the same max, each element's
/// `ops::expf_vec(x - max)` on 8 lanes (lanes whose 2^n is not a normal
/// float, or NaN, recomputed by `expf_vec` itself), each group of 16 summed
/// in `reduce16`'s tree (halves, quarters, pairs: `hsum` of the two 8-lane
/// halves' sum) and the group sums in f64, then one scale.
#[target_feature(enable = "avx2,fma,f16c")]
fn softmax_padded(x: &mut [f32]) {
    let n = x.len();
    // max ignoring NaN, as `f32::max`'s fold (`max_ps` returns its second
    // operand when either is NaN; the sign of a zero max changes no x - max)
    let mut mv = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut i = 0;
    while i + 8 <= n {
        mv = _mm256_max_ps(ld(x, i), mv);
        i += 8;
    }
    let mut lanes = [0f32; 8];
    st(&mut lanes, 0, mv);
    let max = x[i..]
        .iter()
        .chain(&lanes)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    let maxv = _mm256_set1_ps(max);
    let mut sum = 0f64;
    let mut groups = x.chunks_exact_mut(16);
    for g in &mut groups {
        let e = [exp8_row(g, 0, maxv), exp8_row(g, 8, maxv)];
        st(g, 0, e[0]);
        st(g, 8, e[1]);
        sum += hsum(_mm256_add_ps(e[0], e[1])) as f64;
    }
    let g = groups.into_remainder();
    if !g.is_empty() {
        // lanes past the row are 0 in the sum, as in the scalar loop
        let mut buf = [0f32; 16];
        buf[..g.len()].copy_from_slice(g);
        let e = [exp8_row(&buf, 0, maxv), exp8_row(&buf, 8, maxv)];
        st(&mut buf, 0, e[0]);
        st(&mut buf, 8, e[1]);
        buf[g.len()..].fill(0.0);
        g.copy_from_slice(&buf[..g.len()]);
        sum += hsum(_mm256_add_ps(ld(&buf, 0), ld(&buf, 8))) as f64;
    }
    scale(x, (1.0 / sum) as f32);
}

/// s: [n] <- exp(s - m) -> sum of the new s
#[target_feature(enable = "avx2,fma,f16c")]
fn exp_sum(s: &mut [f32], m: f32) -> f32 {
    let mv = _mm256_set1_ps(m);
    let n = s.len();
    let mut acc = _mm256_setzero_ps();
    let mut i = 0;
    while i + 8 <= n {
        let e = exp8(_mm256_sub_ps(ld(s, i), mv));
        st(s, i, e);
        acc = _mm256_add_ps(acc, e);
        i += 8;
    }
    let mut tail = 0.0;
    for x in &mut s[i..] {
        *x = simd::exp(*x - m);
        tail += *x;
    }
    hsum(acc) + tail
}

#[cfg(test)]
mod tests {
    use super::super::simd::SCALAR;
    use super::*;

    #[test]
    fn softmax_is_exact_softmax_padded_bit_for_bit() {
        let Some(t) = table() else { return };
        let mut seed = 7u32;
        let mut next = move || {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
        };
        // spreads up to 200: exponents past -126 (subnormal and zero weights)
        for spread in [0.0, 1.0, 20.0, 90.0, 100.0, 104.0, 200.0] {
            for n in (1..=70).chain([191, 256, 1000]) {
                let mut x: Vec<f32> = (0..n).map(|_| next() * spread).collect();
                if n > 3 {
                    x[n / 3] = f32::NEG_INFINITY;
                }
                let (mut a, mut b) = (x.clone(), x);
                (t.softmax)(&mut a);
                crate::exact::softmax_padded(&mut b);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&a), bits(&b), "spread {spread} n {n}");
            }
        }
        for row in [
            vec![f32::NEG_INFINITY; 5],
            vec![0.0, -0.0, 0.0],
            vec![3.0; 17],
        ] {
            let (mut a, mut b) = (row.clone(), row);
            (t.softmax)(&mut a);
            crate::exact::softmax_padded(&mut b);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b));
        }
    }

    #[test]
    fn exp8_is_bit_identical_to_scalar_exp() {
        let Some(t) = table() else { return };
        let mut xs: Vec<f32> = (0..4000).map(|i| -0.05 * i as f32).collect();
        xs.extend([
            0.0,
            -0.0,
            -87.0,
            -87.5,
            -88.0,
            -100.0,
            f32::NEG_INFINITY,
            1.0,
            3.5,
        ]);
        xs.extend((0..64).map(|i| -(i as f32) * 1.37 - 80.0));
        while !xs.len().is_multiple_of(8) {
            xs.push(-1.0);
        }
        let mut a = xs.clone();
        let mut b = xs.clone();
        (t.exp_sum)(&mut a, 0.0);
        (SCALAR.exp_sum)(&mut b, 0.0);
        for ((x, ya), yb) in xs.iter().zip(&a).zip(&b) {
            assert_eq!(ya.to_bits(), yb.to_bits(), "exp({x}): {ya} vs {yb}");
            let want = (*x as f64).exp();
            // results below 2^-126 flush to zero
            if want > 3e-38 {
                assert!(
                    ((*ya as f64) - want).abs() <= want * 4e-7,
                    "exp({x}) = {ya}, want {want}"
                );
            } else {
                assert!((*ya as f64) < 3.1e-38, "exp({x}) = {ya}");
            }
        }
    }
}
