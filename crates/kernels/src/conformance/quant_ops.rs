//! The quantized ops of a kernel table against the scalar reference:
//! row dots, activation quantizers, tile products (prefill, batched
//! order), multi-row, multi-token (`tokens_ops`) and repacked decode
//! kernels and every decode candidate of the calibration.
//!
//! Bounds: a dot's integer block sums are exact everywhere, only the f32
//! summation order may differ, so random rows are held to
//! |got − want| ≤ 1e-5 · Σ|w_i·a_i| + 1e-30 and unit-scaled rows (integer
//! results) to exact equality. Kernels documented as equal to the table's
//! row dot bit for bit (tiles, multi-row, packed, candidates) are held to
//! that; quantizers must write the reference's bytes.

use super::data::{self, act_row, constant_acts, magnitude, row, unit_scales, Data, Row};
use super::rng::Rng;
use super::{tokens_ops, Outcome, Report};
use crate::arch::Kernels;
use crate::ops::{self, QMatrix};
use crate::packed::PackedMatrix;
use crate::quant::{self, batched, row_bytes, vec_dot_type};
use gguf::GgmlType::{self, *};

/// Every quantized op of table `k` (named `name`) for every type.
pub(super) fn run(name: &str, k: &'static Kernels, report: &mut Report) {
    let missing: Vec<_> = GgmlType::ALL
        .into_iter()
        .filter(|&t| k.dot(t).is_some() != quant::has_vec_dot(t))
        .collect();
    let coverage = if missing.is_empty() {
        Ok("a row dot for every type that has one".into())
    } else {
        Err(format!(
            "row dots disagree with quant::has_vec_dot for {missing:?}"
        ))
    };
    report.record("coverage", name, coverage);
    for (i, t) in data::DOT_TYPES.into_iter().enumerate() {
        let seed = 0xC0DE + 97 * i as u64;
        let Some(_) = k.dot(t) else {
            report.record(format!("dot {t}"), name, Err("no row dot".into()));
            continue;
        };
        report.record(format!("dot {t}"), name, dot_random(k, t, seed));
        report.record(format!("dot-unit {t}"), name, dot_unit(k, t, seed));
        if t.block_size() > 1 {
            report.record(format!("dot-extreme {t}"), name, dot_extreme_quants(k, t));
        }
        report.record(
            format!("dot-misaligned {t}"),
            name,
            dot_misaligned(k, t, seed),
        );
        report.record(format!("gemm {t}"), name, gemm(k, t, seed));
        if batched::has_batched_order(t) {
            report.record(format!("gemm-batch {t}"), name, gemm_batch(k, t, seed));
        }
        if k.rows(t).is_some() {
            report.record(format!("rows {t}"), name, rows(k, t, seed));
        }
        if k.decode_candidates.is_some_and(|c| !c(t).is_empty()) {
            report.record(format!("candidates {t}"), name, candidates(k, t, seed));
        }
        if k.packing(t).is_some() {
            report.record(format!("packed {t}"), name, packed(k, t, seed));
            let r = tokens_ops::packed_tokens(k, t, seed);
            report.record(format!("packed-tokens {t}"), name, r);
        }
        if k.rows_tokens(t).is_some() {
            let r = tokens_ops::rows_tokens(k, t, seed);
            report.record(format!("rows-tokens {t}"), name, r);
        }
        let r = tokens_ops::matvec_tokens(k, t, seed);
        report.record(format!("matvec-tokens {t}"), name, r);
    }
    for (i, t) in [Q8_0, Q8_1, Q8_K].into_iter().enumerate() {
        report.record(
            format!("quantize {t}"),
            name,
            quantize(k, t, 0xA11 + i as u64),
        );
    }
}

/// Block counts of a row: 1, 7 and a random one.
fn block_counts(rng: &mut Rng) -> [usize; 3] {
    [1, 7, 2 + rng.below(60)]
}

/// Row lengths for `nb` blocks of `t` (float rows also at lengths that
/// exercise every loop's tail).
fn lengths(t: GgmlType, nb: usize) -> Vec<usize> {
    if t.block_size() == 1 {
        vec![nb, nb * 32 + 5, nb * 64]
    } else {
        vec![nb * t.block_size()]
    }
}

/// `got` against the scalar `want` of the same rows, within the rounding
/// bound; returns the relative error.
fn close(t: GgmlType, n: usize, w: &[u8], a: &[u8], got: f32, what: &str) -> Result<f64, String> {
    let want = quant::vec_dot(t, n, w, a);
    let mag = magnitude(t, n, w, a);
    let err = (got as f64 - want as f64).abs();
    if err > 1e-5 * mag + 1e-30 || got.is_nan() != want.is_nan() {
        return Err(format!(
            "n={n} {what}: {got} vs scalar {want} (|err| {err:e}, Σ|w·a| {mag:e})"
        ));
    }
    Ok(err / mag.max(f64::MIN_POSITIVE))
}

/// Random rows in every data combination, through `dot` and `vec_dot`.
fn dot_random(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let mut rng = Rng(seed);
    let at = vec_dot_type(t);
    let dot = k.dot(t).unwrap();
    let mut worst = 0f64;
    for nb in block_counts(&mut rng) {
        for n in lengths(t, nb) {
            for (wd, ad) in [
                (Data::Quantized, Data::Quantized),
                (Data::Raw, Data::Quantized),
                (Data::Raw, Data::Raw),
                (Data::Extreme, Data::Raw),
                (Data::Raw, Data::Extreme),
            ] {
                let w = row(&mut rng, t, n, wd);
                let a = act_row(&mut rng, at, n, ad);
                let got = dot(n, w.bytes(), a.bytes());
                let via = (k.vec_dot)(t, n, w.bytes(), a.bytes());
                if got.to_bits() != via.to_bits() {
                    return Err(format!("n={n}: dot {got} but vec_dot {via}"));
                }
                worst = worst.max(close(
                    t,
                    n,
                    w.bytes(),
                    a.bytes(),
                    got,
                    &format!("{wd:?}/{ad:?}"),
                )?);
            }
        }
        if dot(0, &[], &[]) != 0.0 {
            return Err("an empty row does not give 0".into());
        }
    }
    Ok(format!("worst relative error {worst:.1e}"))
}

/// Unit scales: integer results, equal to the scalar ones exactly.
fn dot_unit(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let mut rng = Rng(seed ^ 0x0417);
    let dot = k.dot(t).unwrap();
    for nb in [1, 7] {
        for n in lengths(t, nb) {
            for _ in 0..4 {
                let w = row(&mut rng, t, n, Data::Unit);
                let a = act_row(&mut rng, vec_dot_type(t), n, Data::Unit);
                let want = quant::vec_dot(t, n, w.bytes(), a.bytes());
                let got = dot(n, w.bytes(), a.bytes());
                if got != want || want.fract() != 0.0 {
                    return Err(format!("n={n}: {got} vs exact {want}"));
                }
            }
        }
    }
    Ok("exact".into())
}

/// Every weight byte 0xFF, 0x00 or 0x80 (quants and packed scales at their
/// ends; Q6_K scales of -128), activations all at their lowest (Q8_K:
/// -128, Q8_0 / Q8_1: -127, see `data::act_row`) or 127, unit scales:
/// integer results, equal exactly.
fn dot_extreme_quants(k: &Kernels, t: GgmlType) -> Outcome {
    let at = vec_dot_type(t);
    let n = 2 * t.block_size() + if at == Q8_K { 0 } else { 32 };
    let low = if at == Q8_K { -128i8 } else { -127 };
    for (wbyte, q8) in [0xFFu8, 0x00, 0x80]
        .into_iter()
        .flat_map(|b| [(b, low), (b, 127)])
    {
        let mut w = Row::zeroed(row_bytes(t, n));
        w.bytes_mut().fill(wbyte);
        unit_scales(&mut w, t);
        let a = constant_acts(at, n, q8);
        let want = quant::vec_dot(t, n, w.bytes(), a.bytes());
        let got = k.dot(t).unwrap()(n, w.bytes(), a.bytes());
        if got != want {
            return Err(format!(
                "weight bytes {wbyte:#x}, activations {q8}: {got} vs {want}"
            ));
        }
    }
    Ok("exact".into())
}

/// Rows at an odd address and longer than `n` give the scalar result.
fn dot_misaligned(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let mut rng = Rng(seed ^ 0x0dd);
    let at = vec_dot_type(t);
    let n = 3 * t.block_size().max(32);
    let w = row(&mut rng, t, 2 * n, Data::Quantized);
    let a = act_row(&mut rng, at, 2 * n, Data::Quantized);
    let shift = |r: &Row| {
        let mut v = vec![0u8; r.bytes().len() + 1];
        v[1..].copy_from_slice(r.bytes());
        v
    };
    let (ws, as_) = (shift(&w), shift(&a));
    let got = k.dot(t).unwrap()(n, &ws[1..], &as_[1..]);
    let (wn, an) = (
        &w.bytes()[..row_bytes(t, n)],
        &a.bytes()[..row_bytes(at, n)],
    );
    let e = close(t, n, wn, an, got, "misaligned")?;
    // Rows longer than n elements: only the first n count.
    let aligned = k.dot(t).unwrap()(n, wn, an);
    let long = k.dot(t).unwrap()(n, w.bytes(), a.bytes());
    if long.to_bits() != aligned.to_bits() {
        return Err(format!("n={n}: a longer row gives {long}, not {aligned}"));
    }
    Ok(format!("relative error {e:.1e}"))
}

/// `rows` weight rows and `toks` activation rows of `n` elements.
fn operands(rng: &mut Rng, t: GgmlType, n: usize, rows: usize, toks: usize) -> (Row, Row) {
    let mut w = Row::zeroed(rows * row_bytes(t, n));
    for (i, c) in w.bytes_mut().chunks_exact_mut(row_bytes(t, n)).enumerate() {
        let d = if i % 3 == 2 {
            Data::Raw
        } else {
            Data::Quantized
        };
        c.copy_from_slice(row(rng, t, n, d).bytes());
    }
    let at = vec_dot_type(t);
    let mut a = Row::zeroed(toks * row_bytes(at, n));
    for c in a.bytes_mut().chunks_exact_mut(row_bytes(at, n)) {
        c.copy_from_slice(act_row(rng, at, n, Data::Quantized).bytes());
    }
    (w, a)
}

/// Elements per row for the matrix ops: a few blocks (floats: a length
/// with a tail).
fn matrix_cols(t: GgmlType) -> usize {
    if t.block_size() == 1 {
        200
    } else {
        3 * t.block_size().max(64)
    }
}

/// `y[tok][r]` equal bit for bit to `dot(w row r, a row tok)`.
#[allow(clippy::too_many_arguments)]
fn equal_to_dot(
    dot: crate::arch::RowDotFn,
    t: GgmlType,
    n: usize,
    w: &Row,
    a: &Row,
    rows: usize,
    toks: usize,
    y: &[f32],
    stride: usize,
) -> Result<(), String> {
    let (wb, ab) = (row_bytes(t, n), row_bytes(vec_dot_type(t), n));
    for tok in 0..toks {
        for r in 0..rows {
            let want = dot(n, &w.bytes()[r * wb..][..wb], &a.bytes()[tok * ab..][..ab]);
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

/// The prefill product (`Kernels::gemm`) equals the row dot bit for bit.
fn gemm(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let mut rng = Rng(seed ^ 0x6e);
    let n = matrix_cols(t);
    let g = k.gemm(t).unwrap();
    for (rows, toks) in [(37, 1), (37, 5), (70, 16), (9, 33)] {
        let (w, a) = operands(&mut rng, t, n, rows, toks);
        let stride = rows + 3;
        let mut y = vec![f32::NAN; toks * stride];
        g.run(n, w.bytes(), rows, a.bytes(), toks, &mut y, stride);
        equal_to_dot(k.dot(t).unwrap(), t, n, &w, &a, rows, toks, &y, stride)?;
    }
    Ok(if g.is_tiled() { "tiled" } else { "row dots" }.into())
}

/// The batch product (`Kernels::gemm_batch`) of k-quants: the batched
/// order (`quant::batched::dot`) bit for bit on tables that have it, the
/// row dot on the others, and the batched order itself within the bound
/// of the scalar dot.
fn gemm_batch(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let mut rng = Rng(seed ^ 0xba);
    let n = matrix_cols(t);
    let batched_order = k.batched_lookup.is_some();
    for toks in [batched::MIN_TOKENS, 19] {
        let rows = 21;
        let (w, a) = operands(&mut rng, t, n, rows, toks);
        let mut y = vec![f32::NAN; toks * rows];
        k.gemm_batch(t, toks)
            .unwrap()
            .run(n, w.bytes(), rows, a.bytes(), toks, &mut y, rows);
        let reference: crate::arch::RowDotFn = if batched_order {
            crate::arch::batched_dot(t).unwrap()
        } else {
            k.dot(t).unwrap()
        };
        equal_to_dot(reference, t, n, &w, &a, rows, toks, &y, rows)?;
        let (wb, ab) = (row_bytes(t, n), row_bytes(vec_dot_type(t), n));
        for (i, &v) in y.iter().enumerate() {
            let (tok, r) = (i / rows, i % rows);
            let (wr, ar) = (&w.bytes()[r * wb..][..wb], &a.bytes()[tok * ab..][..ab]);
            close(t, n, wr, ar, v, "batched order")?;
        }
    }
    Ok(if batched_order {
        "batched order"
    } else {
        "row-dot order"
    }
    .into())
}

/// The multi-row decode kernel (`Kernels::rows`) equals the row dot.
fn rows(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let f = k.rows(t).unwrap();
    rows_fn(k, t, seed, f)
}

/// Every decode candidate of the calibration equals the row dot.
fn candidates(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let list = (k.decode_candidates.unwrap())(t);
    for c in list {
        if let Some(f) = c.rows {
            rows_fn(k, t, seed, f).map_err(|e| format!("{}: {e}", c.name))?;
        }
    }
    let names: Vec<_> = list.iter().map(|c| c.name).collect();
    Ok(names.join(", "))
}

/// A `RowsFn`-shaped kernel over row counts that leave every remainder.
fn rows_fn(
    k: &Kernels,
    t: GgmlType,
    seed: u64,
    f: impl Fn(usize, &[u8], &[u8], &mut [f32]),
) -> Outcome {
    let mut rng = Rng(seed ^ 0x40);
    let n = matrix_cols(t);
    for rows in [1, 4, 7, 16, 37] {
        let (w, a) = operands(&mut rng, t, n, rows, 1);
        let mut y = vec![f32::NAN; rows];
        f(n, w.bytes(), a.bytes(), &mut y);
        equal_to_dot(k.dot(t).unwrap(), t, n, &w, &a, rows, 1, &y, rows)?;
    }
    Ok(String::new())
}

/// The repacked layout (`Kernels::packing`) through `ops::matvec_rows`,
/// whole groups and the rows past them, from row 0 and from a later group.
fn packed(k: &'static Kernels, t: GgmlType, seed: u64) -> Outcome {
    let mut rng = Rng(seed ^ 0x9a);
    let p = k.packing(t).unwrap();
    let n = matrix_cols(t);
    let rows = 3 * p.group + 3;
    let (w, a) = operands(&mut rng, t, n, rows, 1);
    let plain = QMatrix::new(t, rows, n, w.bytes());
    let m = PackedMatrix::pack(p, plain).map_err(|e| e.to_string())?;
    let qm = QMatrix {
        packed: Some(m.view()),
        ..plain
    };
    let mut y = vec![f32::NAN; rows];
    ops::matvec_rows(k, qm, a.bytes(), 0..rows, &mut y);
    equal_to_dot(k.dot(t).unwrap(), t, n, &w, &a, rows, 1, &y, rows)?;
    let from = p.group;
    let mut part = vec![f32::NAN; rows - from];
    ops::matvec_rows(k, qm, a.bytes(), from..rows, &mut part);
    if part
        .iter()
        .zip(&y[from..])
        .any(|(a, b)| a.to_bits() != b.to_bits())
    {
        return Err(format!("rows {from}.. differ from the whole product"));
    }
    Ok(p.name.into())
}

/// The table's activation quantizer writes the reference's bytes (every
/// byte: the output starts as garbage), on random rows at three scales and
/// on edge blocks.
fn quantize(k: &Kernels, t: GgmlType, seed: u64) -> Outcome {
    let mut rng = Rng(seed);
    let mut rows: Vec<(String, Vec<f32>)> = Vec::new();
    for nb in block_counts(&mut rng) {
        let n = nb * t.block_size();
        for scale in [1.0f32, 1e-3, 3e4, 1e-30] {
            let x = (0..n).map(|_| scale * rng.value()).collect();
            rows.push((format!("n={n} scale {scale:e}"), x));
        }
    }
    let edges = edge_blocks(&mut rng, t.block_size());
    rows.push((
        "all edge blocks in one row".into(),
        edges.iter().flat_map(|(_, x)| x.iter().copied()).collect(),
    ));
    rows.extend(edges);
    rows.push(("empty".into(), Vec::new()));
    for (what, x) in &rows {
        let mut want = Row::zeroed(row_bytes(t, x.len()));
        let mut got = Row::zeroed(row_bytes(t, x.len()));
        got.bytes_mut().fill(0xA5);
        quant::quantize_row(t, x, want.bytes_mut()).map_err(|e| e.to_string())?;
        (k.quantize_row)(t, x, got.bytes_mut()).map_err(|e| e.to_string())?;
        if let Some(i) = (0..want.bytes().len()).find(|&i| got.bytes()[i] != want.bytes()[i]) {
            return Err(format!(
                "{what}: byte {i} is {:#04x}, the reference's {:#04x}",
                got.bytes()[i],
                want.bytes()[i]
            ));
        }
    }
    let short = (k.quantize_row)(t, &vec![1.0; t.block_size() - 1], &mut [0u8; 400]);
    if short.is_ok() {
        return Err("a row of less than one block is not an error".into());
    }
    Ok(format!("same bytes ({} rows)", rows.len()))
}

/// One block (`bs` values) of each case a quantizer's maximum search and
/// rounding can get wrong.
fn edge_blocks(rng: &mut Rng, bs: usize) -> Vec<(String, Vec<f32>)> {
    let mut v: Vec<(String, Vec<f32>)> = vec![
        ("zeros".into(), vec![0.0; bs]),
        ("negative zeros".into(), vec![-0.0; bs]),
    ];
    // A scale of exactly 1 (max 127): every other quant a tie to round.
    let mut ties: Vec<f32> = (0..bs)
        .map(|i| (i as f32 - bs as f32 / 2.0) / 2.0)
        .collect();
    ties[bs - 3] = -127.0;
    v.push(("ties".into(), ties));
    // Equal magnitudes of both signs: the first sets the sign of d.
    for sign in [1.0f32, -1.0] {
        let mut x = rng.gaussians(bs);
        x[1] = 5.0 * sign;
        x[2] = -5.0 * sign;
        x[bs - 1] = 5.0;
        v.push((format!("tied maximum, first sign {sign}"), x));
    }
    let mut x = rng.gaussians(bs);
    x[bs - 1] = -9.0;
    v.push(("maximum in the last lane".into(), x));
    // The reference's maximum search skips NaN.
    let mut x = rng.gaussians(bs);
    x[3] = f32::NAN;
    x[bs - 5] = -f32::NAN;
    v.push(("NaN".into(), x));
    let mut x = rng.gaussians(bs);
    x[bs / 2 + 1] = f32::NEG_INFINITY;
    v.push(("infinity".into(), x));
    let mut x = vec![0.0; bs];
    x[5] = f32::NAN;
    v.push(("NaN and zeros".into(), x));
    let x = (0..bs).map(|i| f32::from_bits(1 + i as u32 * 7)).collect();
    v.push(("subnormals".into(), x));
    v
}
