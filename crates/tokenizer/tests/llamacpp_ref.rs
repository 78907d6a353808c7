//! Decoding, special-token parsing, pieces and end-of-generation sets against
//! llama.cpp (`tests/fixtures/vocab/*.ref.json`, written by
//! `crates/tokenizer/tools/gen_vocab_ref.py`). The vocab files come from the
//! fetched cache (`tools/fetch_llamacpp_vocabs.py`) or `models/`; a test
//! skips with a message when its GGUF is absent.

use std::path::PathBuf;

use serde_json::Value;
use tokenizer::{StreamDecoder, Tokenizer};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn load(name: &str, gguf_rel: &str) -> Option<(Tokenizer, Value)> {
    let gguf_path = root().join(gguf_rel);
    let ref_path = root().join(format!("tests/fixtures/vocab/{name}.ref.json"));
    if !gguf_path.exists() || !ref_path.exists() {
        test_support::missing(
            format!("{} or {}", gguf_path.display(), ref_path.display()),
            test_support::FETCH_VOCABS,
        );
        return None;
    }
    let file = gguf::GgufFile::open(&gguf_path).expect("gguf parses");
    let tok = Tokenizer::from_gguf(file.metadata()).expect("tokenizer builds");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(ref_path).unwrap()).unwrap();
    Some((tok, doc))
}

fn check(name: &str, gguf_rel: &str) {
    let Some((tok, doc)) = load(name, gguf_rel) else {
        return;
    };
    let mut errs: Vec<String> = Vec::new();

    assert_eq!(
        tok.vocab_size() as u64,
        doc["n_vocab"].as_u64().unwrap(),
        "{name}: n_vocab"
    );
    let opt = |v: &Value| v.as_i64().filter(|&x| x >= 0).map(|x| x as u32);
    assert_eq!(tok.bos(), opt(&doc["bos"]), "{name}: bos");
    assert_eq!(tok.eos(), opt(&doc["eos"]), "{name}: eos");
    assert_eq!(
        tok.add_bos(),
        doc["add_bos"].as_bool().unwrap(),
        "{name}: add_bos"
    );
    assert_eq!(
        tok.add_eos(),
        doc["add_eos"].as_bool().unwrap(),
        "{name}: add_eos"
    );
    assert_eq!(
        tok.eog_ids(),
        ids(&doc["eog"]).as_slice(),
        "{name}: end-of-generation ids"
    );

    let mut n_checks = 0;
    for case in doc["detok"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let ids = ids(&case["ids"]);
        for (special, key) in [(false, "text"), (true, "text_special")] {
            n_checks += 1;
            let want = hex(case[key].as_str().unwrap());
            let got = tok.decode_bytes(&ids, special);
            if got != want {
                errs.push(format!(
                    "decode({ids:?}, {special}): want {:?} got {:?}",
                    String::from_utf8_lossy(&want),
                    String::from_utf8_lossy(&got)
                ));
            }
        }
    }
    for case in doc["special"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let add = case["add_special"].as_bool().unwrap();
        let parse = case["parse_special"].as_bool().unwrap();
        let want = ids(&case["ids"]);
        let got = tok.encode(text, add, parse);
        n_checks += 1;
        if got != want {
            errs.push(format!(
                "encode({text:?}, {add}, {parse}): want {want:?} got {got:?}"
            ));
        }
        for (special, key) in [(false, "detok"), (true, "detok_special")] {
            n_checks += 1;
            let want_text = hex(case[key].as_str().unwrap());
            let got_text = tok.decode_bytes(&want, special);
            if got_text != want_text {
                errs.push(format!(
                    "decode({want:?}, {special}): want {:?} got {:?}",
                    String::from_utf8_lossy(&want_text),
                    String::from_utf8_lossy(&got_text)
                ));
            }
        }
    }
    for p in doc["pieces"].as_array().unwrap() {
        let id = p[0].as_u64().unwrap() as u32;
        for (special, col) in [(false, 1), (true, 2)] {
            n_checks += 1;
            let want = hex(p[col].as_str().unwrap());
            let got = tok.token_to_piece(id, special);
            if *got != want[..] {
                errs.push(format!(
                    "piece({id}, {special}): want {want:?} got {:?}",
                    &*got
                ));
            }
        }
    }
    eprintln!(
        "{name}: {} / {n_checks} checks match llama.cpp",
        n_checks - errs.len()
    );
    let shown: Vec<_> = errs.iter().take(15).cloned().collect();
    assert!(
        errs.is_empty(),
        "{name}: {} mismatches:\n{}",
        errs.len(),
        shown.join("\n")
    );

    // Streaming the same ids gives decode's bytes (no leading-space removal,
    // no clean-up): compare with the concatenated pieces.
    for case in doc["special"].as_array().unwrap() {
        let ids = ids(&case["ids"]);
        let mut sd = StreamDecoder::new(&tok, true);
        let mut streamed = String::new();
        for &id in &ids {
            streamed.push_str(&sd.push(id));
        }
        streamed.push_str(&sd.flush());
        let concat: Vec<u8> = ids
            .iter()
            .flat_map(|&i| tok.token_to_piece(i, true).into_owned())
            .collect();
        assert_eq!(
            streamed,
            String::from_utf8_lossy(&concat),
            "{name}: stream of {ids:?}"
        );
    }
}

macro_rules! ref_tests {
    ($($fn_name:ident => $vocab:literal,)*) => {
        $( #[test] fn $fn_name() {
            check($vocab, concat!("tests/fixtures/_cache/vocab/ggml-vocab-", $vocab, ".gguf"));
        } )*
    };
}

ref_tests! {
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

#[test]
fn gemma3() {
    check("gemma-3-270m", "models/gemma-3-270m-q4_k_m.gguf");
}
