//! The AVX2 table's k-quant paths against the scalar table, through the
//! public byte-level API: `Kernels::vec_dot` / `Kernels::dot`, the Q8_K
//! activation quantizer, and `ops::matvec` on random matrices.
//!
//! Tolerance for dots: the integer sums per sub-block are exact in both
//! tables, only the f32 summation order differs, so |avx2 - scalar| <=
//! 1e-5 · Σ|w_i·a_i| (Σ over the dequantized products). Quantizers: identical
//! bytes. Every test prints a message and passes on a CPU without AVX2/FMA/F16C.

mod kquant_common;

use kernels::arch::{self, Isa, Kernels};
use kernels::blocks::QK_K;
use kernels::ops::{self, QMatrix};
use kernels::quant;
use kernels::GgmlType;
use kquant_common::*;

fn avx2() -> Option<&'static Kernels> {
    let t = arch::table(Isa::Avx2);
    if t.is_none() {
        println!("skipped: no AVX2 table on this CPU");
    }
    t
}

/// Σ|w_i·a_i| over the dequantized weight row and Q8_K activation row.
fn magnitude(t: &KType, w: &[u8], act: &[u8]) -> f64 {
    let n = w.len() / t.block_bytes * QK_K;
    let mut wf = vec![0.0; n];
    let mut af = vec![0.0; n];
    quant::dequantize_row(t.ty, w, &mut wf).unwrap();
    quant::dequantize_row(GgmlType::Q8_K, act, &mut af).unwrap();
    wf.iter()
        .zip(&af)
        .map(|(&x, &y)| (x as f64 * y as f64).abs())
        .sum()
}

fn q8_k_row(k: &Kernels, x: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; quant::row_bytes(GgmlType::Q8_K, x.len())];
    (k.quantize_row)(GgmlType::Q8_K, x, &mut out).unwrap();
    out
}

#[test]
fn row_dots_match_scalar() {
    let Some(k) = avx2() else { return };
    let s = arch::scalar();
    let mut rng = Rng(0xa2_0001);
    for t in &KTYPES {
        let random_nb = 2 + rng.below(40);
        let mut worst = 0.0f64;
        for nb in [1, 7, random_nb] {
            let n = nb * QK_K;
            let act = q8_k_row(s, &rng.gaussian_vec(n));
            for w in [
                random_blocks(t, nb, &mut rng),
                (t.quantize)(&rng.gaussian_vec(n)),
            ] {
                let want = (s.vec_dot)(t.ty, n, &w, &act) as f64;
                let got = (k.vec_dot)(t.ty, n, &w, &act) as f64;
                let via_lookup = k.dot(t.ty).expect("k-quants have a dot")(n, &w, &act);
                assert_eq!(got, via_lookup as f64, "{} vec_dot vs dot()", t.name);
                let mag = magnitude(t, &w, &act);
                let err = (got - want).abs();
                assert!(
                    err <= 1e-5 * mag,
                    "{} nb={nb}: avx2 {got} vs scalar {want} (|err| {err:e} > 1e-5 * {mag:e})",
                    t.name
                );
                worst = worst.max(err / mag.max(f64::MIN_POSITIVE));
            }
        }
        println!(
            "{}: worst relative error {worst:.2e} (blocks 1, 7, {random_nb})",
            t.name
        );
    }
}

#[test]
fn misaligned_and_longer_rows() {
    let Some(k) = avx2() else { return };
    let s = arch::scalar();
    let mut rng = Rng(0xa2_0002);
    for t in &KTYPES {
        let nb = 5;
        let n = nb * QK_K;
        let w = (t.quantize)(&rng.gaussian_vec(n));
        let act = q8_k_row(s, &rng.gaussian_vec(n));
        let want = (k.vec_dot)(t.ty, n, &w, &act);
        // Both rows one byte off their alignment: the same value.
        let mut wbuf = vec![0u8; w.len() + 1];
        wbuf[1..].copy_from_slice(&w);
        let mut abuf = vec![0u8; act.len() + 1];
        abuf[1..].copy_from_slice(&act);
        let got = (k.vec_dot)(t.ty, n, &wbuf[1..], &abuf[1..]);
        let tol = 1e-5 * magnitude(t, &w, &act);
        assert!(
            ((got - want) as f64).abs() <= tol,
            "{}: misaligned {got} vs aligned {want}",
            t.name
        );
        // Only the first n elements count.
        let n_short = 2 * QK_K;
        let short = (k.vec_dot)(
            t.ty,
            n_short,
            &w[..2 * t.block_bytes],
            &act[..quant::row_bytes(GgmlType::Q8_K, n_short)],
        );
        assert_eq!((k.vec_dot)(t.ty, n_short, &w, &act), short, "{}", t.name);
    }
}

#[test]
fn q8_k_quantize_row_identical_bytes() {
    let Some(k) = avx2() else { return };
    let s = arch::scalar();
    let mut rng = Rng(0xa2_0003);
    let random_nb = 2 + rng.below(60);
    for nb in [1, 7, random_nb] {
        for scale in [1.0f32, 3e-4, 250.0] {
            let x: Vec<f32> = rng
                .gaussian_vec(nb * QK_K)
                .iter()
                .map(|v| v * scale)
                .collect();
            assert_eq!(q8_k_row(k, &x), q8_k_row(s, &x), "nb={nb} scale={scale}");
            // Misaligned output buffer: same bytes.
            let mut buf = vec![0u8; quant::row_bytes(GgmlType::Q8_K, x.len()) + 1];
            (k.quantize_row)(GgmlType::Q8_K, &x, &mut buf[1..]).unwrap();
            assert_eq!(buf[1..], q8_k_row(s, &x)[..], "misaligned nb={nb}");
        }
    }
    // Same errors as the reference for malformed rows.
    let x = vec![0.5f32; QK_K + 3];
    let mut out = vec![0u8; 292 * 2];
    let e_k = (k.quantize_row)(GgmlType::Q8_K, &x, &mut out).unwrap_err();
    let e_s = (s.quantize_row)(GgmlType::Q8_K, &x, &mut out).unwrap_err();
    assert_eq!(e_k.to_string(), e_s.to_string());
    let x = vec![0.5f32; QK_K];
    let e_k = (k.quantize_row)(GgmlType::Q8_K, &x, &mut out).unwrap_err();
    let e_s = (s.quantize_row)(GgmlType::Q8_K, &x, &mut out).unwrap_err();
    assert_eq!(e_k.to_string(), e_s.to_string());
}

/// `ops::matvec` with the AVX2 table vs the scalar table on a random
/// quantized matrix of each k-quant type (activations quantized by each table).
#[test]
fn matvec_matches_scalar() {
    let Some(k) = avx2() else { return };
    let s = arch::scalar();
    let mut rng = Rng(0xa2_0004);
    let (rows, cols) = (37, 6 * QK_K);
    for t in &KTYPES {
        let data: Vec<u8> = (0..rows)
            .flat_map(|_| (t.quantize)(&rng.gaussian_vec(cols)))
            .collect();
        let w = QMatrix {
            ty: t.ty,
            rows,
            cols,
            data: &data,
            packed: None,
        };
        let x = rng.gaussian_vec(cols);
        let mut xq_k = vec![0u8; w.act_row_bytes()];
        let mut xq_s = vec![0u8; w.act_row_bytes()];
        ops::quantize_acts(k, t.ty, cols, &x, &mut xq_k).unwrap();
        ops::quantize_acts(s, t.ty, cols, &x, &mut xq_s).unwrap();
        assert_eq!(xq_k, xq_s, "{}: activation bytes", t.name);
        let mut y_k = vec![0.0; rows];
        let mut y_s = vec![0.0; rows];
        ops::matvec(k, w, &xq_k, &mut y_k);
        ops::matvec(s, w, &xq_s, &mut y_s);
        for r in 0..rows {
            let tol = 1e-5 * magnitude(t, w.row(r), &xq_s);
            assert!(
                ((y_k[r] - y_s[r]) as f64).abs() <= tol,
                "{} row {r}: avx2 {} vs scalar {}",
                t.name,
                y_k[r],
                y_s[r]
            );
        }
    }
}

/// Every row of every k-quant tensor of the real test model (Gemma 3 270M
/// Q4_K_M: attn_output / ffn_down in Q4_K and Q6_K) against one random
/// activation: AVX2 vs scalar within the stated tolerance. Skipped without
/// the model file (scripts/fetch-model.sh).
#[test]
fn gemma_k_quant_tensors_match_scalar() {
    let Some(k) = avx2() else { return };
    let s = arch::scalar();
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/gemma-3-270m-q4_k_m.gguf");
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return;
    }
    let file = gguf::GgufFile::open(&path).expect("opening the test model");
    let mut rng = Rng(0xa2_0005);
    let (mut tensors, mut rows_checked, mut worst) = (0, 0, 0.0f64);
    for info in file.tensors() {
        let Some(t) = KTYPES.iter().find(|t| t.ty == info.ggml_type) else {
            continue;
        };
        let (cols, rows) = (info.row_len() as usize, info.n_rows() as usize);
        let data = file.tensor_data(info);
        let x: Vec<f32> = rng.gaussian_vec(cols).iter().map(|v| v * 8.0).collect();
        let act = q8_k_row(s, &x);
        let rb = quant::row_bytes(t.ty, cols);
        let (dot_k, dot_s) = (k.dot(t.ty).unwrap(), s.dot(t.ty).unwrap());
        for r in 0..rows {
            let w = &data[r * rb..(r + 1) * rb];
            let (got, want) = (dot_k(cols, w, &act) as f64, dot_s(cols, w, &act) as f64);
            let mag = magnitude(t, w, &act);
            let err = (got - want).abs();
            assert!(
                err <= 1e-5 * mag,
                "{} row {r}: avx2 {got} vs scalar {want} (|err| {err:e} > 1e-5 * {mag:e})",
                info.name
            );
            worst = worst.max(err / mag.max(f64::MIN_POSITIVE));
        }
        tensors += 1;
        rows_checked += rows;
    }
    assert!(tensors > 0, "no k-quant tensors in {}", path.display());
    println!(
        "gemma: {tensors} k-quant tensors, {rows_checked} rows, worst relative error {worst:.2e}"
    );
}
