//! Shared by the workspace's tests (a dev-dependency only).
//!
//! Some tests compare against files that are fetched, not committed: the Gemma 3 270M
//! model (`scripts/fetch-model.sh`) and llama.cpp's tokenizer test vocabularies
//! (`tools/fetch_llamacpp_vocabs.py`). On a developer's machine without them such a
//! test is skipped with a note; under CI (the `CI` environment variable is set, and
//! `scripts/test.sh` fetches both first) a missing file fails the test, so a broken
//! fetch can never pass as a green run.
#![forbid(unsafe_code)]

pub mod http;

use std::fmt::Display;

/// Reports that `what` is missing: panics when `CI` is set, otherwise prints
/// `SKIP: <what> not found (<how to get it>)` to stderr. The caller then skips.
pub fn missing(what: impl Display, how_to_get_it: &str) {
    let msg = format!("{what} not found ({how_to_get_it})");
    if under_ci() {
        panic!("{msg}: required when CI is set");
    }
    eprintln!("SKIP: {msg}");
}

/// `path` if it exists; otherwise [`missing`] and `None`.
pub fn require(path: &std::path::Path, how_to_get_it: &str) -> Option<std::path::PathBuf> {
    if path.exists() {
        return Some(path.to_path_buf());
    }
    missing(path.display(), how_to_get_it);
    None
}

/// The committed tiny models (`tests/fixtures/models/*.gguf` under the
/// workspace `root`), sorted; panics when fewer than 9 are there.
pub fn tiny_models(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let dir = root.join("tests/fixtures/models");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/fixtures/models")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "gguf"))
        .collect();
    paths.sort();
    assert!(paths.len() >= 9, "the tiny models are committed fixtures");
    paths
}

/// Whether the tests run under CI (`CI` set to anything but empty, `0` or `false`).
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// How to get the default model.
pub const FETCH_MODEL: &str = "run scripts/fetch-model.sh";
/// How to get llama.cpp's tokenizer test vocabularies.
pub const FETCH_VOCABS: &str = "run tools/fetch_llamacpp_vocabs.py";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn present_files_are_returned() {
        let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        assert_eq!(require(&here, FETCH_MODEL), Some(here));
    }
}
