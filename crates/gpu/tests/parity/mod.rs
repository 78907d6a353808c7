//! What the model tests on the device share: the device, the turn each
//! test takes on it, the near-tie margin, the model files.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use gpu::Gpu;

/// Margin below which a step is a near-tie: generation may part there.
pub const TIE: f32 = 0.05;

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The shared device, or `None` (skip) when there is none outside CI.
pub fn gpu() -> Option<Arc<Gpu>> {
    crate::common::shared().cloned()
}

/// Held by each model test for its whole run: the tests take turns on the
/// device. Run side by side on one software device (as `cargo test` does),
/// two Gemma runs each waited past the device's bounded wait.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    // a test that failed while holding it leaves it poisoned; the device is fine
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Gemma 3 270M (Q4_K_M), or a skip (a failure under CI).
pub fn gemma() -> Option<PathBuf> {
    let p = workspace().join("models/gemma-3-270m-q4_k_m.gguf");
    test_support::require(&p, test_support::FETCH_MODEL)
}
