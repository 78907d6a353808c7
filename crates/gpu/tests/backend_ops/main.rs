//! Every GPU op against the CPU scalar reference, in the manner of
//! llama.cpp's `test-backend-ops`: one line per (op, type) with `OK` and
//! the error measured or `FAIL` and the mismatch; the test fails if any
//! line does. Inputs and the NMSE measure are `kernels::testdata`'s, the
//! CPU tables' own.
//!
//! Bounds: f32 ops NMSE = Σ(a−b)²/Σb² ≤ 1e-6 against the reference's
//! output; quantizers write the reference's bytes; quantized matvecs and
//! the tiled prefill matmul give unit-scaled rows' integer results exactly
//! and random rows within the f32 rounding of their block sums
//! (|err| ≤ 1e-5·Σ|w·a|, the CPU conformance's bound), the matmul the
//! matvec's bits; embedding rows and top-k equal the reference.
//!
//! `VK_DRIVER_FILES=/usr/lib/chromium/vk_swiftshader_icd.json cargo test -p gpu`
//! (the ICD is found without the variable when installed).

mod attention_ops;
#[path = "../common/mod.rs"]
mod common;
mod float_ops;
mod helper_ops;
mod matmul_ops;
mod quant_ops;
mod report;
mod rows_ops;

use report::Report;

#[test]
fn every_op_against_the_reference() {
    let Some(g) = common::gpu() else { return };
    let t0 = std::time::Instant::now();
    let mut report = Report::default();
    float_ops::run(g, &mut report);
    rows_ops::run(g, &mut report);
    helper_ops::run(g, &mut report);
    quant_ops::run(g, &mut report);
    matmul_ops::run(g, &mut report);
    attention_ops::run(g, &mut report);
    println!(
        "{} checks on {}: {} failed ({:.1} s)",
        report.lines.len(),
        g.info.name,
        report.failures,
        t0.elapsed().as_secs_f64()
    );
    report.assert_ok();
}
