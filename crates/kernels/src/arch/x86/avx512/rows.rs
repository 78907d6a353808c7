//! The default AVX-512 table's multi-row decode kernels (`Kernels::rows`):
//! `y[i] = dot(row i)` for consecutive weight rows against one activation:
//! two rows per 512-bit register, Q4_K / Q6_K (`rows_kquant`) and Q4_0 /
//! Q5_0 / Q8_0 / Q4_1 / Q5_1 (`rows_legacy`, with `vpdpbusd`), each output
//! equal bit for bit to the table's row dot (the AVX2 kernels, llama.cpp's
//! x86 order).
//! Rows whose bytes are misaligned for their block type, and empty rows,
//! take the row dot one row at a time.

use std::arch::x86_64::*;

use super::{avx2, rows_kquant, rows_legacy};
use crate::arch::rows::cast_rows;
use crate::arch::x86::avx2::legacy::hsum;
use crate::arch::RowsFn;
use crate::blocks::{BlockQ4K, BlockQ6K, BlockQ8K};
use gguf::GgmlType;

/// `P` pairs of weight rows (each `[nb]` blocks): row A of pair `p` is
/// `x[p][0]`, row B `x[p][1]`.
pub(super) type Pairs<'a, B, const P: usize> = [[&'a [B]; 2]; P];

/// The multi-row kernel of weights of type `w`, if there is one.
pub(super) fn lookup(w: GgmlType) -> Option<RowsFn> {
    use GgmlType::*;
    Some(match w {
        Q4_K => rows_q4_k,
        Q6_K => rows_q6_k,
        Q4_0 => rows_legacy::rows_q4_0,
        Q5_0 => rows_legacy::rows_q5_0,
        Q8_0 => rows_legacy::rows_q8_0,
        Q4_1 => rows_legacy::rows_q4_1,
        Q5_1 => rows_legacy::rows_q5_1,
        _ => return None,
    })
}

/// Rows 4 at a time (two pairs), then 2, then the last one paired with
/// itself. `two(pairs)` / `one(pair)` run the typed kernel.
// x: [rows * nb] blocks -> out: [rows]
#[inline(always)]
fn by_pairs<B>(
    x: &[B],
    nb: usize,
    out: &mut [f32],
    two: impl Fn(Pairs<'_, B, 2>, usize) -> [[f32; 2]; 2],
    one: impl Fn(Pairs<'_, B, 1>, usize) -> [[f32; 2]; 1],
) {
    // Prefetch the next group's blocks: 4 rows further on.
    let ahead = 4 * nb * size_of::<B>();
    let mut quads = out.chunks_exact_mut(4);
    let mut rows = x.chunks_exact(nb);
    for o in &mut quads {
        let r: [&[B]; 4] = std::array::from_fn(|_| rows.next().expect("row count"));
        let [[a, b], [c, d]] = two([[r[0], r[1]], [r[2], r[3]]], ahead);
        o.copy_from_slice(&[a, b, c, d]);
    }
    let rest = quads.into_remainder();
    let mut pairs = rest.chunks_exact_mut(2);
    for o in &mut pairs {
        let (a, b) = (
            rows.next().expect("row count"),
            rows.next().expect("row count"),
        );
        let [[ya, yb]] = one([[a, b]], ahead);
        o.copy_from_slice(&[ya, yb]);
    }
    if let [o] = pairs.into_remainder() {
        let a = rows.next().expect("row count");
        *o = one([[a, a]], ahead)[0][0];
    }
}

/// One byte-level rows kernel per type: casts the rows and runs the typed
/// pair kernel `$m::$f` over them.
macro_rules! rows_fn {
    ($name:ident, $ty:ident, $w:ty, $a:ty, $m:ident::$f:ident) => {
        // w: [y.len() * row_bytes($ty, n)], a: [row_bytes(vec_dot_type($ty), n)] -> y
        pub(super) fn $name(n: usize, w: &[u8], a: &[u8], y: &mut [f32]) {
            let dot = avx2::dot(GgmlType::$ty).expect("row dot of a type with a rows kernel");
            cast_rows(
                GgmlType::$ty,
                n,
                w,
                a,
                y,
                dot,
                |x: &[$w], nb, act: &[$a], y| {
                    by_pairs(
                        x,
                        nb,
                        y,
                        // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were
                        // detected before the AVX-512 table was handed out.
                        |p, d| unsafe { $m::$f::<2>(p, act, d) },
                        // SAFETY: as above.
                        |p, d| unsafe { $m::$f::<1>(p, act, d) },
                    )
                },
            )
        }
    };
}

rows_fn!(rows_q4_k, Q4_K, BlockQ4K, BlockQ8K, rows_kquant::q4_k);
rows_fn!(rows_q6_k, Q6_K, BlockQ6K, BlockQ8K, rows_kquant::q6_k);

/// Two rows' 32 bytes: `a` in the low 256 bits, `b` in the high.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn pair_u8x32(a: &[u8; 32], b: &[u8; 32]) -> __m512i {
    // SAFETY: `a` and `b` are 32 readable bytes each; `loadu` has no
    // alignment requirement.
    let (lo, hi) = unsafe {
        (
            _mm256_loadu_si256(a.as_ptr().cast()),
            _mm256_loadu_si256(b.as_ptr().cast()),
        )
    };
    _mm512_inserti64x4::<1>(_mm512_castsi256_si512(lo), hi)
}

/// `[a; 8]` in the low 256 bits, `[b; 8]` in the high.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn pair_ps(a: f32, b: f32) -> __m512 {
    let lo = _mm256_castps_pd(_mm256_set1_ps(a));
    let hi = _mm256_castps_pd(_mm256_set1_ps(b));
    _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi))
}

/// The AVX2 kernels' horizontal sum of each 256-bit half: [low, high].
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn hsum_pair(v: __m512) -> [f32; 2] {
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(v)));
    [hsum(_mm512_castps512_ps256(v)), hsum(hi)]
}

/// The i16 `shuffle_epi8` selector of 16-bit element `i` (0..8) of a
/// 128-bit lane.
pub(super) const fn pick16(i: usize) -> i16 {
    let lo = 2 * i as i16;
    lo | ((lo + 1) << 8)
}

/// Hints the caches to fetch the block `ahead` bytes past `x` (a block of
/// a row further on; past the matrix's end the hint is simply wasted).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn prefetch<B>(x: &B, ahead: usize) {
    let p = (x as *const B).cast::<i8>().wrapping_add(ahead);
    for off in (0..size_of::<B>()).step_by(64) {
        // A prefetch is a hint: it never faults, whatever the address.
        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off));
    }
}
