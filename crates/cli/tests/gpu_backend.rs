//! `--backend cpu|gpu|auto` on every command that runs a model (`run`,
//! `chat`, `perplexity`, `bench`, `batched-bench`; `serve` in serve.rs),
//! on SwiftShader's Vulkan ICD (a software adapter) and without any driver.

use std::process::Output;

mod common;

use common::{vulkan_driver as driver, with_driver as wasm_chord, with_driver_stdin};

fn model() -> String {
    common::tiny("tiny-q4_k_m")
}

fn run(driver_files: &str, backend: &str) -> Output {
    let m = model();
    let args = ["run", "-m", &m, "-p", "Hello", "-n", "8", "--temp", "0"];
    wasm_chord(driver_files, &[&args[..], &["--backend", backend]].concat())
}

#[test]
fn run_on_the_gpu_prints_the_cpu_text() {
    let Some(d) = driver() else { return };
    let cpu = run(&d, "cpu");
    let gpu = run(&d, "gpu");
    let err = String::from_utf8_lossy(&gpu.stderr);
    assert!(gpu.status.success(), "{err}");
    assert!(err.contains("backend: GPU"), "{err}");
    assert!(!cpu.stdout.is_empty());
    assert_eq!(gpu.stdout, cpu.stdout, "{err}");
}

#[test]
fn auto_takes_the_cpu_with_a_note_when_only_software_exists() {
    let Some(d) = driver() else { return };
    if !d.contains("swiftshader") {
        return; // another driver may be hardware
    }
    let out = run(&d, "auto");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("--backend auto"), "{err}");
    assert!(err.contains("running on the CPU"), "{err}");
    // without any driver too
    let out = run("/nonexistent/no_icd.json", "auto");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no adapter"));
}

#[test]
fn gpu_without_an_adapter_is_a_readable_error() {
    let out = run("/nonexistent/no_icd.json", "gpu");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("no GPU adapter"), "{err}");
}

#[test]
fn bench_on_the_gpu_reports_dispatches_per_token() {
    let Some(d) = driver() else { return };
    let m = model();
    let args = [
        "bench",
        "-m",
        &m,
        "-p",
        "4",
        "-n",
        "3",
        "-r",
        "1",
        "--backend",
        "gpu",
        "--json",
    ];
    let out = wasm_chord(&d, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let tg = &j[1];
    assert_eq!(tg["test"], "tg3", "{j}");
    assert!(tg["tokens_per_s"].as_f64().unwrap() > 0.0, "{j}");
    assert!(tg["dispatches_per_token"].as_u64().unwrap() > 0, "{j}");
    assert!(tg["isa"].as_str().unwrap().starts_with("gpu: "), "{j}");
    assert!(j[0]["dispatches_per_token"].is_null(), "{j}");
}

/// No driver: `--backend gpu` is the same readable error on every command
/// that runs a model (the flag is there, and goes through one choice).
#[test]
fn every_command_takes_the_backend_flag() {
    let m = model();
    let text = common::root().join("tests/fixtures/text/devils-dictionary.txt");
    let text = text.to_str().unwrap();
    let commands: [&[&str]; 6] = [
        &["run", "-p", "Hi", "-n", "1"],
        &["chat", "-n", "1"],
        &["perplexity", "-f", text, "-c", "128"],
        &["bench", "-p", "4", "-n", "2", "-r", "1"],
        &["batched-bench", "--npp", "4", "--ntg", "2", "--npl", "1"],
        &["serve", "--port", "0"],
    ];
    for cmd in commands {
        let args = [cmd, &["-m", &m, "--backend", "gpu"]].concat();
        let out = wasm_chord("/nonexistent/no_icd.json", &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{cmd:?}: {err}");
        assert!(err.contains("no GPU adapter"), "{cmd:?}: {err}");
    }
}

/// `chat` with `--backend` over piped lines: (stdout, stderr).
fn chat(driver_files: &str, backend: &str) -> (Output, String) {
    let m = model();
    let args = [
        "chat",
        "-m",
        &m,
        "-n",
        "8",
        "--temp",
        "0",
        "-c",
        "256",
        "--backend",
        backend,
    ];
    let out = with_driver_stdin(driver_files, &args, "Hello there\nAnd then?\n");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{backend}: {err}");
    (out, err)
}

#[test]
fn chat_on_the_gpu_answers_as_on_the_cpu() {
    let Some(d) = driver() else { return };
    let (cpu, _) = chat(&d, "cpu");
    let (gpu, err) = chat(&d, "gpu");
    assert!(err.contains("backend: GPU"), "{err}");
    // two greedy answers, one line each
    assert_eq!(cpu.stdout.iter().filter(|&&b| b == b'\n').count(), 2);
    assert_eq!(gpu.stdout, cpu.stdout, "{err}");
}

/// `PPL = X +/- Y` of `perplexity --backend` over the first chunks of the
/// text at ctx 128 (f32 cache).
fn perplexity(driver_files: &str, backend: &str) -> f64 {
    let m = model();
    let text = common::root().join("tests/fixtures/text/devils-dictionary.txt");
    let args = [
        "perplexity",
        "-m",
        &m,
        "-f",
        text.to_str().unwrap(),
        "-c",
        "128",
        "--chunks",
        "4",
        "--cache-type",
        "f32",
        "--backend",
        backend,
    ];
    let out = wasm_chord(driver_files, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{backend}: {err}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let ppl = stdout
        .lines()
        .last()
        .and_then(|l| l.strip_prefix("PPL = "))
        .and_then(|l| l.split_once(" +/- "))
        .and_then(|(v, _)| v.parse().ok());
    ppl.unwrap_or_else(|| panic!("{backend}: no PPL in {stdout:?}: {err}"))
}

#[test]
fn perplexity_on_the_gpu_is_within_half_a_percent_of_the_cpu() {
    let Some(d) = driver() else { return };
    let cpu = perplexity(&d, "cpu");
    let gpu = perplexity(&d, "gpu");
    let rel = (gpu - cpu).abs() / cpu;
    eprintln!("perplexity: CPU {cpu}, GPU {gpu} (rel {rel:.2e})");
    assert!(rel < 5e-3, "GPU {gpu} vs CPU {cpu}");
}

#[test]
fn batched_bench_on_the_gpu_prints_its_table() {
    let Some(d) = driver() else { return };
    let m = model();
    let args = [
        "batched-bench",
        "-m",
        &m,
        "--npp",
        "8",
        "--ntg",
        "4",
        "--npl",
        "1,2",
        "-c",
        "64",
        "--backend",
        "gpu",
    ];
    let out = wasm_chord(&d, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("threads = 0, isa = gpu: "), "{table}");
    for b in ["1", "2"] {
        let row = format!("|     8 |      4 | {b:>4} |");
        assert!(table.contains(&row), "no row for B {b}: {table}");
    }
}
