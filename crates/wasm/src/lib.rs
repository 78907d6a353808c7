//! wasm-bindgen bindings of the wasm-chord engine, for the worker in `web/`.
//!
//! JS-friendly types only: numbers, strings, byte arrays and JSON strings. Every failure
//! is returned as a JS `Error` carrying the Rust message; nothing is meant to panic (a
//! panic hook still reports one, see [`last_panic`]).
//!
//! ```js
//! const buf = new ModelBuffer(size);            // checked against wasm32's 4 GiB first
//! buf.write(offset, chunk);                     // as the download streams, in order
//! const engine = Engine.load(buf, '{"nCtx":2048}');
//! engine.generate_start("Once upon", '{"maxTokens":16,"temperature":0}');
//! for (;;) {
//!   const s = JSON.parse(engine.next_piece());
//!   if (s.pending) { await yieldToEventLoop(); continue; } // a GPU step's read
//!   post(s.text); if (s.done) break;
//! }
//! ```
//! On the GPU: `const engine = await Engine.load_webgpu(buf, options, adapterInfoJson)`;
//! after an abort, `while (!engine.settle()) await yieldToEventLoop()` before the next
//! request.
// The `#[wasm_bindgen]` glue contains `unsafe`; the crate's own code has none.
#![deny(unsafe_code)]

mod buffer;
mod error;
mod info;
mod params;
mod runner;
pub mod webgpu;

use std::sync::Mutex;

use wasm_bindgen::prelude::*;

pub use buffer::{ModelBytes, MAX_MODEL_BYTES};
pub use error::WasmError;
pub use runner::{Driver, Runner, Stats, Step, STEP_TIMEOUT_MS};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(msg: &str);
}

fn clock_ms() -> f64 {
    performance_now()
}

fn js(e: WasmError) -> JsError {
    JsError::new(&e.to_string())
}

/// Message of the last panic, kept for the worker to report after the trap.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// Runs when the module is instantiated: installs the panic hook.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        let msg = format!("wasm-chord panicked: {info}");
        if let Ok(mut last) = LAST_PANIC.try_lock() {
            last.clone_from(&msg);
        }
        console_error(&msg);
    }));
}

/// The message of the last panic (empty if none): after a `RuntimeError: unreachable`
/// the worker reads it to report what went wrong.
#[wasm_bindgen]
pub fn last_panic() -> String {
    LAST_PANIC.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Largest model file (bytes) this build accepts.
#[wasm_bindgen]
pub fn max_model_bytes() -> f64 {
    MAX_MODEL_BYTES as f64
}

/// Kernel instruction set this build selected (`simd128` or `scalar`).
#[wasm_bindgen]
pub fn isa() -> String {
    kernels::arch::select().isa.name().to_string()
}

/// The model file, received into wasm memory chunk by chunk (one allocation of the
/// file's size, made before the first byte arrives).
#[wasm_bindgen]
pub struct ModelBuffer {
    bytes: ModelBytes,
}

#[wasm_bindgen]
impl ModelBuffer {
    /// Reserves `total_len` bytes; fails with a clear message when the model cannot fit
    /// wasm32 memory or the browser refuses the allocation.
    #[wasm_bindgen(constructor)]
    pub fn new(total_len: f64) -> Result<ModelBuffer, JsError> {
        ModelBytes::new(total_len)
            .map(|bytes| ModelBuffer { bytes })
            .map_err(js)
    }

    /// Appends `chunk`, which must start at `offset` (= the bytes written so far).
    pub fn write(&mut self, offset: f64, chunk: &[u8]) -> Result<(), JsError> {
        self.bytes.write(offset, chunk).map_err(js)
    }

    /// Bytes written so far.
    #[wasm_bindgen(getter)]
    pub fn written(&self) -> f64 {
        self.bytes.written() as f64
    }

    /// The announced file size.
    #[wasm_bindgen(getter)]
    pub fn total(&self) -> f64 {
        self.bytes.total() as f64
    }
}

/// A loaded model with its session (KV cache) and at most one running generation, on
/// the CPU or the GPU.
#[wasm_bindgen]
pub struct Engine {
    runner: Box<dyn Driver>,
}

#[wasm_bindgen]
impl Engine {
    /// Parses the received file (consuming the buffer, no copy) and prepares a session.
    /// `options`: JSON `{nCtx, nBatch, cacheType: "f16"|"f32", chatTemplate}`, all optional.
    pub fn load(buffer: ModelBuffer, options: &str) -> Result<Engine, JsError> {
        Runner::load(buffer.bytes, options, clock_ms)
            .map(|runner| Engine {
                runner: Box::new(runner),
            })
            .map_err(js)
    }

    /// [`Engine::load`] on the GPU (WebGPU): opens the first adapter's device and uploads
    /// the weights. `adapter`: JSON of the adapter's GPUAdapterInfo, shown by `info`.
    pub async fn load_webgpu(
        buffer: ModelBuffer,
        options: String,
        adapter: String,
    ) -> Result<Engine, JsError> {
        webgpu::load(buffer.bytes, &options, &adapter, clock_ms)
            .await
            .map(|runner| Engine {
                runner: Box::new(runner),
            })
            .map_err(js)
    }

    /// Starts a completion of `prompt`. `params`: JSON `{maxTokens, temperature, topK,
    /// topP, minP, repeatPenalty, penaltyLastN, seed, stop: [..], special}`, all optional.
    pub fn generate_start(&mut self, prompt: &str, params: &str) -> Result<(), JsError> {
        self.runner.generate_start(prompt, params).map_err(js)
    }

    /// Starts the assistant's reply to `messages` (JSON `[{role, content, tool_calls?},
    /// ...]`, the whole conversation; the cached prefix of earlier turns is reused).
    /// `tools`: JSON array of tool definitions for the template's `tools`, or `""`.
    pub fn chat_start(&mut self, messages: &str, params: &str, tools: &str) -> Result<(), JsError> {
        self.runner.chat_start(messages, params, tools).map_err(js)
    }

    /// One decode step (the prompt too, on the first call). JSON `{id, text, done}`, plus
    /// `finish` (`eog`|`maxTokens`|`stop`|`cancelled`) and `stats` when `done`; on the
    /// GPU `{pending: true}` while the step waits for the device (yield to the event loop,
    /// then call again).
    pub fn next_piece(&mut self) -> Result<String, JsError> {
        let step = self.runner.next_piece().map_err(js)?;
        serde_json::to_string(&step).map_err(|e| js(WasmError::json("step", e)))
    }

    /// Ends the running generation; returns its stats as JSON. A GPU step still in
    /// flight goes on: [`Engine::settle`] it before the next request.
    pub fn cancel(&mut self) -> String {
        let stats = self.runner.cancel();
        serde_json::to_string(&stats).unwrap_or_default()
    }

    /// Completes a GPU step left in flight once its read is there (never waits): whether
    /// the engine is idle. Errors when the device is lost or the wait passes its bound.
    pub fn settle(&mut self) -> Result<bool, JsError> {
        self.runner.settle().map_err(js)
    }

    /// Token ids of `text` (BOS added when `add_special` and the model wants one).
    pub fn tokenize(&self, text: &str, add_special: bool) -> Vec<u32> {
        self.runner.tokenize(text, add_special)
    }

    /// Text of token ids (control tokens omitted).
    pub fn detokenize(&self, ids: &[u32]) -> String {
        self.runner.detokenize(ids)
    }

    /// JSON description: arch, name, nParams, fileBytes, nCtx, nCtxTrain, nVocab, nLayer,
    /// nEmbd, tensorTypes, chatTemplate, chatTemplateBuiltin, chatTemplateSource, isa,
    /// backend (`cpu`|`webgpu`), adapter (on the GPU), dispatchesPerToken.
    pub fn info(&self) -> String {
        self.runner.info()
    }

    /// Forgets the cached context (and any running generation).
    pub fn reset(&mut self) -> Result<(), JsError> {
        self.runner.reset().map_err(js)
    }
}
