//! Times one TinyLlama-shaped layer of prefill matrix products (128 tokens)
//! on the default table, best of many runs: ns per (row, token, 32-block).
//! Run: `cargo run --release -p kernels --example gemm_probe [q4_0|q8_0|q5_0] [reps]`.

#[path = "../benches/common/mod.rs"]
mod common;

use common::{cpu_ns, quantized, values};
use kernels::arch;
use kernels::ops::{self, QMatrix};
use kernels::GgmlType;
use std::time::Instant;

/// Nanoseconds per core cycle now: best time of a loop of independent
/// 512-bit FMAs (2 per cycle on Zen 4 / 5 and recent Intel cores).
fn ns_per_cycle() -> f64 {
    let mut best = f64::MAX;
    for _ in 0..20 {
        let c = cpu_ns();
        for _ in 0..20_000 {
            // SAFETY: register-only AVX-512 arithmetic (the probe runs on
            // AVX-512 machines), no memory access.
            unsafe {
                std::arch::asm!(
                    "vfmadd231ps zmm0, zmm30, zmm31", "vfmadd231ps zmm1, zmm30, zmm31",
                    "vfmadd231ps zmm2, zmm30, zmm31", "vfmadd231ps zmm3, zmm30, zmm31",
                    "vfmadd231ps zmm4, zmm30, zmm31", "vfmadd231ps zmm5, zmm30, zmm31",
                    "vfmadd231ps zmm6, zmm30, zmm31", "vfmadd231ps zmm7, zmm30, zmm31",
                    "vfmadd231ps zmm8, zmm30, zmm31", "vfmadd231ps zmm9, zmm30, zmm31",
                    "vfmadd231ps zmm10, zmm30, zmm31", "vfmadd231ps zmm11, zmm30, zmm31",
                    out("zmm0") _, out("zmm1") _, out("zmm2") _, out("zmm3") _,
                    out("zmm4") _, out("zmm5") _, out("zmm6") _, out("zmm7") _,
                    out("zmm8") _, out("zmm9") _, out("zmm10") _, out("zmm11") _,
                    options(nomem, nostack),
                );
            }
        }
        best = best.min(cpu_ns() - c);
    }
    best / (20_000.0 * 6.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ty = match args.get(1).map(String::as_str) {
        Some("q8_0") => GgmlType::Q8_0,
        Some("q5_0") => GgmlType::Q5_0,
        _ => GgmlType::Q4_0,
    };
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let custom: Vec<usize> = args[3.min(args.len())..]
        .iter()
        .filter_map(|s| s.parse().ok())
        .collect();
    let toks = if custom.len() == 3 { custom[2] } else { 128 };
    let k = arch::select();
    println!("{} table", k.isa);
    // (rows, cols): wq/wo, wk/wv (one), gate/up (one), down
    let small = [(2048, 256), (2048, 512), (2048, 1024), (2048, 2048)];
    let big = [(2048, 2048), (256, 2048), (5632, 2048), (2048, 5632)];
    let one = [(
        custom.first().copied().unwrap_or(64),
        custom.get(1).copied().unwrap_or(2048),
    ); 4];
    let shapes = match custom.len() {
        3 => one,
        1 => small,
        _ => big,
    };
    let mut total = 0.0;
    for (rows, cols) in shapes {
        let w = quantized(ty, &values(rows * cols, 1), cols);
        let q = QMatrix {
            ty,
            rows,
            cols,
            data: &w,
            packed: None,
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
    let cyc = ns_per_cycle();
    println!(
        "mean {:.4} ns/pair-block = {:.3} cycles ({:.2} GHz)",
        total / 4.0,
        total / 4.0 / cyc,
        1.0 / cyc
    );
}
