//! `web/e2e/fixtures/gemma-3-270m-greedy.json` is the native CPU run that the browser's
//! WebGPU test (`web/e2e/webgpu.test.mjs`) compares with: Gemma 3 270M, the scalar
//! reference kernels (the order `WASM_CHORD_ISA=scalar wasm-chord run` uses), 16 greedy
//! tokens, and each step's top-1 minus top-2 logit (the near-tie margins). This test
//! checks that the committed file is that run; `UPDATE_FIXTURES=1` rewrites it. Fails,
//! not skips, without the model when `CI` is set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use engine::{GenerateParams, Loaded, SamplerParams, Session, SessionOptions};
use kernels::arch::{table, Isa};
use serde::{Deserialize, Serialize};

const MODEL: &str = "gemma-3-270m-q4_k_m.gguf";
const PROMPT: &str = "The capital of France is";
const N: usize = 16;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Fixture {
    about: String,
    model: String,
    prompt: String,
    ids: Vec<u32>,
    /// Per step: top-1 minus top-2 logit on the CPU.
    margins: Vec<f32>,
    text: String,
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Greedy generation of the fixture's prompt on the CPU's scalar kernels.
fn native_run(model: &Path) -> Fixture {
    let file = Arc::new(gguf::GgufFile::open(model).expect("open the model"));
    let opts = SessionOptions {
        n_ctx: 256,
        threads: 1,
        ..Default::default()
    };
    let Loaded { model: m, prompter } = Loaded::from_file(file, &opts).expect("load");
    let scalar = table(Isa::Scalar).expect("the scalar table exists everywhere");
    let loaded = Loaded {
        model: m.with_kernels(scalar),
        prompter,
    };
    let mut s = Session::from_loaded(loaded, &opts).expect("session");
    let params = GenerateParams {
        sampler: SamplerParams {
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..Default::default()
        },
        max_tokens: N,
        top_logprobs: 2,
        ..Default::default()
    };
    let (mut ids, mut margins, mut text) = (Vec::new(), Vec::new(), String::new());
    for p in s.generate(PROMPT, &params) {
        let p = p.expect("generate");
        assert_eq!(p.top_logprobs.len(), 2);
        assert_eq!(p.top_logprobs[0].0, p.id, "greedy takes the top token");
        ids.push(p.id);
        // log-softmax differences are logit differences
        margins.push(p.top_logprobs[0].1 - p.top_logprobs[1].1);
        text.push_str(&p.text);
    }
    Fixture {
        about: "native CPU run (scalar kernels, temperature 0) for web/e2e/webgpu.test.mjs; \
                margins: top-1 minus top-2 logit per step; \
                regenerate: UPDATE_FIXTURES=1 cargo test -p wasm --test gemma_fixture"
            .into(),
        model: MODEL.into(),
        prompt: PROMPT.into(),
        ids,
        margins,
        text,
    }
}

#[test]
fn fixture_is_the_native_cpu_run() {
    let Some(model) = test_support::require(
        &root().join("models").join(MODEL),
        "scripts/fetch-model.sh gemma-3-270m",
    ) else {
        return;
    };
    let path = root().join("web/e2e/fixtures/gemma-3-270m-greedy.json");
    let run = native_run(&model);
    assert_eq!(run.ids.len(), N);
    if std::env::var_os("UPDATE_FIXTURES").is_some() {
        let json = serde_json::to_string_pretty(&run).expect("json") + "\n";
        std::fs::write(&path, json).expect("write the fixture");
    }
    let text = std::fs::read_to_string(&path).expect("read the fixture");
    let committed: Fixture = serde_json::from_str(&text).expect("parse the fixture");
    assert_eq!(committed.ids, run.ids);
    assert_eq!(committed.text, run.text);
    for (i, (a, b)) in committed.margins.iter().zip(&run.margins).enumerate() {
        assert!((a - b).abs() < 1e-4, "margin {i}: {a} committed, {b} now");
    }
}
