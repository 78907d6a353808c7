//! Our Q8_0 / Q4_0 / Q5_0 quantizers against llama.cpp's model quantizer
//! (`llama_model_quantize`, pure, no imatrix: `quantize_row_<t>_ref` per
//! row) on 16 edge-case rows of 512 (tests/fixtures/quant/llamacpp_<t>.*,
//! made by tools/gen_quant_fixtures.py). Byte equality is required.

mod common;

use common::{f32s, fixture, rmse};
use kernels::quant::{dequantize_row, quantize_row, row_bytes};
use kernels::GgmlType;

#[test]
fn legacy_quantize_matches_llama_model_quantize() {
    for t in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q5_0] {
        let name = t.name().to_lowercase();
        let src = f32s(&fixture(&format!("llamacpp_{name}.src.f32")));
        let want = fixture(&format!("llamacpp_{name}.q.bin"));
        assert_eq!(want.len(), row_bytes(t, src.len()), "{t}: fixture sizes");
        let mut ours = vec![0u8; want.len()];
        quantize_row(t, &src, &mut ours).unwrap();
        let bs = t.type_size();
        let n_blocks = want.len() / bs;
        let differing: Vec<usize> = (0..n_blocks)
            .filter(|&i| ours[i * bs..(i + 1) * bs] != want[i * bs..(i + 1) * bs])
            .collect();
        // RMSE over the first, unit-variance row (gaussian std 1).
        let mut y = vec![0.0f32; src.len()];
        dequantize_row(t, &ours, &mut y).unwrap();
        println!(
            "{t}: {}/{n_blocks} blocks identical to llama.cpp; RMSE on the N(0,1) row {:.6}",
            n_blocks - differing.len(),
            rmse(&src[..512], &y[..512])
        );
        assert!(
            differing.is_empty(),
            "{t}: blocks {differing:?} differ from llama.cpp"
        );
    }
}
