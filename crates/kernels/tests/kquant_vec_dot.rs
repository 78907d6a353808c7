//! k-quant dot products against the dot product of the dequantized rows, at
//! 1, 7 and a random number of blocks, plus the byte-level dispatch.
//!
//! Tolerance: the kernels sum exact integer products per sub-block and round
//! only when scaling, so they agree with the f64 dot of the dequantized values
//! to about (blocks + 16) f32 roundings of the sum of absolute terms;
//! we allow 1e-5 · Σ|w_i·a_i| (with at most 64 blocks that is > 10x margin).

mod kquant_common;

use kernels::blocks::{BlockQ8K, QK_K};
use kernels::quant;
use kernels::GgmlType;
use kquant_common::*;

fn check(t: &KType, w: &[u8], act: &[BlockQ8K], what: &str) -> f64 {
    let nb = act.len();
    let mut w_f = vec![0.0; nb * QK_K];
    (t.dequantize)(w, &mut w_f);
    let a_f = dequantize_q8_k(act);
    let exact: f64 = w_f
        .iter()
        .zip(&a_f)
        .map(|(&x, &y)| x as f64 * y as f64)
        .sum();
    let mag: f64 = w_f
        .iter()
        .zip(&a_f)
        .map(|(&x, &y)| (x as f64 * y as f64).abs())
        .sum();
    let ours = (t.vec_dot)(w, act) as f64;
    let err = (ours - exact).abs();
    assert!(
        err <= 1e-5 * mag,
        "{} {what} nb={nb}: vec_dot {ours} vs dequantized dot {exact} (|err| {err:e} > 1e-5 * {mag:e})",
        t.name
    );
    err / mag.max(f64::MIN_POSITIVE)
}

#[test]
fn vec_dot_equals_dequantized_dot() {
    let mut rng = Rng(0x5eed_0001);
    for t in &KTYPES {
        let random_nb = 2 + rng.below(63);
        let mut worst = 0.0f64;
        for nb in [1, 7, random_nb] {
            let act = quantize_q8_k(&rng.gaussian_vec(nb * QK_K));
            // Raw random blocks reach every bit pattern of the quants and scales.
            let w = random_blocks(t, nb, &mut rng);
            worst = worst.max(check(t, &w, &act, "random blocks"));
            // Quantized gaussian weights are what models hold.
            let w = (t.quantize)(&rng.gaussian_vec(nb * QK_K));
            worst = worst.max(check(t, &w, &act, "quantized gaussian"));
        }
        println!(
            "{}: worst relative error {worst:.2e} (blocks 1, 7, {random_nb})",
            t.name
        );
    }
}

#[test]
fn dispatch_matches_typed_kernels_aligned_and_misaligned() {
    let mut rng = Rng(0x5eed_0002);
    for t in &KTYPES {
        assert_eq!(quant::vec_dot_type(t.ty), GgmlType::Q8_K, "{}", t.name);
        assert!(
            quant::is_supported(t.ty) && quant::has_vec_dot(t.ty),
            "{}",
            t.name
        );
        let nb = 5;
        let n = nb * QK_K;
        let w = random_blocks(t, nb, &mut rng);
        let act = quantize_q8_k(&rng.gaussian_vec(n));
        let act_bytes: &[u8] = bytemuck::cast_slice(&act);
        let typed = (t.vec_dot)(&w, &act);
        let aligned = quant::vec_dot(t.ty, n, &w, act_bytes);
        assert_eq!(
            typed.to_bits(),
            aligned.to_bits(),
            "{}: aligned dispatch",
            t.name
        );

        // Shift both rows by one byte: the dispatch copies block by block.
        let mut w_shift = vec![0u8; w.len() + 1];
        w_shift[1..].copy_from_slice(&w);
        let mut a_shift = vec![0u8; act_bytes.len() + 1];
        a_shift[1..].copy_from_slice(act_bytes);
        let misaligned = quant::vec_dot(t.ty, n, &w_shift[1..], &a_shift[1..]);
        let tol = 1e-5 * typed.abs().max(1.0);
        assert!(
            (misaligned - typed).abs() <= tol,
            "{}: misaligned {misaligned} vs {typed}",
            t.name
        );

        let mut y = vec![0.0; n];
        (t.dequantize)(&w, &mut y);
        let mut z = vec![0.0; n];
        quant::dequantize_row(t.ty, &w_shift[1..], &mut z).unwrap();
        assert!(
            y.iter().zip(&z).all(|(a, b)| a.to_bits() == b.to_bits()),
            "{}: misaligned dequantize",
            t.name
        );
    }
}

#[test]
fn dispatch_rejects_wrong_lengths() {
    for t in &KTYPES {
        let mut y = vec![0.0; QK_K];
        assert!(
            quant::dequantize_row(t.ty, &vec![0u8; t.block_bytes - 1], &mut y).is_err(),
            "{}",
            t.name
        );
        let mut out = vec![0u8; t.block_bytes];
        assert!(
            quant::quantize_row(t.ty, &[0.0; 100], &mut out).is_err(),
            "{}: partial block",
            t.name
        );
        assert!(
            quant::quantize_row(t.ty, &[0.0; QK_K], &mut out[..t.block_bytes - 2]).is_err(),
            "{}",
            t.name
        );
    }
}
