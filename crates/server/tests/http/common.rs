//! A server in this process on an ephemeral port, and a small HTTP client.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use server::{CancellationToken, ServerError, ServerOptions};
pub use test_support::http::{open, request, send, sse_data};

pub fn tiny(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/fixtures/models/{name}.gguf"))
}

/// Options for the tiny llama3-shaped model (it has a chat template):
/// greedy by default, 2 threads, `n_slots` slots of 512 tokens.
pub fn opts(n_slots: usize) -> ServerOptions {
    let mut o = ServerOptions::new(tiny("tiny-llama3-q4_k_m"));
    o.n_slots = n_slots;
    o.load.n_ctx = 512;
    o.load.threads = 2;
    o.defaults.sampler = engine::SamplerParams::greedy();
    o
}

pub struct Server {
    pub addr: String,
    token: CancellationToken,
    thread: Option<std::thread::JoinHandle<Result<(), ServerError>>>,
}

impl Server {
    /// Starts and waits (at most 60 s) until `/health` is 200.
    pub fn start(opts: ServerOptions) -> Server {
        let token = CancellationToken::new();
        let t = token.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = server::bind("127.0.0.1", 0).await?;
                tx.send(l.local_addr()?.to_string()).unwrap();
                server::serve(l, opts, t).await
            })
        });
        let addr = rx.recv_timeout(Duration::from_secs(30)).expect("bound");
        let s = Server {
            addr,
            token,
            thread: Some(thread),
        };
        let t0 = Instant::now();
        while s.get("/health").0 != 200 {
            assert!(t0.elapsed() < Duration::from_secs(60), "not healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
        s
    }

    /// Cancels and waits for the server to return.
    pub fn stop(mut self) -> Result<(), ServerError> {
        self.token.cancel();
        self.thread.take().unwrap().join().unwrap()
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        request(&self.addr, "GET", path, &[], b"")
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, String) {
        request(&self.addr, "POST", path, &[], body.as_bytes())
    }

    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let (s, b) = self.post(path, &body.to_string());
        (
            s,
            serde_json::from_str(&b).unwrap_or_else(|e| panic!("{e}: {b}")),
        )
    }

    /// `/slots`: per slot whether it is processing.
    pub fn busy(&self) -> Vec<bool> {
        let (_, b) = self.get("/slots");
        let v: Value = serde_json::from_str(&b).unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s["is_processing"].as_bool().unwrap())
            .collect()
    }

    /// Waits (at most `within`) until no slot is processing.
    pub fn wait_idle(&self, within: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < within {
            if self.busy().iter().all(|b| !b) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.token.cancel();
    }
}
