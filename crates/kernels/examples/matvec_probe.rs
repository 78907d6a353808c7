//! Times one decode matrix-vector product on the default table, packed
//! (`Kernels::packing`) and unpacked (`Kernels::rows`), best of many runs:
//! GB/s of weight bytes and ns per 256-column block of one row.
//! Run: `cargo run --release -p kernels --example matvec_probe [q4_k|q5_k|q6_k] [rows] [cols] [reps]`.
//! A small matrix (e.g. 256 x 2048) sits in L2: the kernel's compute rate.

#[path = "../benches/common/mod.rs"]
mod common;

use common::{quantized, values};
use kernels::arch;
use kernels::ops::{self, QMatrix};
use kernels::packed::PackedMatrix;
use kernels::GgmlType;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ty = match args.get(1).map(String::as_str) {
        Some("q6_k") => GgmlType::Q6_K,
        Some("q5_k") => GgmlType::Q5_K,
        _ => GgmlType::Q4_K,
    };
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (rows, cols, reps) = (arg(2, 256), arg(3, 2048), arg(4, 2000));
    let k = arch::select();
    let w = quantized(ty, &values(rows * cols, 1), cols);
    let file = QMatrix::new(ty, rows, cols, &w);
    let x = quantized(file.act_type(), &values(cols, 2), cols);
    let mut y = vec![0f32; rows];
    let packed = k
        .packing(ty)
        .map(|p| PackedMatrix::pack(p, file).expect("pack"));
    let mut time = |m: QMatrix| {
        let mut best = f64::MAX;
        for _ in 0..reps {
            let t = Instant::now();
            ops::matvec_rows(k, m, &x, 0..rows, &mut y);
            best = best.min(t.elapsed().as_secs_f64());
        }
        best
    };
    let mut run = |name: &str, m: QMatrix| {
        let best = time(m);
        let blocks = (rows * cols / 256) as f64;
        println!(
            "{ty} {name:8} {rows}x{cols}: {:.1} us, {:.1} GB/s, {:.2} ns/block-row",
            best * 1e6,
            w.len() as f64 / best * 1e-9,
            best * 1e9 / blocks
        );
    };
    run("rows", file);
    if let Some(p) = &packed {
        run(
            "packed",
            QMatrix {
                packed: Some(p.view()),
                ..file
            },
        );
    }
}
