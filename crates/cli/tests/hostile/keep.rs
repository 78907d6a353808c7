//! Behaviours the hardening keeps: edge values that already end well.

use crate::common::{gemma, tiny};
use crate::probe::Probe;

#[test]
fn generation_past_the_context_ends_with_a_note() {
    let m = tiny("tiny-q4_0");
    let out = Probe::new(&["run", "-m", &m, "-p", "a b c", "-c", "16", "-n", "100"])
        .args_temp0()
        .run();
    out.success();
    assert!(out.stderr.contains("note:"), "{}", out.stderr);
}

#[test]
fn context_of_zero_or_one_is_an_error() {
    let m = tiny("tiny-q4_0");
    for (c, needle) in [("0", "ctx-size"), ("1", "context of 1 tokens")] {
        Probe::new(&["run", "-m", &m, "-p", "a", "-c", c])
            .run()
            .clean_error(needle);
    }
}

#[test]
fn empty_prompt_is_bos_only_and_without_bos_an_error() {
    let m = tiny("tiny-q4_0");
    Probe::new(&["run", "-m", &m, "-p", "", "-n", "2"])
        .args_temp0()
        .run()
        .success();
    Probe::new(&["run", "-m", &m, "-p", "", "--no-bos", "-n", "2"])
        .run()
        .clean_error("empty");
}

#[test]
fn prompt_longer_than_the_context_is_an_error() {
    let m = tiny("tiny-q4_0");
    let prompt = "word ".repeat(200);
    Probe::new(&["run", "-m", &m, "-p", &prompt, "-c", "32"])
        .run()
        .clean_error("context");
}

#[test]
fn closed_stdout_exits_zero() {
    let m = gemma();
    Probe::new(&["run", "-m", &m, "-p", "Once upon a time", "-n", "8"])
        .args_temp0()
        .close_stdout()
        .run()
        .success();
}

#[test]
fn perplexity_chunks_zero_means_all() {
    let m = tiny("tiny-q4_0");
    let text = crate::common::root().join("tests/fixtures/text/devils-dictionary.txt");
    let text = text.to_string_lossy();
    let out = Probe::new(&[
        "perplexity",
        "-m",
        &m,
        "-f",
        &text,
        "-c",
        "128",
        "--chunks",
        "0",
    ])
    .run();
    out.success();
    assert!(
        out.stdout_text().contains("PPL = "),
        "{}",
        out.stdout_text()
    );
}

#[test]
fn bench_zero_sizes_are_errors() {
    let m = tiny("tiny-q4_0");
    for args in [
        &["-r", "0"][..],
        &["-p", "0", "-n", "0"][..],
        &["-b", "0"][..],
    ] {
        let mut all = vec!["bench", "-m", m.as_str(), "-t", "1"];
        all.extend_from_slice(args);
        let out = Probe::new(&all).run();
        assert_eq!(out.code, Some(1), "bench {args:?}: {}", out.stderr);
        out.clean_error("");
    }
}
