//! AVX-512 dot products of float rows: F32, F16 (widened with `vcvtph2ps`)
//! and BF16 (widened exactly by a shift; `vdpbf16ps` would flush
//! subnormals). Products are accumulated in f32 over 4 x 16 lanes and the
//! last `len % 16` elements with a masked load, so there is no scalar tail.
//! The scalar reference sums in f64: results match it to about 1e-6 of
//! sum |x * y|.

use std::arch::x86_64::*;

use half::{bf16, f16};

/// Elements per main-loop step: 4 accumulators of 16 lanes.
const STEP: usize = 64;

/// Sums `load(x, i, k) * load(y, i, k)` over 16-element groups (`k` = a
/// lane mask for the last partial group).
macro_rules! float_dot {
    ($x:expr, $y:expr, $load:ident) => {{
        let (x, y) = ($x, $y);
        assert_eq!(x.len(), y.len(), "float dot: length mismatch");
        let n = x.len();
        let all: __mmask16 = 0xFFFF;
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        while i + STEP <= n {
            for (k, a) in acc.iter_mut().enumerate() {
                let j = i + 16 * k;
                *a = _mm512_fmadd_ps($load(&x[j..], all), $load(&y[j..], all), *a);
            }
            i += STEP;
        }
        while i + 16 <= n {
            acc[0] = _mm512_fmadd_ps($load(&x[i..], all), $load(&y[i..], all), acc[0]);
            i += 16;
        }
        if i < n {
            let k: __mmask16 = (1u16 << (n - i)) - 1;
            acc[1] = _mm512_fmadd_ps($load(&x[i..], k), $load(&y[i..], k), acc[1]);
        }
        let s = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        _mm512_reduce_add_ps(s)
    }};
}

/// The first lanes of `v` selected by the low-bits mask `k` (the others 0).
/// Panics unless `v` holds every selected element.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn load_f32(v: &[f32], k: __mmask16) -> __m512 {
    assert!(v.len() >= 16 - k.leading_zeros() as usize);
    // SAFETY: the masked load reads only selected lanes, all within `v`
    // (asserted: `k` is a run of low bits); no alignment requirement.
    unsafe { _mm512_maskz_loadu_ps(k, v.as_ptr()) }
}

/// 16 (or the masked first) f16s widened to f32.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn load_f16(v: &[f16], k: __mmask16) -> __m512 {
    assert!(v.len() >= 16 - k.leading_zeros() as usize);
    // SAFETY: the masked load reads only selected 16-bit lanes, all within `v`
    // (asserted); no alignment requirement.
    let h = unsafe { _mm256_maskz_loadu_epi16(k, v.as_ptr().cast()) };
    _mm512_cvtph_ps(h)
}

/// 16 (or the masked first) bf16s widened to f32 (exact).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
#[inline]
fn load_bf16(v: &[bf16], k: __mmask16) -> __m512 {
    assert!(v.len() >= 16 - k.leading_zeros() as usize);
    // SAFETY: the masked load reads only selected 16-bit lanes, all within `v`
    // (asserted); no alignment requirement.
    let h = unsafe { _mm256_maskz_loadu_epi16(k, v.as_ptr().cast()) };
    _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(h)))
}

/// x: [n] f32, y: [n] f32 -> sum(x * y)
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_f32_f32(x: &[f32], y: &[f32]) -> f32 {
    float_dot!(x, y, load_f32)
}

/// x: [n] f16, y: [n] f16 -> sum(x * y) in f32
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_f16_f16(x: &[f16], y: &[f16]) -> f32 {
    float_dot!(x, y, load_f16)
}

/// x: [n] bf16, y: [n] bf16 -> sum(x * y) in f32
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn vec_dot_bf16_bf16(x: &[bf16], y: &[bf16]) -> f32 {
    float_dot!(x, y, load_bf16)
}
