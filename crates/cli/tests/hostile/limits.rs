//! Issue 13, items 3, 4, 6, 7 and 10: numbers that size memory or threads (context,
//! threads, penalty window, repetitions), the KV cache's memory, a tokenizer larger than
//! the model's tensors, and negative sampling values.

use std::path::Path;

use gguf::{Array, GgufFile, GgufWriter, Value};

use crate::common::{gemma, root, tiny, tmp_dir};
use crate::probe::Probe;

/// `tiny-q4_0` with `edit` applied, written to `dir/name`.
fn edited_tiny(dir: &Path, name: &str, edit: impl FnOnce(&GgufFile, &mut GgufWriter)) -> String {
    let src = GgufFile::open(tiny("tiny-q4_0")).unwrap();
    let mut w = GgufWriter::from_gguf(&src);
    edit(&src, &mut w);
    let p = dir.join(name);
    std::fs::write(&p, w.to_bytes()).unwrap();
    p.to_string_lossy().into_owned()
}

/// `tiny-q4_0` declaring a context length of `n`.
fn tiny_with_context(dir: &Path, n: u32) -> String {
    edited_tiny(dir, &format!("ctx{n}.gguf"), |_, w| {
        w.add_kv("llama.context_length", Value::U32(n))
    })
}

/// `tiny-q4_0` whose tokenizer has one more token ("ж", id 512) than its 512-row
/// embedding and output tensors.
fn tiny_with_extra_token(dir: &Path) -> String {
    edited_tiny(dir, "vocab513.gguf", |src, w| {
        let arr = |k: &str| src.metadata().get(k).unwrap().as_array().unwrap().clone();
        let (Array::String(mut tokens), Array::F32(mut scores), Array::I32(mut types)) = (
            arr("tokenizer.ggml.tokens"),
            arr("tokenizer.ggml.scores"),
            arr("tokenizer.ggml.token_type"),
        ) else {
            panic!("unexpected tokenizer arrays in tiny-q4_0")
        };
        tokens.push("\u{436}".into());
        scores.push(0.0);
        types.push(1);
        w.add_kv("tokenizer.ggml.tokens", Value::Array(Array::String(tokens)));
        w.add_kv("tokenizer.ggml.scores", Value::Array(Array::F32(scores)));
        w.add_kv("tokenizer.ggml.token_type", Value::Array(Array::I32(types)));
    })
}

/// `run -m m -p hi` with `extra` (and `-n 2` unless `extra` has its own `-n`).
fn run_args<'a>(m: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec!["run", "-m", m, "-p", "hi"];
    if !extra.contains(&"-n") {
        a.extend(["-n", "2"]);
    }
    a.extend_from_slice(extra);
    a
}

// ---- item 3: context sizes and the KV cache's memory ----

#[test]
fn huge_ctx_on_gemma_is_capped_to_its_training_context() {
    let m = gemma();
    let out = Probe::new(&run_args(&m, &["-c", "1000000000"]))
        .args_temp0()
        .run();
    out.success();
    assert!(
        out.stderr
            .contains("--ctx-size 1000000000 capped to the model's training context 32768"),
        "{}",
        out.stderr
    );
}

#[test]
fn ctx_without_a_declared_context_length_is_capped_at_2_pow_20() {
    let dir = tmp_dir();
    let m = tiny_with_context(&dir, 0);
    for c in ["1048577", "1000000000", "18446744073709551615"] {
        Probe::new(&run_args(&m, &["-c", c]))
            .run()
            .clean_error("--ctx-size");
    }
    Probe::new(&run_args(&m, &["-c", "64"]))
        .args_temp0()
        .run()
        .success();
}

#[test]
fn ctx_whose_cache_exceeds_memory_is_an_error_naming_the_flag() {
    // A file declaring a context of 2^30: -c 10^9 is under it, and its KV cache (2 TB)
    // is over physical memory.
    let dir = tmp_dir();
    let m = tiny_with_context(&dir, 1 << 30);
    let out = Probe::new(&run_args(&m, &["-c", "1000000000"])).run();
    out.clean_error("--ctx-size 1000000000");
    assert!(out.last_line().contains("KV cache"), "{}", out.stderr);
    assert!(out.last_line().contains("bytes"), "{}", out.stderr);
    Probe::new(&["bench", "-m", &m, "-p", "1000000000", "-n", "0", "-r", "1"])
        .run()
        .clean_error("--n-prompt 1000000000");
}

#[test]
fn perplexity_ctx_size_is_range_checked() {
    let m = tiny("tiny-q4_0");
    let text = root().join("tests/fixtures/text/devils-dictionary.txt");
    let text = text.to_string_lossy();
    for c in ["9223372036854775808", "18446744073709551615", "1048577"] {
        Probe::new(&["perplexity", "-m", &m, "-f", &text, "-c", c])
            .run()
            .clean_error("--ctx-size");
    }
}

#[test]
fn perplexity_chunks_zero_is_every_chunk() {
    let m = tiny("tiny-q4_0");
    let text = root().join("tests/fixtures/text/devils-dictionary.txt");
    let text = text.to_string_lossy();
    let chunks = |extra: &[&str]| {
        let mut a = vec!["perplexity", "-m", &m, "-f", &text, "-c", "256"];
        a.extend_from_slice(extra);
        let out = Probe::new(&a).run();
        out.success();
        let line = out
            .stderr
            .lines()
            .find(|l| l.contains("calculating perplexity over"))
            .unwrap_or_default()
            .to_string();
        line.split_whitespace()
            .nth(4)
            .unwrap_or_default()
            .to_string()
    };
    let all = chunks(&[]);
    assert!(all.parse::<usize>().unwrap() > 1, "{all}");
    assert_eq!(chunks(&["--chunks", "0"]), all);
    assert_eq!(chunks(&["--chunks", "18446744073709551615"]), all);
    assert_eq!(chunks(&["--chunks", "1"]), "1");
}

// ---- item 4: the f16 cache commits memory as it is used ----

/// Before: 868 MB RSS with the f16 cache at -c 32768 (written in full at allocation)
/// against 294 MB with f32. Both now stay near the model's size.
#[test]
fn f16_cache_memory_is_committed_lazily() {
    let m = gemma();
    for ty in ["f16", "f32"] {
        let out = Probe::new(&run_args(
            &m,
            &["-c", "32768", "-n", "4", "--cache-type", ty],
        ))
        .args_temp0()
        .run();
        out.success();
        eprintln!(
            "-c 32768 --cache-type {ty}: peak RSS {} MB",
            out.peak_rss >> 20
        );
        out.rss_below(400 << 20);
    }
}

// ---- item 6: a tokenizer larger than the model's tensors ----

#[test]
fn tokenizer_larger_than_the_output_head_is_refused_at_load() {
    let dir = tmp_dir();
    let m = tiny_with_extra_token(&dir);
    let text = dir.join("text.txt");
    // Tokens: BOS, 5 tokens of "hello", then id 512 at position 6 of the first chunk of
    // 8: scoring position 5 read logits[512] of a 512-wide row (an index panic) before
    // the forward pass could refuse the token.
    std::fs::write(&text, "hello \u{436}\u{436}\u{436} ".repeat(200)).unwrap();
    let text = text.to_string_lossy();
    let needle = "the tokenizer has 513 tokens";
    Probe::new(&["perplexity", "-m", &m, "-f", &text, "-c", "8", "-b", "1"])
        .run()
        .clean_error(needle);
    Probe::new(&run_args(&m, &[])).run().clean_error(needle);
    Probe::new(&["chat", "-m", &m, "--chat-template", "chatml"])
        .stdin("hi\n")
        .run()
        .clean_error(needle);
    Probe::new(&["bench", "-m", &m, "-p", "8", "-n", "0", "-r", "1"])
        .run()
        .clean_error(needle);
    // `info` still describes it.
    let out = Probe::new(&["info", &m]).run();
    out.success();
    assert!(out.stdout_text().contains("513"), "{}", out.stdout_text());
}

// ---- item 7: numbers used as allocation sizes ----

#[test]
fn numeric_flags_past_their_ranges_name_the_flag() {
    let m = tiny("tiny-q4_0");
    let text = root().join("tests/fixtures/text/devils-dictionary.txt");
    let text = text.to_string_lossy();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            run_args(&m, &["--repeat-last-n", "1000000000000"]),
            "--repeat-last-n",
        ),
        (run_args(&m, &["--repeat-last-n", "-2"]), "--repeat-last-n"),
        (run_args(&m, &["-t", "100000"]), "--threads"),
        (
            vec!["bench", "-m", &m, "-r", "1000000000000"],
            "--repetitions",
        ),
        (vec!["bench", "-m", &m, "-t", "1,100000"], "--threads"),
        (
            vec!["bench", "-m", &m, "-p", "4096", "-n", "0"],
            "--n-prompt 4096",
        ),
        (
            vec!["bench", "-m", &m, "-p", "0", "-n", "99999999999"],
            "--n-gen",
        ),
        (
            vec!["perplexity", "-m", &m, "-f", &text, "-t", "100000"],
            "--threads",
        ),
    ];
    for (args, needle) in cases {
        Probe::new(&args).run().clean_error(needle);
    }
    Probe::new(&[
        "chat",
        "-m",
        &m,
        "--chat-template",
        "chatml",
        "-t",
        "100000",
    ])
    .stdin("hi\n")
    .run()
    .clean_error("--threads");
}

#[test]
fn numeric_flags_within_range_run() {
    let m = tiny("tiny-q4_0");
    for extra in [
        &["--repeat-last-n", "-1", "--repeat-penalty", "1.3"][..],
        &["--repeat-last-n", "1048576", "--repeat-penalty", "1.3"],
        &["-t", "64"],
        &["-n", "1000000000", "-c", "16"], // ends at a full context with a note
    ] {
        Probe::new(&run_args(&m, extra))
            .args_temp0()
            .run()
            .success();
    }
    Probe::new(&[
        "bench", "-m", &m, "-p", "8", "-n", "4", "-r", "2", "-b", "100000",
    ])
    .run()
    .success();
}

#[test]
fn zero_sizes_stay_errors() {
    let m = tiny("tiny-q4_0");
    for (args, needle) in [
        (vec!["bench", "-m", &m, "-r", "0"], "--repetitions"),
        (
            vec!["bench", "-m", &m, "-p", "0", "-n", "0"],
            "nothing to run",
        ),
        (vec!["bench", "-m", &m, "-b", "0"], "--batch-size"),
    ] {
        Probe::new(&args).run().clean_error(needle);
    }
}

// ---- item 10: negative and out-of-range sampling values ----

#[test]
fn negative_and_out_of_range_sampling_values_keep_their_meaning() {
    let m = tiny("tiny-q4_0");
    let greedy = Probe::new(&run_args(&m, &["-n", "8"])).args_temp0().run();
    greedy.success();
    for extra in [
        &["--temp", "-1"][..],
        &["--temp", "-0.5", "--top-p", "-1"],
        &["--top-p", "-1", "--min-p", "5", "--seed", "3"],
        &["--min-p", "-2", "--top-p", "7", "--seed", "3"],
        &["--repeat-penalty", "-1", "--frequency-penalty", "-1e30"],
        &["--presence-penalty", "-3", "--repeat-penalty", "0"],
    ] {
        Probe::new(&run_args(&m, extra)).run().success();
    }
    // --temp <= 0 is greedy whatever the other filters say.
    for t in ["-1", "-1e30"] {
        let out = Probe::new(&run_args(&m, &["-n", "8", "--temp", t, "--seed", "9"])).run();
        out.success();
        assert_eq!(out.stdout, greedy.stdout, "--temp {t}");
    }
}

#[test]
fn non_finite_sampling_values_are_errors_and_unsigned_flags_stay_unsigned() {
    let m = tiny("tiny-q4_0");
    for (flag, v) in [
        ("--temp", "nan"),
        ("--temp", "-inf"),
        ("--top-p", "inf"),
        ("--min-p", "NaN"),
        ("--repeat-penalty", "-inf"),
        ("--frequency-penalty", "inf"),
        ("--presence-penalty", "-nan"),
    ] {
        Probe::new(&run_args(&m, &[flag, v]))
            .run()
            .clean_error(flag);
    }
    for (flag, v) in [("--top-k", "-3"), ("--seed", "-1"), ("-c", "-5")] {
        Probe::new(&run_args(&m, &[flag, v])).run().usage_error();
    }
}
