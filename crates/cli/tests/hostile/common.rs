//! Paths and scratch files shared by the probes.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

pub use crate::cli_common::{root, tiny};

/// The Gemma 3 270M file. The suite's ceilings are stated for it, so a missing file
/// fails the probe (scripts/test.sh fetches it first).
pub fn gemma() -> String {
    let p = root().join("models/gemma-3-270m-q4_k_m.gguf");
    assert!(
        p.exists(),
        "{} is missing: run scripts/fetch-model.sh",
        p.display()
    );
    p.to_string_lossy().into_owned()
}

/// A fresh directory for one probe's files (removed by the OS's tmp cleaning; names are
/// unique per process and call).
pub fn tmp_dir() -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let d = std::env::temp_dir().join(format!("wasm-chord-hostile-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&d).expect("create a temp dir");
    d
}
