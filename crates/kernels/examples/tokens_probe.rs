//! Times decode batches of single tokens (`parallel::par_matvec_tokens`,
//! one thread) on the default table against the single-token kernel run
//! once per token over the same 32 KiB passes (the path before the
//! multi-token kernels): best of many runs in thread CPU time, ns per (row, token).
//! Run: `cargo run --release -p kernels --example tokens_probe [q8_0|q4_k|q6_k|q5_0|q4_0] [rows] [cols] [reps]`.

#[path = "../benches/common/mod.rs"]
mod common;

use common::{cpu_ns, quantized, values};
use kernels::arch;
use kernels::ops::{self, QMatrix};
use kernels::packed::PackedMatrix;
use kernels::parallel::par_matvec_tokens;
use kernels::{GgmlType, ThreadPool};

/// The product of every token, the single-token kernel once per token
/// over 32 KiB passes of rows.
fn per_token(k: &arch::Kernels, w: QMatrix, x: &[u8], n: usize, y: &mut [f32]) {
    let xb = w.act_row_bytes();
    let pass = ((32 << 10) / w.row_bytes()).max(16) / 16 * 16;
    let mut r0 = 0;
    while r0 < w.rows {
        let r1 = (r0 + pass).min(w.rows);
        for t in 0..n {
            let out = &mut y[t * w.rows + r0..t * w.rows + r1];
            ops::matvec_rows(k, w, &x[t * xb..(t + 1) * xb], r0..r1, out);
        }
        r0 = r1;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ty = match args.get(1).map(String::as_str) {
        Some("q4_k") => GgmlType::Q4_K,
        Some("q6_k") => GgmlType::Q6_K,
        Some("q5_0") => GgmlType::Q5_0,
        Some("q4_0") => GgmlType::Q4_0,
        _ => GgmlType::Q8_0,
    };
    let num = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (rows, cols, reps) = (num(2, 16384), num(3, 2048), num(4, 20));
    let k = arch::select();
    arch::tune::prepare(k, &[ty]);
    let pool = ThreadPool::new(1);
    let wq = quantized(ty, &values(rows * cols, 1), cols);
    let plain = QMatrix::new(ty, rows, cols, &wq);
    let packed = k.packing(ty).map(|p| PackedMatrix::pack(p, plain).unwrap());
    let w = QMatrix {
        packed: packed.as_ref().map(PackedMatrix::view),
        ..plain
    };
    println!(
        "{ty} {rows}x{cols}, {} table, packed {}",
        k.isa,
        w.packed.is_some()
    );
    for n in [1, 2, 4, 8] {
        let x = quantized(w.act_type(), &values(n * cols, 2), cols);
        let mut y = vec![0f32; n * rows];
        // interleaved, best of each (the machine may be shared)
        let (mut old, mut new) = (f64::MAX, f64::MAX);
        for _ in 0..reps {
            let t = cpu_ns();
            per_token(k, w, &x, n, &mut y);
            old = old.min(cpu_ns() - t);
            let t = cpu_ns();
            par_matvec_tokens(&pool, k, w, &x, n, &mut y);
            new = new.min(cpu_ns() - t);
        }
        let (old, new) = (old / (rows * n) as f64, new / (rows * n) as f64);
        println!(
            "n={n}: per token {old:.3} ns/(row, token), multi-token {new:.3} ({:.2}x)",
            old / new
        );
    }
}
