//! `wasm-chord quantize`: the command end to end (the bytes are checked
//! against llama.cpp in crates/quantize/tests/llamacpp.rs).

mod common;

use common::*;

fn out_path(name: &str) -> String {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-quantize");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(format!("{name}-{}.gguf", std::process::id()))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn quantized_model_loads_and_runs() {
    let out = out_path("tiny-q4_k_m");
    let src = tiny("tiny-f16");
    let err = wc(&["quantize", &src, &out, "q4_k", "2"]);
    assert!(
        err.status.success(),
        "{}",
        String::from_utf8_lossy(&err.stderr)
    );
    let log = String::from_utf8_lossy(&err.stderr);
    assert!(
        log.contains("Q4_K_M: 20 tensors") && log.contains("Q6_K x3"),
        "{log}"
    );
    let info: serde_json::Value = serde_json::from_str(&ok(&["info", &out, "--json"])).unwrap();
    let text = info.to_string();
    assert!(text.contains("\"general.file_type\""), "{text}");
    let gen = ok(&["run", "-m", &out, "-p", "Hello", "-n", "4", "--temp", "0"]);
    assert!(!gen.is_empty());
    // Same bytes with one thread and with --threads.
    let out1 = out_path("tiny-q4_k_m-t1");
    ok(&["quantize", "-t", "1", &src, &out1, "Q4_K_M"]);
    assert!(std::fs::read(&out).unwrap() == std::fs::read(&out1).unwrap());
    for p in [out, out1] {
        std::fs::remove_file(p).unwrap();
    }
}

#[test]
fn refusals_name_the_problem() {
    let src = tiny("tiny-f16");
    let out = out_path("refused");
    let err = fails(&["quantize", &src, &out, "IQ2_XXS"]);
    assert!(err.contains("unknown file type 'IQ2_XXS'"), "{err}");
    let err = fails(&["quantize", "--output-tensor-type", "q9", &src, &out, "Q4_0"]);
    assert!(err.contains("unknown ggml type"), "{err}");
    let q4 = tiny("tiny-q4_0");
    let err = fails(&["quantize", &q4, &out, "Q8_0"]);
    assert!(
        err.contains("token_embd.weight' is Q6_K: only F32, F16 and BF16"),
        "{err}"
    );
    let err = fails(&["quantize", &src, &src, "Q8_0"]);
    assert!(err.contains("is the input file"), "{err}");
    assert!(!std::path::Path::new(&out).exists());
}
