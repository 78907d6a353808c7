//! `wasm-chord serve` as a process: the address it prints for `--port 0`,
//! `-np`, greedy output equal to `wasm-chord run --temp 0` (also with
//! `--backend gpu`), the API key from the environment, SIGTERM ending with
//! status 0.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{root, tiny};
use serde_json::{json, Value};
use test_support::http::request;

struct Serve {
    child: Child,
    addr: String,
}

/// Starts `wasm-chord serve --port 0 ARGS` and waits for `/health` 200.
fn serve(args: &[&str], env: &[(&str, &str)]) -> Serve {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasm-chord"))
        .arg("serve")
        .args(["--port", "0"])
        .args(args)
        .current_dir(root())
        .envs(env.iter().copied())
        .env_remove("WASM_CHORD_MODEL")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn wasm-chord serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("serve printed its address").unwrap();
        if let Some(a) = line.split("listening on http://").nth(1) {
            break a.trim().to_string();
        }
    };
    // keep draining stderr so the server never blocks on it
    std::thread::spawn(move || lines.for_each(drop));
    let t0 = Instant::now();
    while request(&addr, "GET", "/health", &[], b"").0 != 200 {
        assert!(t0.elapsed() < Duration::from_secs(60), "not healthy");
        std::thread::sleep(Duration::from_millis(20));
    }
    Serve { child, addr }
}

impl Serve {
    /// SIGTERM, then the exit status (at most 20 s).
    fn terminate(mut self) -> Option<i32> {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let t0 = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code();
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "still running");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn completion(addr: &str, prompt: &str, n: usize) -> String {
    let body = json!({"prompt": prompt, "max_tokens": n, "temperature": 0});
    let (st, b) = request(
        addr,
        "POST",
        "/v1/completions",
        &[],
        body.to_string().as_bytes(),
    );
    assert_eq!(st, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    v["choices"][0]["text"].as_str().unwrap().to_string()
}

fn run_greedy(model: &str, prompt: &str, n: usize) -> String {
    common::ok(&[
        "run",
        "-m",
        model,
        "-p",
        prompt,
        "-n",
        &n.to_string(),
        "--temp",
        "0",
    ])
}

fn greedy_equals_run(model: &str, np: &str, ctx: &str) {
    let s = serve(&["-m", model, "-np", np, "-c", ctx, "-t", "2"], &[]);
    let prompts = [
        "The capital of France is",
        "Once upon a time",
        "def fibonacci(n):",
    ];
    let got: Vec<String> = std::thread::scope(|sc| {
        let hs: Vec<_> = prompts
            .iter()
            .map(|p| {
                let a = &s.addr;
                sc.spawn(move || completion(a, p, 24))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (p, g) in prompts.iter().zip(&got) {
        assert_eq!(g, &run_greedy(model, p, 24), "{p:?}");
    }
    // -np N gives N slots
    let (_, slots) = request(&s.addr, "GET", "/slots", &[], b"");
    let slots: Value = serde_json::from_str(&slots).unwrap();
    assert_eq!(
        slots.as_array().unwrap().len(),
        np.parse::<usize>().unwrap()
    );
    assert_eq!(s.terminate(), Some(0));
}

#[test]
fn greedy_completions_equal_run_on_tiny() {
    greedy_equals_run(&tiny("tiny-llama3-q4_k_m"), "8", "512");
}

#[test]
fn greedy_completions_equal_run_on_gemma() {
    let Some(g) = common::gemma() else { return };
    greedy_equals_run(&g, "4", "1024");
}

/// `--backend gpu` on the software device (SwiftShader's Vulkan ICD): a
/// greedy completion equals `run --temp 0` on the CPU.
#[test]
fn greedy_completion_on_the_gpu_equals_run_on_the_cpu() {
    let Some(d) = common::vulkan_driver() else {
        return;
    };
    let m = tiny("tiny-llama3-q4_k_m");
    let args = ["-m", &m, "-np", "1", "-c", "256", "--backend", "gpu"];
    let s = serve(&args, &[(gpu::software::DRIVER_VAR, d.as_str())]);
    let prompt = "The capital of France is";
    let want = run_greedy(&m, prompt, 16);
    assert!(!want.is_empty());
    assert_eq!(completion(&s.addr, prompt, 16), want);
    assert_eq!(s.terminate(), Some(0));
}

#[test]
fn api_key_from_the_environment() {
    let m = tiny("tiny-llama3-q4_k_m");
    let s = serve(&["-m", &m, "-c", "256"], &[("WASM_CHORD_API_KEY", "k1")]);
    let body = br#"{"prompt":"hi","max_tokens":1}"#;
    assert_eq!(
        request(&s.addr, "POST", "/v1/completions", &[], body).0,
        401
    );
    let auth = [("Authorization", "Bearer k1")];
    assert_eq!(
        request(&s.addr, "POST", "/v1/completions", &auth, body).0,
        200
    );
    assert_eq!(s.terminate(), Some(0));
}
