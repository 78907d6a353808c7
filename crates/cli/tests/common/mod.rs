//! Helpers for the CLI integration tests: run the built binary, read fixtures.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn tiny(name: &str) -> String {
    root()
        .join(format!("tests/fixtures/models/{name}.gguf"))
        .to_string_lossy()
        .into_owned()
}

pub fn gemma() -> Option<String> {
    let p = root().join("models/gemma-3-270m-q4_k_m.gguf");
    if p.exists() {
        Some(p.to_string_lossy().into_owned())
    } else {
        test_support::missing(p.display(), test_support::FETCH_MODEL);
        None
    }
}

pub fn fixture(name: &str) -> serde_json::Value {
    let p = root().join("tests/fixtures/ref").join(name);
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    serde_json::from_str(&text).unwrap()
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

/// Runs `wasm-chord ARGS` (with `stdin` piped in) from the repository root.
pub fn wc_stdin(args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasm-chord"));
    cmd.args(args)
        .current_dir(root())
        .env_remove("WASM_CHORD_MODEL")
        .env_remove("RUST_BACKTRACE");
    piped(cmd, stdin)
}

/// Runs `cmd` with `stdin` piped in, stdout and stderr captured.
fn piped(mut cmd: Command, stdin: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn wasm-chord");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn wc(args: &[&str]) -> Output {
    wc_stdin(args, "")
}

/// Runs and expects success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = wc(args);
    assert!(
        out.status.success(),
        "wasm-chord {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs and expects a readable failure: nonzero exit, an `error:` line, no panic.
pub fn fails(args: &[&str]) -> String {
    let out = wc(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "wasm-chord {args:?} succeeded");
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains("error: "), "{args:?}: {err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{args:?}: {err}"
    );
    err
}

/// Text of `ids` as the streaming decoder releases it: the pieces' bytes, invalid UTF-8
/// replaced by U+FFFD.
pub fn detokenize(model: &str, ids: &[u32]) -> String {
    let file = gguf::GgufFile::open(model).unwrap();
    let tok = tokenizer::Tokenizer::from_gguf(file.metadata()).unwrap();
    let bytes: Vec<u8> = ids
        .iter()
        .flat_map(|&id| tok.token_to_piece(id, false).into_owned())
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The prompts of `tools/gen_ref_fixtures.py` (the fixtures store only their ids).
pub const PROMPTS: [(&str, &str); 8] = [
    ("capital", "The capital of France is"),
    ("once", "Once upon a time"),
    ("code", "def fibonacci(n):\n    "),
    ("count", "1, 2, 3, 4, 5,"),
    ("fox", "The quick brown fox"),
    ("qa", "Q: What is 7 times 8?\nA:"),
    ("emoji", "I love 🍕 and"),
    ("devil", "ABDOMEN, n.  The temple of the god Stomach,"),
];

/// `wasm-chord args` with the Vulkan loader's driver list set to
/// `driver_files`.
pub fn with_driver(driver_files: &str, args: &[&str]) -> Output {
    with_driver_stdin(driver_files, args, "")
}

/// [`with_driver`] with `stdin` piped in.
pub fn with_driver_stdin(driver_files: &str, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasm-chord"));
    cmd.args(args)
        .env(gpu::software::DRIVER_VAR, driver_files)
        .env_remove("WASM_CHORD_MODEL");
    piped(cmd, stdin)
}

/// A Vulkan driver list (VK_DRIVER_FILES, else SwiftShader's ICD), or a
/// skip (a failure under CI).
pub fn vulkan_driver() -> Option<String> {
    let d = gpu::software::vulkan_driver_files();
    if d.is_none() {
        test_support::missing(
            "a Vulkan driver (VK_DRIVER_FILES or SwiftShader's ICD)",
            "apt-get install chromium-common libvulkan1",
        );
    }
    d
}
