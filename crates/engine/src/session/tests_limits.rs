//! Issue 13: session options and files past the limits are errors, never aborts.

use std::path::PathBuf;
use std::sync::Arc;

use gguf::{Array, GgufFile, GgufWriter, Value};
use model::ModelError;

use super::*;
use crate::sampler::SamplerParams;

fn tiny() -> GgufFile {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/models/tiny-q4_k_m.gguf");
    GgufFile::open(p).unwrap()
}

/// The tiny model with `edit` applied to its metadata.
fn edited(edit: impl FnOnce(&mut GgufWriter)) -> Arc<GgufFile> {
    let mut w = GgufWriter::from_gguf(&tiny());
    edit(&mut w);
    Arc::new(GgufFile::from_bytes(&w.to_bytes()).unwrap())
}

fn opts(n_ctx: usize) -> SessionOptions {
    SessionOptions {
        n_ctx,
        threads: 1,
        ..SessionOptions::default()
    }
}

fn load_err(file: Arc<GgufFile>, o: SessionOptions) -> EngineError {
    Session::from_file(file, o).unwrap_err()
}

#[test]
fn context_without_a_declared_length_is_capped() {
    let f = || edited(|w| w.add_kv("llama.context_length", Value::U32(0)));
    let e = load_err(f(), opts(MAX_CTX + 1));
    assert!(
        matches!(&e, EngineError::InvalidOption { name: "n_ctx", detail } if detail.contains("1048576")),
        "{e}"
    );
    assert_eq!(Session::from_file(f(), opts(0)).unwrap().n_ctx(), 4096);
    assert_eq!(Session::from_file(f(), opts(300)).unwrap().n_ctx(), 300);
    // A missing key is no declared length either.
    let mut w = GgufWriter::new();
    for (k, v) in tiny().metadata().iter() {
        if k != "llama.context_length" {
            w.add_kv(k, v.clone());
        }
    }
    let t = tiny();
    for info in t.tensors() {
        w.add_tensor(
            &info.name,
            info.ggml_type,
            &info.dims,
            t.tensor_data(info).to_vec(),
        )
        .unwrap();
    }
    let f = Arc::new(GgufFile::from_bytes(&w.to_bytes()).unwrap());
    assert_eq!(Session::from_file(f, opts(0)).unwrap().n_ctx(), 4096);
}

#[test]
fn caches_beyond_memory_and_too_many_threads_are_errors() {
    let f = || Arc::new(tiny());
    for n in [usize::MAX / 2, 1 << 40] {
        let e = load_err(f(), opts(n));
        assert!(
            matches!(
                &e,
                EngineError::Model(ModelError::OutOfMemory {
                    what: "the KV cache",
                    ..
                })
            ),
            "{n}: {e}"
        );
    }
    let e = load_err(f(), opts(1 << 40));
    assert!(e.to_string().contains("bytes"), "{e}");
    let e = load_err(
        f(),
        SessionOptions {
            threads: MAX_THREADS + 1,
            ..opts(64)
        },
    );
    assert!(
        matches!(
            e,
            EngineError::InvalidOption {
                name: "threads",
                ..
            }
        ),
        "{e}"
    );
}

/// The tokenizer of `f` plus `extra` normal tokens (tokens, scores and types).
fn more_tokens(w: &mut GgufWriter, t: &GgufFile, extra: &[&str]) {
    let md = t.metadata();
    let arr = |k: &str| md.get(k).unwrap().as_array().unwrap().clone();
    let (Array::String(mut tokens), Array::F32(mut scores), Array::I32(mut types)) = (
        arr("tokenizer.ggml.tokens"),
        arr("tokenizer.ggml.scores"),
        arr("tokenizer.ggml.token_type"),
    ) else {
        panic!("unexpected tokenizer arrays")
    };
    for x in extra {
        tokens.push(x.to_string());
        scores.push(0.0);
        types.push(1);
    }
    w.add_kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    w.add_kv("tokenizer.ggml.scores", Value::Array(Array::F32(scores)));
    w.add_kv("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
}

#[test]
fn tokenizer_larger_than_the_output_head_is_refused() {
    let t = tiny();
    let f = edited(|w| more_tokens(w, &t, &["\u{436}"]));
    let e = load_err(f, opts(64));
    assert!(
        matches!(
            &e,
            EngineError::Model(ModelError::VocabTooLarge {
                tokens: 513,
                rows: 512,
                ..
            })
        ),
        "{e}"
    );
}

#[test]
fn huge_penalty_window_is_bounded_by_the_context() {
    let mut s = Session::from_file(Arc::new(tiny()), opts(64)).unwrap();
    let p = GenerateParams {
        sampler: SamplerParams {
            penalty_last_n: usize::MAX,
            repeat_penalty: 1.3,
            ..SamplerParams::default()
        },
        max_tokens: 4,
        ..GenerateParams::default()
    };
    let c = s
        .generate_with("Hello", &p, |_| std::ops::ControlFlow::Continue(()))
        .unwrap();
    assert_eq!(c.tokens.len(), 4);
}
