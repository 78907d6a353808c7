//! The reference corpus produced with llama.cpp by the project's reference
//! tools (`tests/fixtures/ref/*.tokens.json`: ~300 strings x add_special x
//! parse_special) for Gemma 3 and the synthetic tiny model (SentencePiece) and
//! for llama.cpp's llama-bpe and qwen2 test vocabularies (GPT-2 byte-level BPE;
//! `tools/fetch_llamacpp_vocabs.py` puts them in `tests/fixtures/_cache/vocab/`),
//! plus the real models of `scripts/fetch-model.sh NAME` (SmolLM2, Qwen2.5)
//! and a long text tokenized whole (`tiny.text_ids.json`). A missing file is
//! reported by `test_support::missing` (a failure when `CI` is set).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;
use tokenizer::Tokenizer;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load_json(p: &Path) -> Option<Value> {
    let s = std::fs::read_to_string(p).ok()?;
    Some(serde_json::from_str(&s).expect("fixture is valid JSON"))
}

fn open_tokenizer(model_file: &str) -> Option<Tokenizer> {
    let path = root().join(model_file);
    if !path.exists() {
        test_support::missing(
            path.display(),
            "scripts/fetch-model.sh or a committed fixture",
        );
        return None;
    }
    let file = gguf::GgufFile::open(&path).expect("model parses");
    let t0 = Instant::now();
    let tok = Tokenizer::from_gguf(file.metadata()).expect("tokenizer builds");
    eprintln!(
        "{model_file}: {} tokens, tokenizer built in {:?}",
        tok.vocab_size(),
        t0.elapsed()
    );
    Some(tok)
}

fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("ids array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn check_corpus(fixture: &str) {
    let path = root().join("tests/fixtures/ref").join(fixture);
    let Some(doc) = load_json(&path) else {
        test_support::missing(path.display(), "a committed fixture");
        return;
    };
    let Some(tok) = open_tokenizer(doc["model_file"].as_str().expect("model_file")) else {
        return;
    };
    assert_eq!(tok.vocab_size() as u64, doc["n_vocab"].as_u64().unwrap());
    assert_eq!(tok.bos().map(u64::from), doc["bos"].as_u64());
    assert_eq!(tok.eos().map(u64::from), doc["eos"].as_u64());
    assert_eq!(Some(tok.add_bos()), doc["add_bos"].as_bool());

    let entries = doc["entries"].as_array().expect("entries");
    let mut failures = Vec::new();
    let mut roundtrip_ok = 0;
    for e in entries {
        let text = e["text"].as_str().unwrap();
        let add = e["add_special"].as_bool().unwrap();
        let parse = e["parse_special"].as_bool().unwrap();
        let want = ids_of(&e["ids"]);
        let got = tok.encode(text, add, parse);
        if got != want {
            failures.push(format!(
                "  {text:?} add_special={add} parse_special={parse}\n    want {want:?}\n    got  {got:?}"
            ));
        }
        // Round trip: text without special syntax comes back exactly
        // (SPM: the prefix space is removed again by decode).
        if !add && !parse && !text.contains('<') && tok.decode(&got, false) == text {
            roundtrip_ok += 1;
        }
    }
    eprintln!(
        "{fixture}: {} / {} entries match llama.cpp; {roundtrip_ok} plain entries round-trip",
        entries.len() - failures.len(),
        entries.len()
    );
    let shown: Vec<_> = failures.iter().take(20).cloned().collect();
    assert!(
        failures.is_empty(),
        "{fixture}: {} mismatches, first ones:\n{}",
        failures.len(),
        shown.join("\n")
    );
}

#[test]
fn gemma3_corpus_matches_llamacpp() {
    check_corpus("gemma-3-270m-q4_k_m.tokens.json");
}

#[test]
fn tiny_corpus_matches_llamacpp() {
    check_corpus("tiny.tokens.json");
}

#[test]
fn llama_bpe_corpus_matches_llamacpp() {
    check_corpus("ggml-vocab-llama-bpe.tokens.json");
}

#[test]
fn qwen2_corpus_matches_llamacpp() {
    check_corpus("ggml-vocab-qwen2.tokens.json");
}

/// The real models of `scripts/fetch-model.sh NAME` (GPT-2 byte-level BPE
/// with the `smollm` and `qwen2` pre-tokenizers, ChatML and Qwen added
/// tokens): the corpus on each file's own vocabulary.
#[test]
fn smollm2_corpus_matches_llamacpp() {
    check_corpus("smollm2-135m-instruct-q4_1.tokens.json");
}

#[test]
fn qwen2_5_coder_0_5b_corpus_matches_llamacpp() {
    check_corpus("qwen2.5-coder-0.5b-instruct-q4_k_m.tokens.json");
}

#[test]
fn qwen2_5_coder_1_5b_corpus_matches_llamacpp() {
    check_corpus("qwen2.5-coder-1.5b-instruct-q4_k_m.tokens.json");
}

/// A 300 KB text tokenized in one call (perplexity-style), against llama.cpp.
#[test]
fn tiny_long_text_matches_llamacpp() {
    let path = root().join("tests/fixtures/ref/tiny.text_ids.json");
    let Some(doc) = load_json(&path) else {
        test_support::missing(path.display(), "a committed fixture");
        return;
    };
    let Some(tok) = open_tokenizer("tests/fixtures/models/tiny-untied-q4_k_m.gguf") else {
        return;
    };
    let text_path = root().join(doc["text_file"].as_str().unwrap());
    let mut text = std::fs::read_to_string(&text_path).expect("text file");
    if text.ends_with('\n') {
        text.pop(); // as the fixture's note says (llama.cpp -f drops one trailing newline)
    }
    let want = ids_of(&doc["ids"]);
    let t0 = Instant::now();
    let got = tok.encode(
        &text,
        doc["add_special"].as_bool().unwrap(),
        doc["parse_special"].as_bool().unwrap(),
    );
    let dt = t0.elapsed();
    eprintln!(
        "long text: {} bytes -> {} tokens in {dt:?}",
        text.len(),
        got.len()
    );
    let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
    assert!(
        got == want,
        "{} tokens vs llama.cpp's {}; first difference at {first_diff:?}",
        got.len(),
        want.len()
    );
}
