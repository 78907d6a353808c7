//! Timing the decode candidates of one weight type: each runs the same
//! matrix-vector product on a synthetic matrix (a few distinct quantized
//! rows repeated: the kernels have no data-dependent branches, so values
//! only need to be realistic enough to avoid denormals), interleaved over
//! a few rounds after a warm-up round; a candidate's time is its best
//! round.

use super::Candidate;
use crate::arch::{Kernels, RowDotFn};
use crate::quant::{quantize_row, row_bytes, vec_dot_type};
use gguf::GgmlType;
use std::time::Instant;

/// Columns of the synthetic matrix (the hidden size of a 1B model).
const COLS: usize = 2048;
/// Its size: beyond every core's own caches, as decode streams its weights
/// (a matrix past the last-level cache takes too long to time).
pub(super) const BYTES: usize = 16 << 20;
/// Distinct quantized rows (quantizing every row would take longer than
/// the timing).
const DISTINCT: usize = 16;
/// Timed rounds after the warm-up one.
const ROUNDS: usize = 6;

/// Best seconds per product of each candidate, in candidate order
/// (infinite for a type without a row dot). `buf` holds the matrix; pass
/// the same one for every type (its pages are touched once).
pub(super) fn time_candidates(
    k: &Kernels,
    ty: GgmlType,
    cands: &[Candidate],
    buf: &mut Vec<u8>,
) -> Vec<f64> {
    time_on(k, ty, cands, BYTES, buf)
}

/// `time_candidates` on a matrix of about `bytes` bytes.
pub(super) fn time_on(
    k: &Kernels,
    ty: GgmlType,
    cands: &[Candidate],
    bytes: usize,
    buf: &mut Vec<u8>,
) -> Vec<f64> {
    let mut best = vec![f64::INFINITY; cands.len()];
    let Some(dot) = k.dot(ty) else {
        return best;
    };
    let rb = row_bytes(ty, COLS);
    let rows = (bytes / rb).max(DISTINCT) / DISTINCT * DISTINCT;
    let mut distinct = vec![0u8; DISTINCT * rb];
    for (r, out) in distinct.chunks_exact_mut(rb).enumerate() {
        // A failed quantization leaves zeros, as good for timing.
        let _ = quantize_row(ty, &values(COLS, r as u64 + 1), out);
    }
    buf.resize(buf.len().max(rows * rb), 0);
    let w = &mut buf[..rows * rb];
    for chunk in w.chunks_exact_mut(distinct.len()) {
        chunk.copy_from_slice(&distinct);
    }
    let w = &*w;
    let at = vec_dot_type(ty);
    let mut a = vec![0u8; row_bytes(at, COLS)];
    let _ = quantize_row(at, &values(COLS, 99), &mut a);
    let mut y = vec![0f32; rows];
    for round in 0..=ROUNDS {
        for (c, b) in cands.iter().zip(&mut best) {
            let start = Instant::now();
            run(c, dot, COLS, w, &a, &mut y);
            let t = start.elapsed().as_secs_f64();
            std::hint::black_box(&mut y);
            if round > 0 {
                *b = b.min(t);
            }
        }
    }
    best
}

/// One decode product through candidate `c`, as `ops::matvec_rows` runs it.
// w: [y.len(), cols] weight rows, a: [cols] activation blocks -> y
pub(super) fn run(c: &Candidate, dot: RowDotFn, cols: usize, w: &[u8], a: &[u8], y: &mut [f32]) {
    match c.rows {
        Some(f) => f(cols, w, a, y),
        None if y.is_empty() => {}
        None => {
            let rb = w.len() / y.len();
            for (yi, row) in y.iter_mut().zip(w.chunks_exact(rb)) {
                *yi = dot(cols, row, a);
            }
        }
    }
}

/// `n` pseudo-random values in [-1, 1) (xorshift; `seed` > 0).
fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}
