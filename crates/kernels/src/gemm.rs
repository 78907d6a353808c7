//! Multi-token matrix products (prefill): `Y = X · Wᵀ` computed in tiles.
//!
//! A tile kernel (`arch::GemmFn`) computes a block of weight rows against a
//! block of tokens, decoding each weight block once for several tokens and
//! loading each activation block once for several rows. Tables without tile
//! kernels fall back to their row dot per (row, token). Either way every
//! output is the table's row dot of the same two rows, bit for bit, so the
//! result does not depend on how the work is cut into tiles or threads.

use std::cell::RefCell;
use std::ops::Range;

use crate::arch::{GemmFn, RowDotFn};
use crate::ops::QMatrix;
use crate::quant;
use crate::GgmlType;

/// Weight rows per chunk of `matmul_chunks` (the chunk's weights stay in
/// L1 / L2 while the tokens go by).
pub const CHUNK_ROWS: usize = 64;
/// Tokens per chunk of `matmul_chunks` (their activations stay in L1 / L2
/// while the chunk's rows go by).
pub const CHUNK_TOKS: usize = 32;
/// Tokens per chunk for tile kernels that decode each weight block once per
/// call and reuse it for every token (`Gemm::wide`): the batched k-quant
/// order's AVX-512 panels.
pub const WIDE_CHUNK_TOKS: usize = 128;

/// The matrix product of one weight type in one kernel table, resolved once
/// per matrix by `Kernels::gemm`.
#[derive(Clone, Copy, Debug)]
pub struct Gemm {
    ty: GgmlType,
    dot: RowDotFn,
    tile: Option<GemmFn>,
    chunk_toks: usize,
    /// Whether `matmul_chunks` hands the tile kernel all rows at once.
    all_rows: bool,
}

impl Gemm {
    pub(crate) fn new(ty: GgmlType, dot: RowDotFn, tile: Option<GemmFn>) -> Gemm {
        Gemm {
            ty,
            dot,
            tile,
            chunk_toks: CHUNK_TOKS,
            all_rows: false,
        }
    }

    /// The same product with all weight rows of a `matmul_chunks` call in
    /// each tile-kernel call (`WIDE_CHUNK_TOKS` tokens at a time), for tile
    /// kernels that prepare the activations and weight scales at every
    /// call and cut rows and blocks into cache-sized chunks themselves.
    pub(crate) fn all_rows(mut self) -> Gemm {
        self.all_rows = true;
        self.chunk_toks = WIDE_CHUNK_TOKS;
        self
    }

    /// The same product run on chunks of `WIDE_CHUNK_TOKS` tokens (for tile
    /// kernels whose per-call setup is amortized over the tokens).
    pub(crate) fn wide(mut self) -> Gemm {
        self.chunk_toks = WIDE_CHUNK_TOKS;
        self
    }

    /// Whether a tile kernel (rather than the row dot) does the work.
    pub fn is_tiled(&self) -> bool {
        self.tile.is_some()
    }

    /// `y[t * y_stride + r] = dot(w row r, a row t)` for `r < rows`, `t < toks`.
    ///
    /// w: [rows, n] of the weight type (consecutive rows), a: [toks, n] in
    /// `vec_dot_type` (consecutive rows) -> y[t * y_stride + r].
    /// Panics if a slice is too short.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &self,
        n: usize,
        w: &[u8],
        rows: usize,
        a: &[u8],
        toks: usize,
        y: &mut [f32],
        y_stride: usize,
    ) {
        if rows == 0 || toks == 0 {
            return;
        }
        let wb = quant::row_bytes(self.ty, n);
        let ab = quant::row_bytes(quant::vec_dot_type(self.ty), n);
        assert!(
            w.len() >= rows * wb && a.len() >= toks * ab,
            "gemm: {rows} {} rows / {toks} activation rows of {n} need {} / {} bytes, got {} / {}",
            self.ty,
            rows * wb,
            toks * ab,
            w.len(),
            a.len()
        );
        assert!(
            rows <= y_stride && y.len() >= (toks - 1) * y_stride + rows,
            "gemm: output of {toks} x {rows} (stride {y_stride}) does not fit {} values",
            y.len()
        );
        let (w, a) = (&w[..rows * wb], &a[..toks * ab]);
        match self.tile {
            Some(tile) => tile(n, w, rows, a, toks, y, y_stride),
            None => gemm_by_rows(self.dot, n, w, wb, a, ab, y, y_stride),
        }
    }
}

thread_local! {
    /// Outputs of `Gemm::all_rows` products (grown once per thread).
    static ALL_ROWS_OUT: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `Y = X · Wᵀ` for the weight rows `rows` and all `n` tokens, in chunks of
/// `CHUNK_ROWS` rows x `CHUNK_TOKS` tokens computed into a stack buffer
/// (`Gemm::all_rows`: all the rows x `WIDE_CHUNK_TOKS` tokens, into a buffer of
/// the thread that grows to the largest such chunk once); `put(t, r, v)`
/// receives each piece: `y[t][r..r + v.len()] = v`.
///
/// w: [rows, cols], x_q: [n, act_row_bytes] quantized -> put(t, r, y[t][r..])
pub fn matmul_chunks(
    g: &Gemm,
    w: QMatrix,
    x_q: &[u8],
    n: usize,
    rows: Range<usize>,
    mut put: impl FnMut(usize, usize, &[f32]),
) {
    let (wb, xb) = (w.row_bytes(), w.act_row_bytes());
    let chunk_toks = g.chunk_toks;
    if g.all_rows {
        let nr = rows.len();
        if nr == 0 {
            return;
        }
        let wc = &w.data[rows.start * wb..rows.end * wb];
        return ALL_ROWS_OUT.with_borrow_mut(|buf| {
            buf.resize(buf.len().max(nr * chunk_toks), 0.0);
            for t0 in (0..n).step_by(chunk_toks) {
                let nt = chunk_toks.min(n - t0);
                let xc = &x_q[t0 * xb..(t0 + nt) * xb];
                g.run(w.cols, wc, nr, xc, nt, buf, nr);
                for (t, out) in buf.chunks_exact(nr).take(nt).enumerate() {
                    put(t0 + t, rows.start, out);
                }
            }
        });
    }
    let mut buf = [0f32; CHUNK_ROWS * WIDE_CHUNK_TOKS];
    for r0 in rows.clone().step_by(CHUNK_ROWS) {
        let nr = CHUNK_ROWS.min(rows.end - r0);
        let wc = &w.data[r0 * wb..(r0 + nr) * wb];
        for t0 in (0..n).step_by(chunk_toks) {
            let nt = chunk_toks.min(n - t0);
            let xc = &x_q[t0 * xb..(t0 + nt) * xb];
            g.run(w.cols, wc, nr, xc, nt, &mut buf, CHUNK_ROWS);
            for (t, out) in buf.chunks_exact(CHUNK_ROWS).take(nt).enumerate() {
                put(t0 + t, r0, &out[..nr]);
            }
        }
    }
}

/// The row-dot fallback: weight rows outer, so each row is read once.
///
/// w: [rows, wb bytes], a: [toks, ab bytes] -> y[t * y_stride + r]
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_by_rows(
    dot: RowDotFn,
    n: usize,
    w: &[u8],
    wb: usize,
    a: &[u8],
    ab: usize,
    y: &mut [f32],
    y_stride: usize,
) {
    for (r, wr) in w.chunks_exact(wb).enumerate() {
        for (t, at) in a.chunks_exact(ab).enumerate() {
            y[t * y_stride + r] = dot(n, wr, at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch;
    use crate::ops::tests::pseudo;

    /// Quantized rows of `ty` (weights) and of its activation type.
    pub(crate) fn operands(
        ty: GgmlType,
        rows: usize,
        toks: usize,
        n: usize,
        seed: u32,
    ) -> (Vec<u8>, Vec<u8>) {
        let wb = quant::row_bytes(ty, n);
        let act = quant::vec_dot_type(ty);
        let ab = quant::row_bytes(act, n);
        let wf = pseudo(rows * n, seed);
        let xf = pseudo(toks * n, seed + 1);
        let mut w = vec![0u8; rows * wb];
        for (r, o) in wf.chunks(n).zip(w.chunks_mut(wb)) {
            quant::quantize_row(ty, r, o).unwrap();
        }
        let mut a = vec![0u8; toks * ab];
        for (r, o) in xf.chunks(n).zip(a.chunks_mut(ab)) {
            quant::quantize_row(act, r, o).unwrap();
        }
        (w, a)
    }

    #[test]
    fn every_table_gemm_equals_its_row_dot_bit_for_bit() {
        let mut rng = 7u32;
        for isa in arch::available() {
            let k = arch::table(isa).unwrap();
            for ty in GgmlType::ALL {
                let Some(g) = k.gemm(ty) else {
                    assert!(!quant::has_vec_dot(ty), "{isa}: no gemm for {ty}");
                    continue;
                };
                let dot = k.dot(ty).unwrap();
                let bs = ty.block_size().max(quant::vec_dot_type(ty).block_size());
                rng = rng.wrapping_mul(1664525).wrapping_add(1013904223);
                let random = 2 + (rng >> 24) as usize % 6;
                for (blocks, rows, toks) in [(1, 1, 1), (7, 5, 7), (random, 13, 9), (2, 3, 2)] {
                    let n = blocks * bs;
                    let (w, a) = operands(ty, rows, toks, n, 40 + blocks as u32);
                    let (wb, ab) = (w.len() / rows, a.len() / toks);
                    let stride = rows + 3;
                    let mut y = vec![f32::NAN; toks * stride];
                    g.run(n, &w, rows, &a, toks, &mut y, stride);
                    for t in 0..toks {
                        for r in 0..rows {
                            let want = dot(n, &w[r * wb..(r + 1) * wb], &a[t * ab..(t + 1) * ab]);
                            let got = y[t * stride + r];
                            assert_eq!(
                                got.to_bits(),
                                want.to_bits(),
                                "{isa} {ty} n {n} [{t}, {r}]: {got} vs {want}"
                            );
                        }
                        assert!(y[t * stride + rows..(t + 1) * stride]
                            .iter()
                            .all(|v| v.is_nan()));
                    }
                }
            }
        }
    }

    #[test]
    fn batched_order_tiles_equal_the_batched_dot_bit_for_bit() {
        use crate::quant::batched::{self, MIN_TOKENS};
        for isa in arch::available() {
            let k = arch::table(isa).unwrap();
            for ty in GgmlType::ALL {
                if !batched::has_batched_order(ty) {
                    continue;
                }
                // below the threshold: the row-dot product
                let small = k.gemm_batch(ty, MIN_TOKENS - 1).unwrap();
                let (w, a) = operands(ty, 3, 2, 512, 3);
                let (mut y, mut want) = ([0f32; 6], [0f32; 6]);
                small.run(512, &w, 3, &a, 2, &mut y, 3);
                k.gemm(ty).unwrap().run(512, &w, 3, &a, 2, &mut want, 3);
                assert_eq!(y, want, "{isa} {ty} below {MIN_TOKENS} tokens");

                let g = k.gemm_batch(ty, MIN_TOKENS).unwrap();
                let dot = |n, w: &[u8], a: &[u8]| {
                    if k.batched_lookup.is_some() {
                        batched::dot(ty, n, w, a)
                    } else {
                        k.dot(ty).unwrap()(n, w, a)
                    }
                };
                for (blocks, rows, toks) in [(1, 1, 1), (3, 5, 9), (8, 3, 13), (2, 17, 4)] {
                    let n = blocks * 256;
                    let (w, a) = operands(ty, rows, toks, n, 70 + blocks as u32);
                    let (wb, ab) = (w.len() / rows, a.len() / toks);
                    // misaligned rows: bit-identical only where the batched
                    // order's scalar definition is the fallback (tables without
                    // it fall back to the scalar row dot, another order)
                    let offsets: &[usize] = if k.batched_lookup.is_some() {
                        &[0, 1]
                    } else {
                        &[0]
                    };
                    for &off in offsets {
                        let mut wo = vec![0u8; w.len() + off];
                        wo[off..].copy_from_slice(&w);
                        let mut y = vec![f32::NAN; toks * rows];
                        g.run(n, &wo[off..], rows, &a, toks, &mut y, rows);
                        for t in 0..toks {
                            for r in 0..rows {
                                let want = dot(n, &w[r * wb..][..wb], &a[t * ab..][..ab]);
                                let got = y[t * rows + r];
                                assert_eq!(
                                    got.to_bits(),
                                    want.to_bits(),
                                    "{isa} {ty} n {n} off {off} [{t}, {r}]: {got} vs {want}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn tiles_agree_with_the_scalar_reference() {
        let scalar = arch::scalar();
        for isa in arch::available() {
            let k = arch::table(isa).unwrap();
            for ty in [
                GgmlType::Q8_0,
                GgmlType::Q4_0,
                GgmlType::Q5_0,
                GgmlType::Q4_K,
                GgmlType::Q6_K,
            ] {
                let n = 3 * 256;
                let (rows, toks) = (11, 6);
                let (w, a) = operands(ty, rows, toks, n, 5);
                let mut y = vec![0f32; toks * rows];
                let mut want = vec![0f32; toks * rows];
                k.gemm(ty).unwrap().run(n, &w, rows, &a, toks, &mut y, rows);
                scalar
                    .gemm(ty)
                    .unwrap()
                    .run(n, &w, rows, &a, toks, &mut want, rows);
                for (i, (g, w)) in y.iter().zip(&want).enumerate() {
                    assert!(
                        (g - w).abs() <= 1e-4 * w.abs().max(1.0),
                        "{isa} {ty} #{i}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn misaligned_rows_still_match() {
        for isa in arch::available() {
            let k = arch::table(isa).unwrap();
            for ty in [GgmlType::Q8_0, GgmlType::Q5_0, GgmlType::Q6_K] {
                let n = 2 * 256;
                let (rows, toks) = (6, 5);
                let (w, a) = operands(ty, rows, toks, n, 9);
                let mut wo = vec![0u8; w.len() + 1];
                wo[1..].copy_from_slice(&w);
                let mut y = vec![0f32; toks * rows];
                let mut y2 = vec![0f32; toks * rows];
                let g = k.gemm(ty).unwrap();
                g.run(n, &w, rows, &a, toks, &mut y, rows);
                g.run(n, &wo[1..], rows, &a, toks, &mut y2, rows);
                for (p, q) in y.iter().zip(&y2) {
                    assert!(
                        (p - q).abs() <= 1e-4 * p.abs().max(1.0),
                        "{isa} {ty}: {p} vs {q}"
                    );
                }
            }
        }
    }
}
