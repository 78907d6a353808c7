//! The multi-token decode kernels (`Kernels::rows_tokens`, a packed
//! layout's `Packing::tokens`, and `matvec_tokens::matvec_rows_tokens`,
//! which combines them with the single-token kernels) against the table's
//! row dot, bit for bit, for every token of 1..=9 tokens: row counts that
//! leave every remainder of the row pairs and packed groups, weights and
//! activations quantized, raw and extreme, a strided output, activations
//! at an odd address, and (Q8_0 activations) a byte of -128 in one token.

use super::data::{act_row, row, Data, Row};
use super::rng::Rng;
use super::Outcome;
use crate::arch::Kernels;
use crate::matvec_tokens::matvec_rows_tokens;
use crate::ops::QMatrix;
use crate::packed::PackedMatrix;
use crate::quant::{row_bytes, vec_dot_type};
use gguf::GgmlType::{self, *};

/// Token counts checked: every chunk remainder of up to 8 tokens, and one
/// more.
const TOKS: std::ops::RangeInclusive<usize> = 1..=9;

/// The data of weight row `i` and activation row `t`.
const DATA: [Data; 3] = [Data::Quantized, Data::Raw, Data::Extreme];

/// `rows` weight rows (data cycling over `DATA`) and `toks` activation
/// rows (cycling the other way round) of `n` elements.
fn operands(rng: &mut Rng, t: GgmlType, n: usize, rows: usize, toks: usize) -> (Row, Row) {
    let (wb, at) = (row_bytes(t, n), vec_dot_type(t));
    let ab = row_bytes(at, n);
    let mut w = Row::zeroed(rows * wb);
    for (i, c) in w.bytes_mut().chunks_exact_mut(wb).enumerate() {
        c.copy_from_slice(row(rng, t, n, DATA[i % 3]).bytes());
    }
    let mut a = Row::zeroed(toks * ab);
    for (i, c) in a.bytes_mut().chunks_exact_mut(ab).enumerate() {
        c.copy_from_slice(act_row(rng, at, n, DATA[(3 - i % 3) % 3]).bytes());
    }
    (w, a)
}

/// `y[tok * stride + r]` equal bit for bit to `dot(w row r, a row tok)`.
#[allow(clippy::too_many_arguments)]
fn equal_to_dot(
    k: &Kernels,
    t: GgmlType,
    n: usize,
    w: &[u8],
    a: &[u8],
    rows: usize,
    toks: usize,
    y: &[f32],
    stride: usize,
) -> Result<(), String> {
    let dot = k.dot(t).unwrap();
    let (wb, ab) = (row_bytes(t, n), row_bytes(vec_dot_type(t), n));
    for tok in 0..toks {
        for r in 0..rows {
            let want = dot(n, &w[r * wb..][..wb], &a[tok * ab..][..ab]);
            let got = y[tok * stride + r];
            if got.to_bits() != want.to_bits() {
                return Err(format!(
                    "rows={rows} toks={toks} at ({tok}, {r}): {got} vs row dot {want}"
                ));
            }
        }
    }
    Ok(())
}

/// The activation bytes again at an odd address.
fn shifted(a: &[u8]) -> Vec<u8> {
    let mut v = vec![0u8; a.len() + 1];
    v[1..].copy_from_slice(a);
    v
}

/// Sets one quant of activation row `tok` to -128 (Q8_0 activations: the
/// byte the VNNI kernels leave to the row dot).
fn with_i8_min(t: GgmlType, n: usize, a: &mut Row, tok: usize) {
    let ab = row_bytes(Q8_0, n);
    if vec_dot_type(t) == Q8_0 {
        a.bytes_mut()[tok * ab + 2 + 5] = 0x80;
    }
}

/// Elements per row: a few blocks (Q8_K activations: whole super-blocks).
fn cols(t: GgmlType) -> usize {
    3 * t.block_size().max(64)
}

/// Runs `run(w, rows, acts, toks, y, stride)` on every case and checks it.
fn check(
    k: &Kernels,
    t: GgmlType,
    seed: u64,
    row_counts: &[usize],
    run: impl Fn(&[u8], usize, &[u8], usize, &mut [f32], usize),
) -> Outcome {
    let mut rng = Rng(seed);
    let n = cols(t);
    for &rows in row_counts {
        for toks in TOKS {
            let (w, mut a) = operands(&mut rng, t, n, rows, toks);
            let stride = rows + 3;
            let mut y = vec![f32::NAN; toks * stride];
            run(w.bytes(), rows, a.bytes(), toks, &mut y, stride);
            equal_to_dot(k, t, n, w.bytes(), a.bytes(), rows, toks, &y, stride)?;
            let odd = shifted(a.bytes());
            let mut y = vec![f32::NAN; toks * rows];
            run(w.bytes(), rows, &odd[1..], toks, &mut y, rows);
            // (the row dot of some tables takes another order at odd addresses)
            equal_to_dot(k, t, n, w.bytes(), &odd[1..], rows, toks, &y, rows)
                .map_err(|e| format!("misaligned activations: {e}"))?;
            with_i8_min(t, n, &mut a, toks / 2);
            run(w.bytes(), rows, a.bytes(), toks, &mut y, rows);
            equal_to_dot(k, t, n, w.bytes(), a.bytes(), rows, toks, &y, rows)
                .map_err(|e| format!("a byte of -128: {e}"))?;
        }
    }
    Ok(format!("1..={} tokens", TOKS.end()))
}

/// The table's multi-token kernel on the file's layout.
pub(super) fn rows_tokens(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let f = k.rows_tokens(t).unwrap();
    let n = cols(t);
    check(
        k,
        t,
        seed ^ 0x70c,
        &[1, 2, 3, 4, 5, 7, 16, 37],
        |w, rows, a, toks, y, s| f(n, w, rows, a, toks, y, s),
    )
}

/// `matvec_rows_tokens` on a packed matrix (the layout's multi-token
/// kernel for whole groups, the rows past them by the others), from row 0
/// and from a later group to past the last one.
pub(super) fn packed_tokens(k: &'static Kernels, t: GgmlType, seed: u64) -> Outcome {
    let p = k.packing(t).unwrap();
    let n = cols(t);
    let g = p.group;
    let counts = [g, 3 * g + 1, 5 * g + g / 2];
    let out = check(k, t, seed ^ 0x9a7, &counts, |w, rows, a, toks, y, s| {
        let plain = QMatrix::new(t, rows, n, w);
        let m = PackedMatrix::pack(p, plain).unwrap();
        let qm = QMatrix {
            packed: Some(m.view()),
            ..plain
        };
        // two calls: the first group, then the rest
        let first = g.min(rows);
        matvec_rows_tokens(k, qm, a, toks, 0..first, y, s);
        matvec_rows_tokens(k, qm, a, toks, first..rows, &mut y[first..], s);
    })?;
    let kernel = if p.tokens.is_some() {
        "multi-token"
    } else {
        "per token"
    };
    Ok(format!("{} ({kernel}), {out}", p.name))
}

/// `matvec_rows_tokens` on the file's layout, whatever the table has.
pub(super) fn matvec_tokens(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let n = cols(t);
    check(k, t, seed ^ 0x3a1, &[1, 6, 19], |w, rows, a, toks, y, s| {
        let qm = QMatrix::new(t, rows, n, w);
        matvec_rows_tokens(k, qm, a, toks, 0..rows, y, s);
    })
}
