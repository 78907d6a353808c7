//! llama.cpp's own tokenizer test vectors (`models/ggml-vocab-*.gguf.inp/.out`,
//! checked by llama.cpp's `test-tokenizer-0` with add_special = false,
//! parse_special = false). Fetched by `tools/fetch_llamacpp_vocabs.py` into
//! `tests/fixtures/_cache/vocab/`; every test skips (with a message; under CI it fails) when the
//! cache is absent and fails on any mismatch when present.

use std::path::PathBuf;

use tokenizer::{Tokenizer, TokenizerError};

const SEP: &str = "\n__ggml_vocab_test__\n";

fn vocab_dir() -> PathBuf {
    match std::env::var_os("WASM_CHORD_VOCAB_DIR") {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/_cache/vocab"),
    }
}

/// (input, expected ids) pairs.
type Cases = Vec<(String, Vec<u32>)>;

/// The tokenizer and test cases of one vocab, or `None` if not fetched.
fn cases(name: &str) -> Option<(Tokenizer, Cases)> {
    let dir = vocab_dir();
    let gguf_path = dir.join(format!("ggml-vocab-{name}.gguf"));
    let inp = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.inp")));
    let out = std::fs::read_to_string(dir.join(format!("ggml-vocab-{name}.gguf.out")));
    let (Ok(inp), Ok(out), true) = (inp, out, gguf_path.exists()) else {
        test_support::missing(gguf_path.display(), test_support::FETCH_VOCABS);
        return None;
    };
    let file = gguf::GgufFile::open(&gguf_path).expect("vocab gguf parses");
    let t0 = std::time::Instant::now();
    let tok = Tokenizer::from_gguf(file.metadata()).expect("tokenizer builds");
    eprintln!(
        "ggml-vocab-{name}: {} tokens, built in {:?}",
        tok.vocab_size(),
        t0.elapsed()
    );

    // Same splitting as test-tokenizer-0.cpp.
    let mut inputs = Vec::new();
    let mut pos = 0;
    while pos < inp.len() {
        match inp[pos..].find(SEP) {
            Some(i) => {
                inputs.push(inp[pos..pos + i].to_owned());
                pos += i + SEP.len();
            }
            None => {
                inputs.push(inp[pos..].to_owned());
                break;
            }
        }
    }
    let outputs: Vec<Vec<u32>> = out
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|t| t.parse().expect("id"))
                .collect()
        })
        .collect();
    assert_eq!(
        inputs.len(),
        outputs.len(),
        "{name}: .inp and .out disagree in count"
    );
    Some((tok, inputs.into_iter().zip(outputs).collect()))
}

/// llama.cpp's detokenization of each case (from `tests/fixtures/vocab/`), if present.
fn llamacpp_detok(name: &str) -> Option<Vec<Vec<u8>>> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/fixtures/vocab/{name}.ref.json"));
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()?;
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    Some(
        doc["detok"]
            .as_array()?
            .iter()
            .map(|c| hex(c["text"].as_str().unwrap()))
            .collect(),
    )
}

fn check_vocab(name: &str) {
    let Some((tok, cases)) = cases(name) else {
        return;
    };
    let detok = llamacpp_detok(name);
    let mut failures = Vec::new();
    let (mut llama_rt, mut our_rt) = (0, 0);
    for (i, (text, want)) in cases.iter().enumerate() {
        let got = tok.encode(text, false, false);
        check_bound(&tok, text, got.len());
        if &got != want {
            failures.push(format!("  {text:?}\n    want {want:?}\n    got  {got:?}"));
        }
        // decode(encode(s)) == s wherever llama.cpp's own round trip holds.
        let ours = tok.decode(&got, false);
        our_rt += usize::from(ours == *text);
        if let Some(d) = detok.as_ref().and_then(|d| d.get(i)) {
            if d == text.as_bytes() {
                llama_rt += 1;
                if ours != *text {
                    failures.push(format!("  round trip of {text:?} gave {ours:?}"));
                }
            }
        }
    }
    eprintln!(
        "ggml-vocab-{name}: a token covers at most {} bytes",
        tok.max_token_bytes()
    );
    for text in [
        " ".repeat(500),
        "\n".repeat(300),
        "▁".repeat(200),
        " \t\r\n".repeat(100),
        "<s></s><|endoftext|><unk> ".repeat(50),
        (0..=127u8).map(char::from).collect::<String>().repeat(3),
        cases.iter().map(|c| c.0.as_str()).collect::<String>(),
    ] {
        check_bound(&tok, &text, tok.encode(&text, false, false).len());
    }
    eprintln!(
        "ggml-vocab-{name}: {} / {} cases match llama.cpp; round trips: {our_rt} ours, {llama_rt} llama.cpp",
        cases.len() - failures.len(),
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{name}: {} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// `Tokenizer::min_tokens` is a lower bound, with and without parse_special.
fn check_bound(tok: &Tokenizer, text: &str, n_plain: usize) {
    let min = tok.min_tokens(text);
    let n_special = tok.encode(text, false, true).len();
    assert!(
        min <= n_plain && min <= n_special,
        "min_tokens {min} > {n_plain} / {n_special} tokens for {text:?}"
    );
}

macro_rules! vocab_tests {
    ($($fn_name:ident => $vocab:literal,)*) => {
        $( #[test] fn $fn_name() { check_vocab($vocab); } )*
    };
}

vocab_tests! {
    llama_spm => "llama-spm",
    phi_3 => "phi-3",
    llama_bpe => "llama-bpe",
    qwen2 => "qwen2",
    qwen35 => "qwen35",
    gpt_2 => "gpt-2",
    mpt => "mpt",
    starcoder => "starcoder",
    refact => "refact",
    command_r => "command-r",
    falcon => "falcon",
    deepseek_coder => "deepseek-coder",
    deepseek_llm => "deepseek-llm",
    gemma_4 => "gemma-4",
}

/// BERT (WordPiece) vocabularies are not supported: a typed error, no panic.
#[test]
fn bert_is_rejected_with_a_typed_error() {
    let path = vocab_dir().join("ggml-vocab-bert-bge.gguf");
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_VOCABS);
        return;
    }
    let file = gguf::GgufFile::open(&path).unwrap();
    match Tokenizer::from_gguf(file.metadata()) {
        Err(TokenizerError::UnsupportedModel { model, .. }) => assert_eq!(model, "bert"),
        other => panic!("expected UnsupportedModel, got {other:?}"),
    }
}

/// Vocab-only files without test vectors still load.
#[test]
fn vocabs_without_vectors_load() {
    for name in ["aquila", "baichuan", "gpt-neox"] {
        let path = vocab_dir().join(format!("ggml-vocab-{name}.gguf"));
        if !path.exists() {
            test_support::missing(path.display(), test_support::FETCH_VOCABS);
            continue;
        }
        let file = gguf::GgufFile::open(&path).unwrap();
        let tok = Tokenizer::from_gguf(file.metadata()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let ids = tok.encode("Hello world", false, false);
        assert!(!ids.is_empty(), "{name}");
        assert_eq!(
            tok.decode(&ids, false).trim_start(),
            "Hello world",
            "{name}"
        );
    }
}
