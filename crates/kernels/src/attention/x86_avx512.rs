//! AVX-512 loops of grouped-head attention (query heads of one KV head):
//! AVX2's `dots_n` and `axpys_n` on 16-lane registers. Each 16-lane
//! accumulator holds two of AVX2's 8-lane ones side by side, so every lane
//! sees the same fused multiply-adds in the same order, and the final sums
//! pair the halves as AVX2 pairs its registers: the results are AVX2's bit
//! for bit, with half the instructions and 32 registers for four heads.
//!
//! Soundness: these `#[target_feature]` functions are reached only through
//! `AVX512`, which `table()` hands out only when the CPU has AVX-512
//! (`Isa::Avx512.detected()`: F, BW, VL, VNNI) besides AVX2, FMA and F16C.

use std::arch::x86_64::*;

use half::f16;

use super::simd::{self, AttnOps};
use super::x86_avx2::{self as avx2, AVX2};
use crate::arch::Isa;

/// `AVX2` with the head-group loops on 16 lanes, four heads at a time.
static AVX512: AttnOps = AttnOps {
    isa: Isa::Avx2,
    dots_heads: Some(|q, k, stride, s| {
        // SAFETY: `AVX512` is handed out only when the CPU has AVX-512 and AVX2, FMA, F16C.
        unsafe { dots_heads(q, k, stride, s) }
    }),
    axpys_heads: Some(|o, w, v, stride| {
        // SAFETY: `AVX512` is handed out only when the CPU has AVX-512 and AVX2, FMA, F16C.
        unsafe { axpys_heads(o, w, v, stride) }
    }),
    ..AVX2
};

/// The AVX-512 table if `isa` asks for it and this CPU runs it, else the
/// AVX2 one if the CPU runs that.
pub(super) fn table(isa: Isa) -> Option<&'static AttnOps> {
    if isa == Isa::Avx512 && Isa::Avx512.detected() {
        return Some(&AVX512);
    }
    avx2::table()
}

/// Keys ahead of the one being read whose rows `dots_n` prefetches.
const PF_KEYS: usize = 8;

/// Asks for the `d` f16s of key `j + PF_KEYS` (rows `stride` apart in `k`):
/// in a model step the cache is cold, the weights having streamed through
/// since the layer's last attention. (AVX2's two-head loops gained nothing
/// from it.)
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
fn prefetch_key(k: &[f16], j: usize, stride: usize, d: usize) {
    let ahead = k.as_ptr().wrapping_add((j + PF_KEYS) * stride).cast::<i8>();
    for off in (0..2 * d).step_by(64) {
        // A prefetch is a hint: it never faults, whatever the address.
        _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(off));
    }
}

/// 16 f32s from `v[i..i + 16]`.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
fn ld(v: &[f32], i: usize) -> __m512 {
    let s = &v[i..i + 16];
    // SAFETY: `s` holds 16 f32s (the slice above is bounds-checked); `loadu` is unaligned.
    unsafe { _mm512_loadu_ps(s.as_ptr()) }
}

/// 16 f16s from `v[i..i + 16]`, widened to f32.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
fn ld16(v: &[f16], i: usize) -> __m512 {
    let s = &v[i..i + 16];
    // SAFETY: `s` holds 16 f16s = 32 bytes (bounds-checked above); `loadu` is unaligned.
    _mm512_cvtph_ps(unsafe { _mm256_loadu_si256(s.as_ptr().cast()) })
}

/// Stores 16 f32s to `v[i..i + 16]`.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
fn st(v: &mut [f32], i: usize, x: __m512) {
    let s = &mut v[i..i + 16];
    // SAFETY: `s` holds 16 f32s (bounds-checked above); `storeu` is unaligned.
    unsafe { _mm512_storeu_ps(s.as_mut_ptr(), x) }
}

/// Lanes 0..8 + lanes 8..16: AVX2's `a[m] + a[m + 1]` for the two 8-lane
/// accumulators this register holds.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
fn halves(z: __m512) -> __m256 {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(z)));
    _mm256_add_ps(_mm512_castps512_ps256(z), hi)
}

/// Per head, AVX2's `key_sums` (head_dim a multiple of 32): the 8 lanes
/// `(a0 + a1) + (a2 + a3)`, with `[a0 | a1]` and `[a2 | a3]` in two
/// 16-lane registers.
// register-array loops over heads and lanes, indexed for the unrolling
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
#[inline]
fn key_sums<const N: usize>(q: &[&[f32]; N], kr: &[f16]) -> [__m256; N] {
    let d = kr.len();
    let mut a = [[_mm512_setzero_ps(); 2]; N];
    let mut i = 0;
    while i + 32 <= d {
        for m in 0..2 {
            let kv = ld16(kr, i + 16 * m);
            for h in 0..N {
                a[h][m] = _mm512_fmadd_ps(ld(q[h], i + 16 * m), kv, a[h][m]);
            }
        }
        i += 32;
    }
    std::array::from_fn(|h| _mm256_add_ps(halves(a[h][0]), halves(a[h][1])))
}

/// AVX2's `dots_n` (same bits): 16-lane key sums when head_dim is a
/// multiple of 32, AVX2's loop otherwise.
// q[h]: [d], k: key j at k[j * stride..][..d] -> s[h][j] = q[h]·k_j
// register-array loops over heads, indexed for the unrolling
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn dots_n<const N: usize>(q: &[&[f32]], k: &[f16], stride: usize, s: &mut [&mut [f32]]) {
    let d = q[0].len();
    if !d.is_multiple_of(32) {
        return avx2::dots_n::<N>(q, k, stride, s);
    }
    let q: [&[f32]; N] = std::array::from_fn(|h| &q[h][..d]);
    // AVX2's scalar tail over no elements (added after each sum)
    let empty: f32 = q[0][d..].iter().sum();
    for j in 0..s[0].len() {
        prefetch_key(k, j, stride, d);
        let all = key_sums(&q, &k[j * stride..][..d]);
        for h in 0..N {
            s[h][j] = avx2::hsum(all[h]) + empty;
        }
    }
}

/// AVX2's `axpys_n` (same bits: per output element the same fused
/// multiply-adds in row order) on 16 lanes, 64 elements per pass; the last
/// `d % 64` elements on AVX2's loop.
// o[h]: [d], w[h]: [n], v: row j at v[j * stride..][..d] -> o[h] += sum_j w[h][j] v_j
// register-array loops over heads and lanes, indexed for the unrolling
#[allow(clippy::needless_range_loop)]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn axpys_n<const N: usize>(o: &mut [&mut [f32]], w: &[&[f32]], v: &[f16], stride: usize) {
    let d = o[0].len();
    let n = w[0].len();
    let w: [&[f32]; N] = std::array::from_fn(|h| &w[h][..n]);
    let Some(v) = simd::rows_of(v, n, stride, d) else {
        return;
    };
    let mut i = 0;
    while i + 64 <= d {
        let mut a: [[__m512; 4]; N] = std::array::from_fn(|h| {
            let oh = &o[h][..d];
            std::array::from_fn(|m| ld(oh, i + 16 * m))
        });
        for j in 0..n {
            let wv: [__m512; N] = std::array::from_fn(|h| _mm512_set1_ps(w[h][j]));
            let row = &v[j * stride + i..][..64];
            for m in 0..4 {
                let vv = ld16(row, 16 * m);
                for h in 0..N {
                    a[h][m] = _mm512_fmadd_ps(wv[h], vv, a[h][m]);
                }
            }
        }
        for h in 0..N {
            for m in 0..4 {
                st(o[h], i + 16 * m, a[h][m]);
            }
        }
        i += 64;
    }
    if i < d {
        let mut rest: [&mut [f32]; N] =
            std::array::from_fn(|h| &mut std::mem::take(&mut o[h])[i..]);
        avx2::axpys_n::<N>(&mut rest, &w, &v[i..], stride);
    }
}

/// `dots_n` four heads at a time.
// q[h]: [d] -> s[h][j] = q[h]·k_j
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn dots_heads(q: &[&[f32]], k: &[f16], stride: usize, s: &mut [&mut [f32]]) {
    for (q, s) in q.chunks(4).zip(s.chunks_mut(4)) {
        match q.len() {
            4 => dots_n::<4>(q, k, stride, s),
            3 => dots_n::<3>(q, k, stride, s),
            2 => dots_n::<2>(q, k, stride, s),
            _ => dots_n::<1>(q, k, stride, s),
        }
    }
}

/// `axpys_n` four heads at a time.
// o[h] += sum_j w[h][j] v_j
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn axpys_heads(o: &mut [&mut [f32]], w: &[&[f32]], v: &[f16], stride: usize) {
    for (o, w) in o.chunks_mut(4).zip(w.chunks(4)) {
        match w.len() {
            4 => axpys_n::<4>(o, w, v, stride),
            3 => axpys_n::<3>(o, w, v, stride),
            2 => axpys_n::<2>(o, w, v, stride),
            _ => axpys_n::<1>(o, w, v, stride),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::Rng;

    fn floats(n: usize, seed: u64) -> Vec<f32> {
        let mut rng = Rng(seed);
        (0..n).map(|_| rng.value()).collect()
    }

    fn halfs(n: usize, seed: u64) -> Vec<f16> {
        floats(n, seed).into_iter().map(f16::from_f32).collect()
    }

    /// Every head count, head size (with and without the 32- and 64-lane
    /// remainders) and key count: the AVX-512 loops give AVX2's bits.
    #[test]
    fn head_loops_equal_avx2_bit_for_bit() {
        let (Some(wide), Some(narrow)) = (table(Isa::Avx512), avx2::table()) else {
            return;
        };
        if !Isa::Avx512.detected() {
            return;
        }
        let bits = |x: &[f32]| x.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        for heads in 1..=6 {
            for d in [8, 32, 40, 64, 96, 128, 136, 256] {
                for keys in [1, 7, 8, 9, 17, 33] {
                    let stride = d + 8;
                    let k = halfs(keys * stride, 1);
                    let qs: Vec<Vec<f32>> = (0..heads).map(|h| floats(d, 10 + h as u64)).collect();
                    let q: Vec<&[f32]> = qs.iter().map(|x| &x[..]).collect();
                    let mut got = vec![vec![0f32; keys]; heads];
                    let mut want = got.clone();
                    let mut g: Vec<&mut [f32]> = got.iter_mut().map(|x| &mut x[..]).collect();
                    let mut w: Vec<&mut [f32]> = want.iter_mut().map(|x| &mut x[..]).collect();
                    (wide.dots_heads.unwrap())(&q, &k, stride, &mut g);
                    (narrow.dots_heads.unwrap())(&q, &k, stride, &mut w);
                    for (a, b) in got.iter().zip(&want) {
                        assert_eq!(bits(a), bits(b), "dots {heads} heads d {d} keys {keys}");
                    }

                    let ws: Vec<Vec<f32>> =
                        (0..heads).map(|h| floats(keys, 20 + h as u64)).collect();
                    let wr: Vec<&[f32]> = ws.iter().map(|x| &x[..]).collect();
                    let mut got: Vec<Vec<f32>> =
                        (0..heads).map(|h| floats(d, 30 + h as u64)).collect();
                    let mut want = got.clone();
                    let mut g: Vec<&mut [f32]> = got.iter_mut().map(|x| &mut x[..]).collect();
                    let mut w: Vec<&mut [f32]> = want.iter_mut().map(|x| &mut x[..]).collect();
                    (wide.axpys_heads.unwrap())(&mut g, &wr, &k, stride);
                    (narrow.axpys_heads.unwrap())(&mut w, &wr, &k, stride);
                    for (a, b) in got.iter().zip(&want) {
                        assert_eq!(bits(a), bits(b), "axpys {heads} heads d {d} keys {keys}");
                    }
                }
            }
        }
    }
}
