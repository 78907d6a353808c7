//! The simd128 multi-row decode kernels (`Kernels::rows`): `y[i] = dot(row
//! i)` for consecutive weight rows against one activation row, several
//! rows per loop so each activation block is loaded and prepared once for
//! all of them (`legacy_rows`, `rows_kquant`). Every output equals the
//! table's row dot bit for bit (the row dots run the same code on one row).
//! Rows whose bytes are misaligned for their block type, and empty rows,
//! take the row dot one row at a time. The prefill tiles (`gemm_lookup`)
//! run the rows kernels once per token.

use core::arch::wasm32::*;

use super::legacy::Masks;
use super::legacy_rows::{dot_rows4, Prepared, Q8Weights};
use super::rows_kquant;
use crate::arch::rows::cast_rows;
use crate::arch::{GemmFn, RowsFn};
use crate::blocks::{BlockQ4K, BlockQ4_0, BlockQ5_0, BlockQ6K, BlockQ8K, BlockQ8_0};
use crate::quant::{row_bytes, vec_dot_type};
use gguf::GgmlType;

/// Rows per group of the Q8_0-activation kernels (one f32x4 lane each).
const GROUP: usize = 4;

/// The multi-row kernel of weights of type `w`, if there is one.
pub(super) fn lookup(w: GgmlType) -> Option<RowsFn> {
    use GgmlType::*;
    Some(match w {
        Q4_0 => rows_q4_0,
        Q5_0 => rows_q5_0,
        Q8_0 => rows_q8_0,
        Q4_K => rows_q4_k,
        Q6_K => rows_q6_k,
        _ => return None,
    })
}

/// Activation blocks prepared at a time (`Prepared`, about 100 bytes
/// each, on the stack).
const CHUNK: usize = 64;

/// Rows `GROUP` at a time through `dot_rows4`. A group takes one row from
/// each quarter of the matrix (rows q, q + m, q + 2m, q + 3m for m = rows
/// / 4), so that the kernel reads four sequential streams: wasm has no
/// prefetch instruction, and the hardware prefetchers follow four
/// ascending streams but not four rows interleaved block by block (which
/// ran the 178 MB Gemma output head at half the speed of one row at a
/// time). The last `rows % 4` rows make one group, padded with copies of
/// its last row (their lanes dropped). The activation blocks are prepared
/// `CHUNK` at a time, once for all the groups; a row longer than a chunk
/// carries its running sum in `y` from chunk to chunk, which adds the
/// blocks in the same order as one pass.
// x: [y.len() * nb] blocks, act: [nb] Q8_0 blocks -> y: [y.len()]
#[inline(always)]
fn q8_groups<W: Q8Weights>(x: &[W], nb: usize, act: &[BlockQ8_0], y: &mut [f32]) {
    let k = Masks::new();
    let m = y.len() / GROUP;
    let rest = GROUP * m..y.len();
    let mut prep = [Prepared::ZERO; CHUNK];
    for (c, acts) in act.chunks(CHUNK).enumerate() {
        for (p, b) in prep.iter_mut().zip(acts) {
            *p = Prepared::new::<W>(b, &k);
        }
        let prep = &prep[..acts.len()];
        let blocks = c * CHUNK..c * CHUNK + acts.len();
        let row = |r: usize| &x[r * nb..(r + 1) * nb][blocks.clone()];
        let start = |y: &[f32], r: [usize; GROUP]| {
            if c == 0 {
                f32x4_splat(0.0)
            } else {
                f32x4(y[r[0]], y[r[1]], y[r[2]], y[r[3]])
            }
        };
        // rows r of one group: lane i to y[r[i]] for the first `keep` lanes
        let group = |y: &mut [f32], r: [usize; GROUP], keep: usize| {
            let v = dot_rows4(r.map(row), prep, start(y, r));
            let lanes = [
                f32x4_extract_lane::<0>(v),
                f32x4_extract_lane::<1>(v),
                f32x4_extract_lane::<2>(v),
                f32x4_extract_lane::<3>(v),
            ];
            for (&i, l) in r.iter().zip(lanes).take(keep) {
                y[i] = l;
            }
        };
        for q in 0..m {
            group(y, [q, q + m, q + 2 * m, q + 3 * m], GROUP);
        }
        if !rest.is_empty() {
            let last = rest.end - 1;
            group(
                y,
                [0, 1, 2, 3].map(|i| (rest.start + i).min(last)),
                rest.len(),
            );
        }
    }
}

/// One byte-level rows kernel per type: casts the rows and runs `$run`
/// (the typed kernel over all rows) on them.
macro_rules! rows_fn {
    ($name:ident, $ty:ident, $w:ty, $a:ty, $run:path) => {
        // w: [y.len() * row_bytes($ty, n)], a: [row_bytes(vec_dot_type($ty), n)] -> y
        fn $name(n: usize, w: &[u8], a: &[u8], y: &mut [f32]) {
            let dot = super::dot(GgmlType::$ty).expect("row dot of a type with a rows kernel");
            cast_rows(
                GgmlType::$ty,
                n,
                w,
                a,
                y,
                dot,
                |x: &[$w], nb, act: &[$a], y| $run(x, nb, act, y),
            )
        }
    };
}

rows_fn!(rows_q4_0, Q4_0, BlockQ4_0, BlockQ8_0, q8_groups);
rows_fn!(rows_q5_0, Q5_0, BlockQ5_0, BlockQ8_0, q8_groups);
rows_fn!(rows_q8_0, Q8_0, BlockQ8_0, BlockQ8_0, q8_groups);
rows_fn!(rows_q4_k, Q4_K, BlockQ4K, BlockQ8K, rows_kquant::rows_q4_k);
rows_fn!(rows_q6_k, Q6_K, BlockQ6K, BlockQ8K, rows_kquant::rows_q6_k);

/// The prefill tile kernel (`Kernels::gemm`) of weights of type `w`, if
/// there is one: the rows kernel once per token (so every output equals
/// the row dot bit for bit, as the rows kernels do).
pub(super) fn gemm_lookup(w: GgmlType) -> Option<GemmFn> {
    use GgmlType::*;
    Some(match w {
        Q4_0 => gemm_q4_0,
        Q5_0 => gemm_q5_0,
        Q8_0 => gemm_q8_0,
        Q4_K => gemm_q4_k,
        Q6_K => gemm_q6_k,
        _ => return None,
    })
}

/// One tile kernel per type: `$rows` for each token.
macro_rules! gemm_fn {
    ($name:ident, $ty:ident, $rows:ident) => {
        // w: [rows, n] $ty, a: [toks, n] vec_dot_type -> y[t * y_stride + r]
        fn $name(
            n: usize,
            w: &[u8],
            rows: usize,
            a: &[u8],
            toks: usize,
            y: &mut [f32],
            y_stride: usize,
        ) {
            let ab = row_bytes(vec_dot_type(GgmlType::$ty), n);
            for t in 0..toks {
                let out = &mut y[t * y_stride..t * y_stride + rows];
                $rows(n, w, &a[t * ab..(t + 1) * ab], out);
            }
        }
    };
}

gemm_fn!(gemm_q4_0, Q4_0, rows_q4_0);
gemm_fn!(gemm_q5_0, Q5_0, rows_q5_0);
gemm_fn!(gemm_q8_0, Q8_0, rows_q8_0);
gemm_fn!(gemm_q4_k, Q4_K, rows_q4_k);
gemm_fn!(gemm_q6_k, Q6_K, rows_q6_k);
