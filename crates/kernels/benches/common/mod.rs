//! Inputs and settings shared by the kernel benchmarks.

#![allow(dead_code)] // each bench uses its part

use criterion::Criterion;
use kernels::quant;
use kernels::GgmlType;
use std::time::Duration;

/// Deterministic values in [-1, 1) (an LCG), no dependencies.
pub fn values(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Rows of `n` values quantized to `ty`: [x.len() / n, row_bytes(ty, n)].
pub fn quantized(ty: GgmlType, x: &[f32], n: usize) -> Vec<u8> {
    let rb = quant::row_bytes(ty, n);
    let mut out = vec![0u8; x.len() / n * rb];
    for (r, o) in x.chunks_exact(n).zip(out.chunks_exact_mut(rb)) {
        quant::quantize_row(ty, r, o).expect("quantizable type");
    }
    out
}

/// Short runs: 10 samples, 0.3 s warm-up, 1 s of measurement.
pub fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

#[repr(C)]
struct Timespec {
    sec: i64,
    nsec: i64,
}

extern "C" {
    fn clock_gettime(clock: i32, tp: *mut Timespec) -> i32;
}

/// Nanoseconds this thread has run on a CPU (`CLOCK_THREAD_CPUTIME_ID`).
pub fn cpu_ns() -> f64 {
    let mut t = Timespec { sec: 0, nsec: 0 };
    // SAFETY: `t` is a valid timespec; clock 3 is CLOCK_THREAD_CPUTIME_ID on Linux.
    let rc = unsafe { clock_gettime(3, &mut t) };
    assert_eq!(rc, 0, "clock_gettime");
    t.sec as f64 * 1e9 + t.nsec as f64
}
