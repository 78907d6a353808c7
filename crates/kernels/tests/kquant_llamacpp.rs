//! Our k-quant quantizers against llama.cpp's model quantizer
//! (`llama_model_quantize`, no imatrix, pure), on 16 edge-case rows of 512
//! (tests/fixtures/quant/llamacpp_<t>.*, tools/gen_quant_fixtures.py):
//! reports identical blocks and the RMSE ratio, and requires byte equality.

mod kquant_common;

use kernels::blocks::QK_K;
use kquant_common::*;

#[test]
fn quantize_matches_llama_model_quantize() {
    for t in &KTYPES {
        let src = read_f32(&format!("llamacpp_{}.src.f32", t.name));
        let expected = read_fixture(&format!("llamacpp_{}.q.bin", t.name));
        assert_eq!(
            expected.len(),
            src.len() / QK_K * t.block_bytes,
            "{}: fixture sizes",
            t.name
        );
        let ours = (t.quantize)(&src);
        let n_blocks = src.len() / QK_K;
        let differing: Vec<usize> = (0..n_blocks)
            .filter(|&i| {
                let r = i * t.block_bytes..(i + 1) * t.block_bytes;
                ours[r.clone()] != expected[r]
            })
            .collect();
        let mut y_ours = vec![0.0; src.len()];
        (t.dequantize)(&ours, &mut y_ours);
        let mut y_ref = vec![0.0; src.len()];
        (t.dequantize)(&expected, &mut y_ref);
        // Rows of wildly different scales: compare the RMSE of the finite, unit-scale rows (0, 4..13).
        let unit_rows = |y: &[f32]| -> f64 {
            let rows: Vec<usize> = [0].into_iter().chain(4..14).collect();
            let (a, b): (Vec<f32>, Vec<f32>) = rows
                .iter()
                .flat_map(|&r| (r * 512..(r + 1) * 512).map(|i| (src[i], y[i])))
                .unzip();
            rmse(&a, &b)
        };
        let (e_ours, e_ref) = (unit_rows(&y_ours), unit_rows(&y_ref));
        println!(
            "{}: {}/{n_blocks} blocks identical to llama.cpp ({:.1}%), RMSE ours {e_ours:.6} / llama.cpp {e_ref:.6} = {:.4}",
            t.name,
            n_blocks - differing.len(),
            100.0 * (n_blocks - differing.len()) as f64 / n_blocks as f64,
            e_ours / e_ref
        );
        assert!(
            differing.is_empty(),
            "{}: blocks {differing:?} differ from llama.cpp",
            t.name
        );
    }
}
