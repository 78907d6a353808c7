//! Tokenizer inputs built to cost memory or time: long whitespace, nested
//! special tokens, adversarial text through every BPE pre-tokenizer, and a
//! prompt far past the context.

use std::path::{Path, PathBuf};

use gguf::{Array, GgufFile, GgufWriter, Value};

use crate::common::{gemma, root, tmp_dir};
use crate::probe::Probe;

const MB: u64 = 1 << 20;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).expect("write a probe file");
    p.to_string_lossy().into_owned()
}

fn tokenize(model: &str, file: &str) -> Probe {
    Probe::new(&["tokenize", "-m", model, "-f", file])
}

#[test]
fn whitespace_8mb_on_gemma_stays_under_1gb() {
    let m = gemma();
    let dir = tmp_dir();
    for (name, ch) in [("spaces", b' '), ("newlines", b'\n'), ("tabs", b'\t')] {
        let f = write(&dir, name, &vec![ch; 8 << 20]);
        tokenize(&m, &f).run().success().rss_below(1024 * MB);
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// A vocabulary-only SPM GGUF: `<unk>`, `<s>`, `</s>`, the byte tokens,
/// `▁`, and `specials` as user-defined tokens.
fn spm_vocab_gguf(dir: &Path, specials: &[String]) -> String {
    let mut tokens: Vec<String> = vec!["<unk>".into(), "<s>".into(), "</s>".into()];
    let mut types = vec![2i32, 3, 3];
    for b in 0..=255u8 {
        tokens.push(format!("<0x{b:02X}>"));
        types.push(6);
    }
    tokens.push("▁".into());
    types.push(1);
    for s in specials {
        tokens.push(s.clone());
        types.push(4);
    }
    let mut w = GgufWriter::new();
    w.add_kv("tokenizer.ggml.model", Value::String("llama".into()));
    w.add_kv(
        "tokenizer.ggml.scores",
        Value::Array(Array::F32(vec![0.0; tokens.len()])),
    );
    w.add_kv("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
    w.add_kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
    w.add_kv("tokenizer.ggml.bos_token_id", Value::U32(1));
    w.add_kv("tokenizer.ggml.eos_token_id", Value::U32(2));
    w.add_kv("tokenizer.ggml.unknown_token_id", Value::U32(0));
    let p = dir.join("nested.gguf");
    std::fs::write(&p, w.to_bytes()).expect("write the vocabulary");
    p.to_string_lossy().into_owned()
}

#[test]
fn nested_specials_100kb_stay_under_500mb() {
    // Every byte of the text starts an occurrence of up to 500 specials.
    let dir = tmp_dir();
    for unit in ["a", "<x>"] {
        let specials: Vec<String> = (1..=500).map(|n| unit.repeat(n)).collect();
        let m = spm_vocab_gguf(&dir, &specials);
        let text = unit.repeat(100_000 / unit.len());
        let f = write(&dir, "text", text.as_bytes());
        let out = tokenize(&m, &f).run();
        out.success().rss_below(500 * MB);
        // BOS, then tokens of 500 units and one of the rest.
        let n = out.stdout_text().split_whitespace().count();
        assert_eq!(n, 1 + (100_000 / unit.len()).div_ceil(500), "{unit}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

/// 1 MB built to find slow paths in the word splitters: long runs of each
/// kind of character, then all kinds interleaved.
fn adversarial_text() -> String {
    let runs: [&str; 18] = [
        " ",
        "\t \u{3000}\u{a0}",
        "\n",
        "\r\n \n",
        "7",
        "٣४",
        "!?.,;:-_(){}[]<>|/\\\"'",
        "$+=^~`@#%&*",
        "aB",
        "QWERTYUIOP",
        "qwertyuiopasdfghjkl",
        "Ӝяж",
        "漢字かなカナ",
        "مرحبا",
        "e\u{301}\u{302}\u{303}",
        "\u{300}",
        "'s'll're'VE",
        "😀\u{200d}",
    ];
    let mut s = String::with_capacity(1 << 20);
    // Runs of 48 KB of each kind.
    for r in runs {
        let end = s.len() + (48 << 10);
        while s.len() < end {
            s.push_str(r);
        }
    }
    // The rest: kinds interleaved in short pseudo-random runs.
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    while s.len() < 1 << 20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let r = runs[(seed % runs.len() as u64) as usize];
        for _ in 0..1 + (seed >> 8) % 40 {
            s.push_str(r);
        }
    }
    s
}

/// A llama.cpp vocabulary file (tools/fetch_llamacpp_vocabs.py); `None`
/// without it, a failure under CI.
fn llamacpp_vocab(name: &str) -> Option<PathBuf> {
    let p = root().join(format!(
        "tests/fixtures/_cache/vocab/ggml-vocab-{name}.gguf"
    ));
    if p.exists() {
        return Some(p);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{} is missing: run tools/fetch_llamacpp_vocabs.py",
        p.display()
    );
    eprintln!("skipped: {} is missing", p.display());
    None
}

/// `vocab` with its `tokenizer.ggml.pre` set to `pre`.
fn with_pre(dir: &Path, vocab: &Path, pre: &str) -> String {
    let file = GgufFile::open(vocab).expect("open a vocabulary file");
    let mut w = GgufWriter::from_gguf(&file);
    w.add_kv("tokenizer.ggml.pre", Value::String(pre.into()));
    let p = dir.join(format!("vocab-{pre}.gguf"));
    std::fs::write(&p, w.to_bytes()).expect("write the vocabulary");
    p.to_string_lossy().into_owned()
}

/// One `tokenizer.ggml.pre` value per distinct splitter and flag set.
const PRE_TOKENIZERS: [&str; 24] = [
    "default",
    "llama-bpe",
    "dbrx",
    "chatglm-bpe",
    "glm4",
    "deepseek-llm",
    "deepseek-coder",
    "deepseek-v3",
    "falcon",
    "gpt-2",
    "trillion",
    "starcoder",
    "command-r",
    "qwen2",
    "qwen35",
    "poro-chat",
    "viking",
    "tekken",
    "gpt-4o",
    "seed-coder",
    "ufakzeka",
    "bailingmoe",
    "minicpm5",
    "gemma4",
];

#[test]
fn adversarial_1mb_with_every_pre_tokenizer() {
    let Some(gpt2) = llamacpp_vocab("gpt-2") else {
        return;
    };
    let Some(gemma4) = llamacpp_vocab("gemma-4") else {
        return;
    };
    let dir = tmp_dir();
    let text = write(&dir, "adversarial.txt", adversarial_text().as_bytes());
    let cases = PRE_TOKENIZERS
        .iter()
        .map(|&pre| (&gpt2, pre))
        .chain([(&gemma4, "gemma4"), (&gemma4, "sarvam-moe")]);
    for (vocab, pre) in cases {
        let m = with_pre(&dir, vocab, pre);
        let out = tokenize(&m, &text).timeout_secs(30).run();
        out.success().rss_below(500 * MB).faster_than(20.0);
        eprintln!(
            "{pre}: {:.2} s, {} MB",
            out.elapsed.as_secs_f64(),
            out.peak_rss / MB
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn huge_prompt_is_refused_before_tokenizing() {
    let m = gemma();
    let dir = tmp_dir();
    // 62.4 MB: just under the 64 MiB cap of -f files.
    let f = write(&dir, "prompt", &b"hello world, ".repeat(4_800_000));
    let out = Probe::new(&["run", "-m", &m, "-f", &f, "-c", "512", "-n", "1"])
        .timeout_secs(20)
        .run();
    out.clean_error("--ctx-size").faster_than(5.0);
    assert!(out.last_line().contains("62400000 bytes"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn long_whitespace_prompt_that_fits_is_accepted() {
    // 8 000 spaces are ~260 Gemma tokens (31 spaces each): within -c 512, which a
    // fixed bytes-per-token ratio would refuse.
    let m = gemma();
    let prompt = format!("Hi{}there", " ".repeat(8000));
    Probe::new(&["run", "-m", &m, "-p", &prompt, "-c", "512", "-n", "1"])
        .args_temp0()
        .run()
        .success();
}

#[test]
fn spaceless_random_letters_64mib_on_gemma() {
    // One SentencePiece word as long as a -f file may be: every adjacent
    // pair is a Gemma token, so tens of millions of merges are queued.
    let m = gemma();
    let dir = tmp_dir();
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let text: Vec<u8> = (0..64u32 << 20)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            b'a' + (seed % 26) as u8
        })
        .collect();
    let f = write(&dir, "letters", &text);
    drop(text);
    let out = tokenize(&m, &f).run();
    out.success();
    assert!(out.stdout.starts_with(b"2 "), "BOS first");
    eprintln!(
        "64 MiB of letters: {:.1} s, {} MB peak RSS",
        out.elapsed.as_secs_f64(),
        out.peak_rss >> 20
    );
    let _ = std::fs::remove_dir_all(dir);
}
