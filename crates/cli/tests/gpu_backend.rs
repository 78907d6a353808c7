//! `--backend cpu|gpu|auto` on `run` and `bench`, on SwiftShader's Vulkan
//! ICD (a software adapter) and without any driver.

use std::process::Output;

mod common;

use common::{vulkan_driver as driver, with_driver as wasm_chord};

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
