//! The runner on the GPU backend, natively (Vulkan: SwiftShader's ICD when installed),
//! through the calls the browser's worker makes: `next_piece` never waits for the
//! device (it answers `pending` until a step's read is there), `settle` ends a step left
//! in flight by a cancel, and a request meanwhile is refused rather than blocking. Greedy
//! tokens equal the CPU runner's up to a near-tie; `info` reports the GPU backend and its
//! dispatches per token. Fails, not skips, without an adapter when `CI` is set.

use std::time::{Duration, Instant};

use gpu::backend::GpuBackend;
use gpu::software::{vulkan_driver_files, DRIVER_VAR};
use wasm_chord::{Driver, ModelBytes, Runner, Step, WasmError};

const TINY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/models/tiny-q4_k_m.gguf"
);
/// Margin below which a step is a near-tie: the GPU may part from the CPU there.
const TIE: f32 = 0.05;

fn clock() -> f64 {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

fn bytes() -> ModelBytes {
    let data = std::fs::read(TINY).unwrap();
    let mut b = ModelBytes::new(data.len() as f64).unwrap();
    b.write(0.0, &data).unwrap();
    b
}

/// The tiny model on the first adapter, or `None` (skip) without one outside CI.
fn gpu_runner() -> Option<Runner<GpuBackend>> {
    if std::env::var_os(DRIVER_VAR).is_none() {
        if let Some(icd) = vulkan_driver_files() {
            // before any Vulkan instance exists
            std::env::set_var(DRIVER_VAR, icd);
        }
    }
    let opts = r#"{"nCtx":256}"#;
    let adapter = r#"{"vendor":"test","architecture":"native"}"#;
    match pollster::block_on(wasm_chord::webgpu::load(bytes(), opts, adapter, clock)) {
        Ok(r) => Some(r),
        Err(WasmError::Gpu(e)) => {
            test_support::missing(
                format!("a GPU adapter ({e})"),
                "apt-get install chromium-common libvulkan1",
            );
            None
        }
        Err(e) => panic!("loading on the GPU: {e}"),
    }
}

/// The next step that is not `pending` (counting the pending answers), bounded.
fn next(r: &mut impl Driver, pending: &mut usize) -> Step {
    let start = Instant::now();
    loop {
        let s = r.next_piece().unwrap();
        if !s.pending {
            return s;
        }
        *pending += 1;
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "a step never completed"
        );
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Greedy ids of 12 tokens after `prompt`, and how many polls were `pending`.
fn greedy(r: &mut impl Driver, prompt: &str) -> (Vec<u32>, usize) {
    r.generate_start(
        prompt,
        r#"{"maxTokens":12,"temperature":0,"repeatPenalty":1}"#,
    )
    .unwrap();
    let (mut ids, mut pending) = (Vec::new(), 0);
    loop {
        let s = next(r, &mut pending);
        ids.push(s.id.unwrap());
        if s.done {
            assert_eq!(s.finish, Some("maxTokens"));
            return (ids, pending);
        }
    }
}

/// Each step's top-1 minus top-2 logit on the CPU, with its ids.
fn cpu_margins(prompt: &str) -> (Vec<u32>, Vec<f32>) {
    let data = std::fs::read(TINY).unwrap();
    let opts = engine::SessionOptions {
        n_ctx: 256,
        threads: 1,
        ..Default::default()
    };
    let mut s = engine::Session::load_bytes(&data, opts).unwrap();
    let params = engine::GenerateParams {
        sampler: engine::SamplerParams {
            temperature: 0.0,
            repeat_penalty: 1.0,
            ..Default::default()
        },
        max_tokens: 12,
        top_logprobs: 2,
        ..Default::default()
    };
    s.generate(prompt, &params)
        .map(|p| {
            let p = p.unwrap();
            (p.id, p.top_logprobs[0].1 - p.top_logprobs[1].1)
        })
        .unzip()
}

#[test]
fn gpu_runner_never_waits_and_equals_the_cpu() {
    let Some(mut gpu) = gpu_runner() else { return };
    let prompt = "Hello world";
    let (got, pending) = greedy(&mut gpu, prompt);
    let (want, margins) = cpu_margins(prompt);
    let n = margins.iter().position(|&m| m < TIE).unwrap_or(want.len());
    eprintln!("gpu {got:?}\ncpu {want:?}\ncompared {n}, {pending} pending polls");
    assert_eq!(got[..n], want[..n]);
    // a software device takes far longer than one poll per step
    assert!(pending > 0, "no step was ever pending");

    let info: serde_json::Value = serde_json::from_str(&gpu.info()).unwrap();
    assert_eq!(info["backend"], "gpu");
    assert_eq!(info["adapter"]["architecture"], "native");
    assert!(info["dispatchesPerToken"].as_u64().unwrap() > 0, "{info}");

    // a cancel between a step's submission and its read leaves it in flight
    gpu.generate_start(prompt, r#"{"maxTokens":100,"temperature":0}"#)
        .unwrap();
    let mut polls = 0;
    next(&mut gpu, &mut polls);
    while !gpu.next_piece().unwrap().pending {}
    gpu.cancel();
    let busy = gpu.generate_start(prompt, "");
    let start = Instant::now();
    while !gpu.settle().unwrap() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "settle never completed"
        );
        std::thread::sleep(Duration::from_micros(100));
    }
    // (refused only when the read was still in flight at that call)
    if let Err(e) = busy {
        assert!(matches!(e, WasmError::Busy), "{e}");
    }
    let (again, _) = greedy(&mut gpu, prompt);
    assert_eq!(
        again[..n],
        got[..n],
        "the session goes on after a settled cancel"
    );
}
