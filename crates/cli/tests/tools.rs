//! `tokenize`, `perplexity`, `bench`, `info` and error reporting.

mod common;

use common::*;

#[test]
fn tokenize_json_equals_llama_cpp_ids() {
    let fx = fixture("tiny.tokens.json");
    let m = tiny("tiny-q4_k_m");
    let mut n = 0;
    for e in fx["entries"].as_array().unwrap().iter().step_by(7) {
        let text = e["text"].as_str().unwrap();
        let prompt = format!("--prompt={text}");
        let mut args = vec!["tokenize", "-m", &m, &prompt, "--json"];
        if !e["add_special"].as_bool().unwrap() {
            args.push("--no-bos");
        }
        if e["parse_special"].as_bool().unwrap() {
            args.push("--parse-special");
        }
        let got: Vec<u32> = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(got, ids(&e["ids"]), "{text:?} {args:?}");
        n += 1;
    }
    assert!(n > 150, "{n}");
}

#[test]
fn tokenize_output_formats() {
    let m = tiny("tiny-q4_k_m");
    let plain = ok(&["tokenize", "-m", &m, "-p", "Hello world"]);
    let json = ok(&["tokenize", "-m", &m, "-p", "Hello world", "--json"]);
    let ids: Vec<u32> = serde_json::from_str(&json).unwrap();
    // llama-tokenize --ids style.
    assert!(json.starts_with("[1, "), "{json}");
    let words: Vec<u32> = plain
        .split_whitespace()
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(words, ids);
    let pieces = ok(&["tokenize", "-m", &m, "-p", "Hello world", "--show-pieces"]);
    let lines: Vec<&str> = pieces.lines().collect();
    assert_eq!(lines.len(), ids.len());
    assert_eq!(lines[0].trim(), "1 -> '<s>'");
    let joined: String = lines[1..]
        .iter()
        .map(|l| l.split_once(" -> '").unwrap().1.trim_end_matches('\''))
        .collect();
    assert_eq!(joined, " Hello world");
    let pj: serde_json::Value = serde_json::from_str(&ok(&[
        "tokenize",
        "-m",
        &m,
        "-p",
        "Hello world",
        "--show-pieces",
        "--json",
    ]))
    .unwrap();
    assert_eq!(pj[0]["id"], 1);
    assert_eq!(pj[0]["piece"], "<s>");
    assert_eq!(pj.as_array().unwrap().len(), ids.len());
}

fn ppl_of(stdout: &str) -> (f64, f64) {
    let last = stdout.lines().last().expect("stdout has a line");
    let rest = last
        .strip_prefix("PPL = ")
        .unwrap_or_else(|| panic!("{last:?}"));
    let (v, e) = rest.split_once(" +/- ").unwrap();
    (v.parse().unwrap(), e.parse().unwrap())
}

#[test]
fn perplexity_equals_llama_cpp_within_half_a_percent() {
    let text = root().join("tests/fixtures/text/devils-dictionary.txt");
    let text = text.to_str().unwrap();
    for (name, chunks) in [("tiny-q4_k_m", 3usize), ("tiny-q8_0", 2)] {
        let fx = fixture(&format!("{name}.ppl.json"));
        let run = &fx["runs"][0];
        assert_eq!(run["n_ctx"], 512);
        let want = run["chunks"][chunks - 1]["ppl_cumulative"]
            .as_f64()
            .unwrap();
        let m = tiny(name);
        let n = chunks.to_string();
        let out = wc(&[
            "perplexity",
            "-m",
            &m,
            "-f",
            text,
            "-c",
            "512",
            "--chunks",
            &n,
            "--cache-type",
            "f32",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (got, err) = ppl_of(&String::from_utf8(out.stdout).unwrap());
        let rel = (got - want).abs() / want;
        eprintln!("{name}: PPL {got} vs llama.cpp {want} (rel {rel:.2e}) +/- {err}");
        assert!(rel < 5e-3, "{name}: {got} vs {want}");
        assert!(err > 0.0 && err < got);
        // Progress per chunk on stderr, llama.cpp style.
        let progress = String::from_utf8_lossy(&out.stderr);
        assert!(progress.contains("[1]") && progress.contains(&format!("[{chunks}]")));
    }
}

/// The real models on the exact path (f32 cache, standard attention), ctx
/// 512 and 1024: the cumulative perplexity after the first chunks within
/// 0.1% of llama.cpp's (the whole text is compared by
/// `bench/check_perplexity.sh`).
fn perplexity_of_real_model_equals_llama_cpp(stem: &str, fetch: &str, chunks: [usize; 2]) {
    let p = root().join(format!("models/{stem}.gguf"));
    if !p.exists() {
        test_support::missing(p.display(), &format!("scripts/fetch-model.sh {fetch}"));
        return;
    }
    perplexity_equals_llama_cpp_at_512_and_1024(p.to_str().unwrap(), stem, chunks);
}

/// `chunks` at ctx 512 and 1024 (0: the whole text) within 0.1% of
/// llama.cpp's cumulative perplexity after as many chunks.
fn perplexity_equals_llama_cpp_at_512_and_1024(m: &str, stem: &str, chunks: [usize; 2]) {
    let text = root().join("tests/fixtures/text/devils-dictionary.txt");
    let fx = fixture(&format!("{stem}.ppl.json"));
    let runs = fx["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{stem}: runs at ctx 512 and 1024");
    for (run, chunks) in runs.iter().zip(chunks) {
        let ctx = run["n_ctx"].as_u64().unwrap().to_string();
        let all = run["chunks"].as_array().unwrap().len();
        let chunks = if chunks == 0 { all } else { chunks };
        let want = run["chunks"][chunks - 1]["ppl_cumulative"]
            .as_f64()
            .unwrap();
        let n = chunks.to_string();
        let out = ok(&[
            "perplexity",
            "-m",
            m,
            "-f",
            text.to_str().unwrap(),
            "-c",
            &ctx,
            "--chunks",
            &n,
            "--cache-type",
            "f32",
            "--attn",
            "standard",
        ]);
        let (got, _) = ppl_of(&out);
        let rel = (got - want).abs() / want;
        eprintln!("{stem} ctx {ctx}: PPL {got} vs llama.cpp {want} (rel {rel:.2e})");
        assert!(rel < 1e-3, "{stem} ctx {ctx}: {got} vs {want}");
    }
}

/// The synthetic qwen3, phi3 and llama-3 (`rope_freqs`) models, F32 and
/// Q4_K_M, over the whole text for the F32 ones.
#[test]
fn perplexity_of_synthetic_archs_equals_llama_cpp() {
    for arch in ["llama3", "qwen3", "phi3"] {
        for (stem, chunks) in [
            (format!("micro-{arch}-f32"), [0, 0]),
            (format!("tiny-{arch}-q4_k_m"), [8, 4]),
        ] {
            perplexity_equals_llama_cpp_at_512_and_1024(&tiny(&stem), &stem, chunks);
        }
    }
}

#[test]
fn perplexity_of_smollm2_equals_llama_cpp() {
    perplexity_of_real_model_equals_llama_cpp("smollm2-135m-instruct-q4_1", "smollm2-135m", [6, 3]);
}

#[test]
fn perplexity_of_qwen2_5_coder_0_5b_equals_llama_cpp() {
    perplexity_of_real_model_equals_llama_cpp(
        "qwen2.5-coder-0.5b-instruct-q4_k_m",
        "qwen2.5-coder-0.5b",
        [4, 2],
    );
}

#[test]
fn perplexity_of_qwen2_5_coder_1_5b_equals_llama_cpp() {
    perplexity_of_real_model_equals_llama_cpp(
        "qwen2.5-coder-1.5b-instruct-q4_k_m",
        "qwen2.5-coder-1.5b",
        [2, 1],
    );
}

/// Chunks run as the sequences of one batch (`--parallel`) score exactly
/// as one at a time on the exact path, with the same progress lines.
#[test]
fn perplexity_in_parallel_sequences_equals_one_at_a_time() {
    let text = root().join("tests/fixtures/text/devils-dictionary.txt");
    let m = tiny("tiny-q4_k_m");
    let run = |parallel: &str, batch: &str| {
        let out = wc(&[
            "perplexity",
            "-m",
            &m,
            "-f",
            text.to_str().unwrap(),
            "-c",
            "128",
            "--chunks",
            "7",
            "-b",
            batch,
            "--parallel",
            parallel,
            "--cache-type",
            "f32",
            "--attn",
            "standard",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        let progress = err
            .lines()
            .find(|l| l.starts_with("[1]"))
            .unwrap_or("")
            .to_string();
        (String::from_utf8(out.stdout).unwrap(), progress)
    };
    let one = run("1", "32");
    assert!(one.0.starts_with("PPL = "), "{one:?}");
    assert!(one.1.contains("[7]"), "{one:?}");
    // 3 sequences of 32 tokens per call: chunks 1-3, 4-6, then 7 alone
    assert_eq!(run("3", "96"), one);
}

#[test]
fn perplexity_tokenization_equals_the_fixture_ids() {
    // The reference stores the text's ids: our tokenizer must agree with them for the
    // chunks to be the same (checked on the first 4 KiB of text, cheap).
    let fx = fixture("tiny.text_ids.json");
    let want = ids(fx.get("ids").unwrap_or(&fx));
    let text =
        std::fs::read_to_string(root().join("tests/fixtures/text/devils-dictionary.txt")).unwrap();
    let mut cut = 4096;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    let m = tiny("tiny-q4_k_m");
    let got: Vec<u32> = serde_json::from_str(&ok(&[
        "tokenize",
        "-m",
        &m,
        &format!("--prompt={head}"),
        "--json",
    ]))
    .unwrap();
    // A prefix of the text tokenizes like the whole text except near the cut.
    let n = got.len() - 4;
    assert_eq!(got[..n], want[..n]);
}

#[test]
fn perplexity_needs_two_chunks() {
    let dir = std::env::temp_dir().join(format!("wc-cli-ppl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("short.txt");
    std::fs::write(&f, "too short\n").unwrap();
    let m = tiny("tiny-q4_0");
    let err = fails(&[
        "perplexity",
        "-m",
        &m,
        "-f",
        f.to_str().unwrap(),
        "-c",
        "512",
    ]);
    assert!(err.contains("at least 2 * ctx-size = 1024"), "{err}");
}

#[test]
fn bench_json_has_one_row_per_thread_and_test() {
    let m = tiny("tiny-q4_k_m");
    let out = ok(&[
        "bench", "-m", &m, "-p", "16", "-n", "4", "-t", "1,2", "-r", "2", "--json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let tests: Vec<(u64, &str)> = rows
        .iter()
        .map(|r| (r["threads"].as_u64().unwrap(), r["test"].as_str().unwrap()))
        .collect();
    assert_eq!(tests, [(1, "pp16"), (1, "tg4"), (2, "pp16"), (2, "tg4")]);
    for r in &rows {
        assert_eq!(r["model"], "tiny-q4_k_m");
        assert_eq!(r["reps"], 2);
        assert!(r["tokens_per_s"].as_f64().unwrap() > 0.0);
        assert!(r["stddev"].as_f64().unwrap() >= 0.0);
        assert!(!r["isa"].as_str().unwrap().is_empty());
        assert_eq!(
            r["n_tokens"].as_u64().unwrap(),
            r["test"].as_str().unwrap()[2..].parse::<u64>().unwrap()
        );
        // the weights a decode step reads: most of the file (tg only)
        let bytes = r["bytes_per_token"].as_u64();
        if r["test"].as_str().unwrap().starts_with("tg") {
            let b = bytes.expect("tg rows have bytes_per_token") as f64;
            let size = r["size_bytes"].as_u64().unwrap() as f64;
            assert!(b > 0.5 * size && b <= size, "{b} of {size}");
        } else {
            assert!(bytes.is_none(), "{r}");
        }
    }
    let table = ok(&[
        "bench", "-m", &m, "-p", "8", "-n", "0", "-r", "1", "-t", "1",
    ]);
    assert!(table.starts_with("| model | size | params | isa | threads | test | t/s |"));
    assert!(
        table.contains("| pp8 |") && !table.contains("tg"),
        "{table}"
    );
}

/// `-d` runs each test after that many cached tokens, named as llama-bench
/// names it; a depth beyond the context is an error naming both.
#[test]
fn bench_runs_tests_at_a_depth() {
    let m = tiny("tiny-q4_k_m");
    let out = ok(&[
        "bench", "-m", &m, "-p", "8", "-n", "4", "-d", "0,16", "-t", "1", "-r", "1", "--json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let tests: Vec<&str> = rows.iter().map(|r| r["test"].as_str().unwrap()).collect();
    assert_eq!(tests, ["pp8", "tg4", "pp8 @ d16", "tg4 @ d16"]);
    for r in &rows {
        assert!(r["tokens_per_s"].as_f64().unwrap() > 0.0);
    }
    let err = fails(&["bench", "-m", &m, "-p", "0", "-n", "8", "-d", "1000000"]);
    assert!(
        err.contains("--n-gen 8 at --n-depth 1000000 exceeds"),
        "{err}"
    );
}

#[test]
fn batched_bench_takes_llama_cpp_spellings() {
    let m = tiny("tiny-q4_k_m");
    let out = ok(&[
        "batched-bench",
        "-m",
        &m,
        "-npp",
        "8,4",
        "-ntg=3",
        "-npl",
        "1,2,3",
        "-c",
        "33",
        "-t",
        "2",
        "--json",
    ]);
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    let got: Vec<(u64, u64, u64)> = rows
        .iter()
        .map(|r| {
            let n = |k: &str| r[k].as_u64().unwrap();
            (n("npp"), n("ntg"), n("npl"))
        })
        .collect();
    // PP 8 x 3 sequences and TG 3 x 3 need 33 positions in all: every test fits
    assert_eq!(
        got,
        [
            (8, 3, 1),
            (8, 3, 2),
            (8, 3, 3),
            (4, 3, 1),
            (4, 3, 2),
            (4, 3, 3)
        ]
    );
    for r in &rows {
        assert_eq!(r["threads"], 2);
        for k in ["pp_tokens_per_s", "tg_tokens_per_s", "total_tokens_per_s"] {
            assert!(r[k].as_f64().unwrap() > 0.0, "{k}");
        }
    }
    // tests needing more than -c are skipped; a shared prompt needs less
    let table = ok(&[
        "batched-bench",
        "-m",
        &m,
        "-npp",
        "8",
        "-ntg",
        "4",
        "-npl",
        "1,4",
        "-c",
        "40",
    ]);
    assert!(
        table.contains("|     8 |      4 |    1 |     12 |"),
        "{table}"
    );
    assert!(!table.contains("|    4 |     48 |"), "{table}");
    let table = ok(&[
        "batched-bench",
        "-m",
        &m,
        "-npp",
        "8",
        "-ntg",
        "4",
        "-npl",
        "4",
        "-c",
        "48",
        "-pps",
    ]);
    assert!(
        table.contains("|     8 |      4 |    4 |     24 |"),
        "{table}"
    );
}

#[test]
fn bench_thread_timing_reports_every_thread() {
    let m = tiny("tiny-q4_k_m");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-chord"))
        .args([
            "bench", "-m", &m, "-p", "0", "-n", "4", "-r", "1", "-t", "1,2",
        ])
        .args(["--json", "--thread-timing"])
        .output()
        .unwrap();
    assert!(out.status.success());
    // stdout stays the JSON rows; the timing tables go to stderr
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    let err = String::from_utf8_lossy(&out.stderr);
    for t in [1, 2] {
        let head = format!("thread timing, {t} thread(s): ");
        let at = err.find(&head).unwrap_or_else(|| panic!("{err}"));
        let table: Vec<&str> = err[at..].lines().skip(3).take(t).collect();
        for (tid, line) in table.iter().enumerate() {
            assert!(line.starts_with(&format!("| {tid} | ")), "{err}");
        }
        // the caller (thread 0) takes part in every region
        let regions: f64 = err[at + head.len()..]
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let joined: f64 = table[0].split('|').nth(2).unwrap().trim().parse().unwrap();
        assert!(regions > 10.0 && joined == regions, "{err}");
    }
}

#[test]
fn info_json_parses() {
    let m = tiny("tiny-q4_k_m");
    let v: serde_json::Value = serde_json::from_str(&ok(&["info", "--json", &m])).unwrap();
    assert_eq!(v["architecture"], "llama");
    assert!(!v["tensors"].as_array().unwrap().is_empty());
    assert!(v["parameters"].as_u64().unwrap() > 1_000_000);
}

#[test]
fn bad_files_fail_with_a_readable_message() {
    let dir = std::env::temp_dir().join(format!("wc-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let truncated = dir.join("truncated.gguf");
    let bytes = std::fs::read(tiny("tiny-q4_0")).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 3]).unwrap();
    let not_gguf = root().join("README.md");
    let missing = dir.join("missing.gguf");
    for f in [&truncated, &not_gguf, &missing] {
        let f = f.to_str().unwrap();
        for args in [
            vec!["run", "-m", f, "-p", "hi", "-n", "2"],
            vec!["tokenize", "-m", f, "-p", "hi"],
            vec!["bench", "-m", f, "-p", "4", "-n", "2"],
            vec!["info", f],
        ] {
            let err = fails(&args);
            let name = std::path::Path::new(f)
                .file_name()
                .unwrap()
                .to_str()
                .unwrap();
            assert!(err.contains(name), "{args:?}: {err}");
        }
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_wasm-chord"))
        .args(["run", "-p", "hi"])
        .env("WASM_CHORD_MODEL", missing.to_str().unwrap())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("scripts/fetch-model.sh"), "{err}");
    // Bad flag values are rejected before any work.
    fails(&["run", "-m", &tiny("tiny-q4_0"), "-p", "hi", "-c", "0"]);
}

#[test]
fn tokenize_gemma_prompts_if_present() {
    let Some(model) = gemma() else { return };
    let fx = fixture("gemma-3-270m-q4_k_m.greedy.json");
    for p in fx["prompts"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        let text = match PROMPTS.iter().find(|(n, _)| *n == name) {
            Some((_, t)) => *t,
            None if name == "chat" => {
                "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n"
            }
            None => continue,
        };
        let prompt = format!("--prompt={text}");
        let mut args = vec!["tokenize", "-m", &model, &prompt, "--json"];
        if name == "chat" {
            args.push("--parse-special");
        }
        let got: Vec<u32> = serde_json::from_str(&ok(&args)).unwrap();
        assert_eq!(got, ids(&p["ids"]), "{name}");
    }
}

#[test]
#[ignore = "needs models/gemma-3-270m-q4_k_m.gguf and evaluates 512 tokens (slow on scalar kernels)"]
fn perplexity_gemma_first_chunk() {
    let Some(model) = gemma() else { return };
    let fx = fixture("gemma-3-270m-q4_k_m.ppl.json");
    let run = &fx["runs"][0];
    assert_eq!(run["n_ctx"], 512);
    let want = run["chunks"][0]["ppl_cumulative"].as_f64().unwrap();
    let text = root().join("tests/fixtures/text/devils-dictionary.txt");
    let out = ok(&[
        "perplexity",
        "-m",
        &model,
        "-f",
        text.to_str().unwrap(),
        "-c",
        "512",
        "--chunks",
        "1",
        "--cache-type",
        "f32",
    ]);
    let (got, _) = ppl_of(&out);
    let rel = (got - want).abs() / want;
    eprintln!("gemma chunk 1: PPL {got} vs llama.cpp {want} (rel {rel:.2e})");
    assert!(rel < 5e-3, "{got} vs {want}");
}
