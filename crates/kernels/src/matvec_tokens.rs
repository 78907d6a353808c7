//! Decode products of several tokens against one matrix (a batch of single
//! tokens of different sequences): `y[t] = w · x_q[t]`, each token's
//! outputs equal bit for bit to `ops::matvec_rows` of that token alone.
//!
//! Where the table has a multi-token kernel (a packed layout's
//! `Packing::tokens`, else `Kernels::rows_tokens`), each weight block is
//! loaded and unpacked once for several tokens, which then run the single
//! token kernel's integer sums and float steps; elsewhere the single-token
//! kernel runs once per token.

use std::ops::Range;

use crate::arch::Kernels;
use crate::ops::{self, QMatrix};

/// `ops::matvec_rows` for `toks` activation rows: `y[t * y_stride + i]` is
/// the product of weight row `rows.start + i` with activation row `t`.
///
/// w: [rows, cols], x_q: [toks, act_row_bytes] -> y[t * y_stride + i], i < rows.len()
pub fn matvec_rows_tokens(
    k: &Kernels,
    w: QMatrix,
    x_q: &[u8],
    toks: usize,
    rows: Range<usize>,
    y: &mut [f32],
    y_stride: usize,
) {
    let xb = w.act_row_bytes();
    let x_q = &x_q[..toks * xb];
    let m = rows.len();
    if toks == 0 || m == 0 {
        return;
    }
    let mut done = 0;
    if let Some(p) = w.packed {
        if k.packing(w.ty).is_some_and(|q| std::ptr::eq(q, p.packing)) {
            done = p.matvec_rows_tokens(w.cols, x_q, toks, rows.clone(), y, y_stride);
            if done == 0 {
                // no multi-token kernel for the layout, or declined
                return per_token(k, w, x_q, toks, rows, y, y_stride);
            }
        }
    }
    let rest = rows.start + done..rows.end;
    if rest.is_empty() {
        return;
    }
    let y = &mut y[done..];
    match k.rows_tokens(w.ty) {
        Some(f) => {
            let rb = w.row_bytes();
            let wr = &w.data[rest.start * rb..rest.end * rb];
            f(w.cols, wr, rest.len(), x_q, toks, y, y_stride);
        }
        None => per_token(k, w, x_q, toks, rest, y, y_stride),
    }
}

/// `ops::matvec_rows` once per token.
// x_q: [toks, act_row_bytes] -> y[t * y_stride + i], i < rows.len()
fn per_token(
    k: &Kernels,
    w: QMatrix,
    x_q: &[u8],
    toks: usize,
    rows: Range<usize>,
    y: &mut [f32],
    y_stride: usize,
) {
    let xb = w.act_row_bytes();
    let m = rows.len();
    for t in 0..toks {
        let out = &mut y[t * y_stride..][..m];
        ops::matvec_rows(k, w, &x_q[t * xb..(t + 1) * xb], rows.clone(), out);
    }
}

/// The layout whose multi-token kernel runs decode batches of weights of
/// type `ty` in table `k` (a packed layout's name, or `"file layout"`),
/// or `None` where each token runs the single-token kernel (as it does
/// for a packed layout without one).
pub fn kernel_layout(k: &Kernels, ty: crate::GgmlType) -> Option<&'static str> {
    match k.packing(ty) {
        Some(p) => p.tokens.map(|_| p.name),
        None => k.rows_tokens(ty).map(|_| "file layout"),
    }
}
