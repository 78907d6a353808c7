//! Random inputs and the error measure every backend's kernel tests share:
//! the CPU tables' conformance (`conformance`, in this crate's tests) and
//! other backends' suites (the `gpu` crate's), so that all of them are held
//! to the same rows and the same bound.
//!
//! Compiled for this crate's tests and, for other crates, with the
//! `testdata` feature (a dev-dependency feature: never in a release build).

pub mod data;
pub mod rng;

pub use rng::Rng;

/// Σ(a−b)² / Σb² (0 when both are all zeros, infinite on NaN).
pub fn nmse(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let err: f64 = a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).powi(2)).sum();
    let norm: f64 = b.iter().map(|y| y * y).sum();
    if err == 0.0 {
        0.0
    } else if err.is_nan() {
        f64::INFINITY
    } else {
        err / norm
    }
}
