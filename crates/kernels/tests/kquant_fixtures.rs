//! k-quants against reference data:
//! - dequantization equals gguf-py's `gguf.quants.dequantize` bit for bit
//!   (`<t>.bin` / `<t>.f32`, tools/gen_ggufpy_quant_fixtures.py);
//! - quantization equals ggml's `quantize_row_<t>_ref` byte for byte, and the
//!   dot products match ggml's `ggml_vec_dot_<t>_q8_K_generic`
//!   (`ggml_*`, tools/gen_kquant_ggml_fixtures.py);
//! - the x86 tables' row dots equal ggml's x86 (AVX2) ones bit for bit.

mod kquant_common;

use kernels::blocks::{BlockQ8K, QK_K};
use kernels::quant;
use kernels::GgmlType;
use kquant_common::*;

#[test]
fn dequantize_matches_gguf_py_bit_for_bit() {
    for t in &KTYPES {
        let bytes = read_fixture(&format!("{}.bin", t.name));
        let expected = read_f32(&format!("{}.f32", t.name));
        assert_eq!(
            expected.len(),
            bytes.len() / t.block_bytes * QK_K,
            "{}: fixture sizes",
            t.name
        );
        let mut y = vec![f32::NAN; expected.len()];
        (t.dequantize)(&bytes, &mut y);
        let mut z = vec![f32::NAN; expected.len()];
        quant::dequantize_row(t.ty, &bytes, &mut z).unwrap();
        for (i, ((&a, &b), &e)) in y.iter().zip(&z).zip(&expected).enumerate() {
            assert_eq!(
                a.to_bits(),
                e.to_bits(),
                "{} element {i}: ours {a} vs gguf-py {e}",
                t.name
            );
            assert_eq!(
                b.to_bits(),
                e.to_bits(),
                "{} element {i}: dispatch {b} vs gguf-py {e}",
                t.name
            );
        }
        println!("{}: {} elements bit-exact with gguf-py", t.name, y.len());
    }
}

#[test]
fn quantize_matches_ggml_reference_bytes() {
    let src = read_f32("ggml_kquant.src.f32");
    for t in &KTYPES {
        let expected = read_fixture(&format!("ggml_{}.q.bin", t.name));
        let ours = (t.quantize)(&src);
        assert_eq!(ours.len(), expected.len(), "{}: quantized size", t.name);
        let bad: Vec<usize> = ours
            .chunks_exact(t.block_bytes)
            .zip(expected.chunks_exact(t.block_bytes))
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i)
            .collect();
        println!(
            "{}: {}/{} blocks identical to ggml",
            t.name,
            src.len() / QK_K - bad.len(),
            src.len() / QK_K
        );
        assert!(
            bad.is_empty(),
            "{}: blocks {bad:?} differ from quantize_row_{}_ref",
            t.name,
            t.name
        );
        // The byte-level dispatch writes the same bytes.
        let mut via_dispatch = vec![0u8; expected.len()];
        quant::quantize_row(t.ty, &src, &mut via_dispatch).unwrap();
        assert_eq!(via_dispatch, expected, "{}: quantize_row dispatch", t.name);
    }
}

#[test]
fn q8_k_quantize_matches_ggml_reference_bytes() {
    let src = read_f32("ggml_act.src.f32");
    let expected = read_fixture("ggml_q8_k.q.bin");
    let ours = quantize_q8_k(&src);
    assert_eq!(bytemuck::cast_slice::<BlockQ8K, u8>(&ours), &expected[..]);
    let mut via_dispatch = vec![0u8; expected.len()];
    quant::quantize_row(GgmlType::Q8_K, &src, &mut via_dispatch).unwrap();
    assert_eq!(via_dispatch, expected);
}

#[test]
fn vec_dot_matches_ggml_generic() {
    let act: Vec<BlockQ8K> = read_blocks(&read_fixture("ggml_q8_k.q.bin"));
    let act_f = dequantize_q8_k(&act);
    for t in &KTYPES {
        let w = read_fixture(&format!("ggml_{}.q.bin", t.name));
        let expected = read_f32(&format!("ggml_{}.dot.f32", t.name));
        let mut w_f = vec![0.0; w.len() / t.block_bytes * QK_K];
        (t.dequantize)(&w, &mut w_f);
        let mut exact = 0;
        for (k, &e) in expected.iter().enumerate() {
            let nb = k + 1;
            let ours = (t.vec_dot)(&w[..nb * t.block_bytes], &act[..nb]);
            let act_bytes = bytemuck::cast_slice::<BlockQ8K, u8>(&act[..nb]);
            let via_dispatch = quant::vec_dot(t.ty, nb * QK_K, &w[..nb * t.block_bytes], act_bytes);
            assert_eq!(
                ours.to_bits(),
                via_dispatch.to_bits(),
                "{} nb={nb}: dispatch differs",
                t.name
            );
            // ggml's generic code may be FMA-contracted (-march=native): allow a few ulps of the
            // magnitude of the terms.
            let scale: f64 = w_f[..nb * QK_K]
                .iter()
                .zip(&act_f)
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            let tol = 1e-6 * scale;
            assert!(
                ((ours - e) as f64).abs() <= tol,
                "{} nb={nb}: ours {ours} vs ggml {e} (tolerance {tol:e})",
                t.name
            );
            exact += (ours.to_bits() == e.to_bits()) as usize;
        }
        println!(
            "{}: vec_dot bit-identical to ggml generic at {exact}/{} block counts",
            t.name,
            expected.len()
        );
    }
}

/// The x86 kernel tables (AVX2, and the default AVX-512 one, whose k-quant
/// row dots are the AVX2 ones) against ggml's own x86 `ggml_vec_dot_<t>_q8_K`
/// (`ggml_<t>.dot_native.f32`, made by llama.cpp's native x86 build, which
/// runs its AVX2 kernels): bit for bit, at every block count.
#[test]
fn x86_vec_dot_matches_ggml_x86_bit_for_bit() {
    use kernels::arch::{table, Isa};
    let act: Vec<BlockQ8K> = read_blocks(&read_fixture("ggml_q8_k.q.bin"));
    let tables: Vec<_> = [Isa::Avx2, Isa::Avx512]
        .into_iter()
        .filter_map(table)
        .collect();
    if tables.is_empty() {
        println!("skipped: no x86 table on this CPU");
    }
    for k in tables {
        for t in &KTYPES {
            let w = read_fixture(&format!("ggml_{}.q.bin", t.name));
            let expected = read_f32(&format!("ggml_{}.dot_native.f32", t.name));
            let dot = k.dot(t.ty).unwrap();
            for (i, &e) in expected.iter().enumerate() {
                let nb = i + 1;
                let a = bytemuck::cast_slice::<BlockQ8K, u8>(&act[..nb]);
                let ours = dot(nb * QK_K, &w[..nb * t.block_bytes], a);
                assert_eq!(
                    ours.to_bits(),
                    e.to_bits(),
                    "{:?} {} nb={nb}: ours {ours} vs ggml x86 {e}",
                    k.isa,
                    t.name
                );
            }
        }
    }
}
