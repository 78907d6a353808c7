//! Times one TinyLlama-shaped layer of prefill matrix products (128 tokens)
//! on the default table, best of many runs: ns per (row, token, 32-block).
//! Run: `cargo run --release -p kernels --example gemm_probe [q4_0|q8_0|q5_0] [reps]`.

#[path = "../benches/common/mod.rs"]
mod common;

use common::{quantized, values};
use kernels::arch;
use kernels::ops::{self, QMatrix};
use kernels::GgmlType;
use std::time::Instant;

/// Nanoseconds this thread has run on a CPU (`/proc/thread-self/schedstat`).
fn cpu_ns() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ty = match args.get(1).map(String::as_str) {
        Some("q8_0") => GgmlType::Q8_0,
        Some("q5_0") => GgmlType::Q5_0,
        _ => GgmlType::Q4_0,
    };
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let toks = 128;
    let k = arch::select();
    println!("{} table", k.isa);
    // (rows, cols): wq/wo, wk/wv (one), gate/up (one), down
    let small = [(2048, 256), (2048, 512), (2048, 1024), (2048, 2048)];
    let big = [(2048, 2048), (256, 2048), (5632, 2048), (2048, 5632)];
    let shapes = if args.get(3).is_some() { small } else { big };
    let mut total = 0.0;
    for (rows, cols) in shapes {
        let w = quantized(ty, &values(rows * cols, 1), cols);
        let q = QMatrix {
            ty,
            rows,
            cols,
            data: &w,
        };
        let x = quantized(q.act_type(), &values(toks * cols, 2), cols);
        let mut y = vec![0f32; toks * rows];
        let mut best = f64::MAX;
        for _ in 0..reps {
            let (t, c) = (Instant::now(), cpu_ns());
            ops::matmul(k, q, &x, toks, &mut y);
            let (wall, cpu) = (t.elapsed().as_secs_f64(), (cpu_ns() - c) * 1e-9);
            // descheduled runs: count the CPU time
            best = best.min(if cpu < 0.9 * wall { cpu } else { wall });
        }
        let units = (rows * toks * cols / 32) as f64;
        println!(
            "{ty} {rows}x{cols}: {:.3} ms, {:.4} ns/pair-block",
            best * 1e3,
            best * 1e9 / units
        );
        total += best * 1e9 / units;
    }
    println!("mean {:.4} ns/pair-block", total / 4.0);
}
