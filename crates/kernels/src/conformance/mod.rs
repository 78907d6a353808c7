//! Conformance of every kernel table, in the manner of llama.cpp's
//! `test-backend-ops`: one test body runs every op on every table this
//! machine (or wasm runtime, or emulator) offers, each against the scalar
//! reference, and prints one line per (op, table): `OK` with the error
//! measured, or `FAIL` with the first mismatch. The test fails if any line
//! does.
//!
//! - quantized ops (`quant_ops`): row dots, activation quantizers, prefill
//!   tiles, the batched k-quant order, multi-row and repacked decode
//!   kernels, every calibration candidate, the multi-token decode kernels
//!   (`tokens_ops`);
//! - attention (`attention_ops`) per instruction set;
//! - the f32 model ops (`float_ops`) against f64 definitions.
//!
//! Bounds: NMSE = Σ(a−b)² / Σb² ≤ 1e-7 for f32 ops; quantized dots exact
//! wherever the result is an integer (unit scales), otherwise within the
//! f32 rounding of their float summation; kernels that promise the row
//! dot's bits are held to its bits.
//!
//! `rng` and `data` (from `crate::testdata`) are the random inputs every
//! kernel test of the crate shares.

mod attention_ops;
mod float_ops;
mod quant_ops;
mod tokens_ops;

pub(crate) use crate::testdata::{data, nmse, rng, Rng};

/// The NMSE bound of f32 ops.
const NMSE_MAX: f64 = 1e-7;

/// An op's result on one table: a note on success, the mismatch on failure.
type Outcome = Result<String, String>;

/// The lines of a run.
#[derive(Default)]
struct Report {
    lines: Vec<String>,
    failures: usize,
}

impl Report {
    fn record(&mut self, op: impl Into<String>, table: &str, outcome: Outcome) {
        let op = op.into();
        let line = match outcome {
            Ok(note) => format!("  OK    {op:<28} {table:<12} {note}"),
            Err(why) => {
                self.failures += 1;
                format!("  FAIL  {op:<28} {table:<12} {why}")
            }
        };
        println!("{line}");
        self.lines.push(line);
    }
}

#[test]
fn every_op_on_every_table() {
    let mut report = Report::default();
    let tables = crate::arch::test_tables();
    for &(name, k) in &tables {
        quant_ops::run(name, k, &mut report);
    }
    attention_ops::run(&mut report);
    float_ops::run(&mut report);
    let names: Vec<_> = tables.iter().map(|t| t.0).collect();
    println!(
        "{} checks on tables {names:?}: {} failed",
        report.lines.len(),
        report.failures
    );
    assert_eq!(
        report.failures,
        0,
        "failed:\n{}",
        report
            .lines
            .iter()
            .filter(|l| l.contains("FAIL"))
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
