//! The engine behind the JS object: one session and at most one generation, advanced
//! one token per call so the worker can post each piece and look for an abort in between.
//!
//! A call never waits for a device: on WebGPU a step's read completes only when the
//! worker's event loop runs, so `next_piece` answers `pending` until it has (the worker
//! yields and calls again), bounded by [`STEP_TIMEOUT_MS`].

use std::sync::Arc;
use std::task::Poll;

use engine::{Detached, FinishReason, Session, Timings};
use gguf::GgufFile;
use model::{Backend, CpuBackend};
use serde::Serialize;

use crate::buffer::ModelBytes;
use crate::error::WasmError;
use crate::{info, params};

/// How long a step may wait for its device read before it is an error (a lost or hung
/// device never hangs the worker). Software devices are slow: a prompt chunk of Gemma
/// 3 270M on SwiftShader takes seconds.
pub const STEP_TIMEOUT_MS: f64 = 120_000.0;

/// A loaded model, its session and the running generation, if any.
#[derive(Debug)]
pub struct Runner<B: Backend = CpuBackend> {
    session: Session<B>,
    generation: Option<Detached>,
    clock_ms: fn() -> f64,
    /// When the step in flight started waiting for its read.
    waiting_since: Option<f64>,
    /// The GPU adapter's description for `info` (the page's GPUAdapterInfo).
    adapter: Option<serde_json::Value>,
}

/// What the JS object calls, on any backend.
pub trait Driver {
    /// Starts generating the continuation of `prompt`; ends any running generation.
    fn generate_start(&mut self, prompt: &str, options: &str) -> Result<(), WasmError>;
    /// Starts the assistant's reply to `messages` (JSON array of `{role, content,
    /// tool_calls?}`) with `tools` (JSON array of tool definitions; empty: none), reusing
    /// the KV cache of the conversation's earlier turns.
    fn chat_start(&mut self, messages: &str, options: &str, tools: &str) -> Result<(), WasmError>;
    /// Runs one step: the prompt and the first token on the first call, one token after;
    /// `pending` while the step waits for the device. An error ends the generation.
    fn next_piece(&mut self) -> Result<Step, WasmError>;
    /// Ends the running generation (if any); the KV cache keeps what was evaluated.
    /// A step still waiting for the device goes on: [`Driver::settle`] it.
    fn cancel(&mut self) -> Stats;
    /// Completes a step left waiting for the device once its read is there (never
    /// waits): whether the engine is idle.
    fn settle(&mut self) -> Result<bool, WasmError>;
    /// Whether a generation is running.
    fn is_generating(&self) -> bool;
    /// Token ids of `text` (with BOS when `add_special` and the model wants it; control
    /// tokens written in the text are parsed).
    fn tokenize(&self, text: &str, add_special: bool) -> Vec<u32>;
    /// Text of token ids.
    fn detokenize(&self, ids: &[u32]) -> String;
    /// Model description as JSON (see [`info::Info`]).
    fn info(&self) -> String;
    /// Forgets the cached context and ends any running generation.
    fn reset(&mut self) -> Result<(), WasmError>;
}

/// One `next_piece` result, sent to JS as JSON.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    /// Token id (`None` when the generation ended without producing a token).
    pub id: Option<u32>,
    /// Text released by this token (may be empty).
    pub text: String,
    /// Whether the generation has ended with this step.
    pub done: bool,
    /// Why it ended (when `done`): `eog`, `maxTokens`, `stop` or `cancelled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish: Option<&'static str>,
    /// Timing statistics (when `done`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// The step waits for the device: yield to the event loop and call again.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// Timing statistics of a generation.
#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    pub cached_tokens: usize,
    pub prompt_tokens: usize,
    pub prompt_ms: f64,
    pub generated_tokens: usize,
    pub generate_ms: f64,
    pub prompt_tok_per_s: f64,
    pub gen_tok_per_s: f64,
}

impl From<Timings> for Stats {
    fn from(t: Timings) -> Self {
        Stats {
            cached_tokens: t.cached_tokens,
            prompt_tokens: t.prompt_tokens,
            prompt_ms: t.prompt_ms,
            generated_tokens: t.generated_tokens,
            generate_ms: t.generate_ms,
            prompt_tok_per_s: t.prompt_tok_per_s(),
            gen_tok_per_s: t.gen_tok_per_s(),
        }
    }
}

fn finish_name(f: FinishReason) -> &'static str {
    match f {
        FinishReason::EndOfGeneration => "eog",
        FinishReason::MaxTokens => "maxTokens",
        FinishReason::Stop => "stop",
        FinishReason::Cancelled => "cancelled",
    }
}

impl Runner {
    /// Validates the received file and builds the session (options: `LoadOptions` JSON).
    pub fn load(
        bytes: ModelBytes,
        options: &str,
        clock_ms: fn() -> f64,
    ) -> Result<Runner, WasmError> {
        let opts = params::session_options(options, clock_ms)?;
        let file = GgufFile::from_aligned(bytes.finish()?)?;
        let session = Session::from_file(Arc::new(file), opts)?;
        Ok(Runner::new(session, clock_ms, None))
    }
}

impl<B: Backend> Runner<B> {
    /// A runner of `session`; `adapter`: the GPU adapter's description, if any.
    pub fn new(
        session: Session<B>,
        clock_ms: fn() -> f64,
        adapter: Option<serde_json::Value>,
    ) -> Runner<B> {
        Runner {
            session,
            generation: None,
            clock_ms,
            waiting_since: None,
            adapter,
        }
    }

    /// `Err` while a step waits for the device (the worker settles it first).
    fn idle(&self) -> Result<(), WasmError> {
        match self.session.in_flight() {
            true => Err(WasmError::Busy),
            false => Ok(()),
        }
    }

    /// Notes one more poll of a step waiting for the device: `Err` past the bound.
    fn still_waiting(&mut self) -> Result<(), WasmError> {
        let now = (self.clock_ms)();
        let since = *self.waiting_since.get_or_insert(now);
        if now - since > STEP_TIMEOUT_MS {
            self.waiting_since = None;
            return Err(WasmError::StepTimeout {
                secs: STEP_TIMEOUT_MS / 1000.0,
            });
        }
        Ok(())
    }
}

impl<B: Backend> Driver for Runner<B> {
    fn generate_start(&mut self, prompt: &str, options: &str) -> Result<(), WasmError> {
        self.idle()?;
        let p = params::generate_params(options)?;
        self.generation = Some(self.session.generate(prompt, &p).detach());
        Ok(())
    }

    fn chat_start(&mut self, messages: &str, options: &str, tools: &str) -> Result<(), WasmError> {
        self.idle()?;
        let m = params::messages(messages)?;
        let p = params::generate_params(options)?;
        let t = params::tools(tools)?;
        self.generation = Some(self.session.chat(&m, t.as_ref(), &p).detach());
        Ok(())
    }

    fn next_piece(&mut self) -> Result<Step, WasmError> {
        let detached = self.generation.take().ok_or(WasmError::NoGeneration)?;
        let mut g = detached.attach(&mut self.session);
        let polled = g.try_next();
        let finish = g.finish_reason();
        let detached = g.detach();
        let Poll::Ready(piece) = polled else {
            self.still_waiting()?;
            self.generation = Some(detached);
            return Ok(Step {
                id: None,
                text: String::new(),
                done: false,
                finish: None,
                stats: None,
                pending: true,
            });
        };
        self.waiting_since = None;
        let piece = piece.transpose()?;
        let done = finish.is_some() || piece.is_none();
        if !done {
            self.generation = Some(detached);
        }
        let (id, text) = piece.map_or((None, String::new()), |p| (Some(p.id), p.text));
        Ok(Step {
            id,
            text,
            done,
            finish: done.then(|| finish_name(finish.unwrap_or(FinishReason::Cancelled))),
            stats: done.then(|| self.session.timings().into()),
            pending: false,
        })
    }

    fn cancel(&mut self) -> Stats {
        self.generation = None;
        self.session.timings().into()
    }

    fn settle(&mut self) -> Result<bool, WasmError> {
        if self.session.settle()? {
            self.waiting_since = None;
            return Ok(true);
        }
        self.still_waiting()?;
        Ok(false)
    }

    fn is_generating(&self) -> bool {
        self.generation.is_some()
    }

    fn tokenize(&self, text: &str, add_special: bool) -> Vec<u32> {
        self.session.tokenize(text, add_special, true)
    }

    fn detokenize(&self, ids: &[u32]) -> String {
        self.session.detokenize(ids, false)
    }

    fn info(&self) -> String {
        info::Info::of(&self.session, self.adapter.clone()).to_json()
    }

    fn reset(&mut self) -> Result<(), WasmError> {
        self.idle()?;
        self.generation = None;
        self.session.reset();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/models/tiny-q4_k_m.gguf"
    );

    fn clock() -> f64 {
        0.0
    }

    fn bytes_of(data: &[u8]) -> ModelBytes {
        let mut b = ModelBytes::new(data.len() as f64).unwrap();
        for (i, c) in data.chunks(65_536).enumerate() {
            b.write((i * 65_536) as f64, c).unwrap();
        }
        b
    }

    fn load() -> (Runner, Session) {
        let data = std::fs::read(TINY).unwrap();
        let r = Runner::load(bytes_of(&data), r#"{"nCtx":256}"#, clock).unwrap();
        let opts = engine::SessionOptions {
            n_ctx: 256,
            threads: 1,
            ..Default::default()
        };
        (r, Session::load_bytes(&data, opts).unwrap())
    }

    #[test]
    fn steps_equal_the_session_iterator() {
        let (mut r, mut native) = load();
        let opts = r#"{"maxTokens":12,"temperature":0}"#;
        let p = params::generate_params(opts).unwrap();
        let want: Vec<_> = native
            .generate("Hello world", &p)
            .map(Result::unwrap)
            .collect();
        r.generate_start("Hello world", opts).unwrap();
        let mut got = Vec::new();
        loop {
            let s = r.next_piece().unwrap();
            got.push((s.id.unwrap(), s.text.clone()));
            if s.done {
                assert_eq!(s.finish, Some("maxTokens"));
                assert_eq!(s.stats.unwrap().generated_tokens, 12);
                break;
            }
        }
        let want: Vec<_> = want.into_iter().map(|p| (p.id, p.text)).collect();
        assert_eq!(got, want);
        assert!(!r.is_generating());
        assert!(matches!(r.next_piece(), Err(WasmError::NoGeneration)));
    }

    #[test]
    fn cancel_reset_tokenize_and_info() {
        let (mut r, native) = load();
        r.generate_start("abc", r#"{"maxTokens":100}"#).unwrap();
        assert!(!r.next_piece().unwrap().done);
        assert!(r.is_generating());
        let st = r.cancel();
        assert_eq!(st.generated_tokens, 1);
        assert!(!r.is_generating());
        assert_eq!(
            r.tokenize("hello there", true),
            native.tokenize("hello there", true, true)
        );
        let ids = r.tokenize("hello there", false);
        assert_eq!(r.detokenize(&ids), native.detokenize(&ids, false));
        let info: serde_json::Value = serde_json::from_str(&r.info()).unwrap();
        assert_eq!(info["arch"], "llama");
        assert_eq!(info["nCtx"], 256);
        // The tiny file has no template: the built-in one chosen by architecture.
        assert_eq!(info["chatTemplate"], true);
        assert_eq!(info["chatTemplateBuiltin"], "llama2");
        assert_eq!(info["chatTemplateSource"].as_str(), native.chat_template());
        r.reset().unwrap();
        assert!(r.generate_start("x", r#"{"bogus":1}"#).is_err());
    }

    /// Issue 13: a context or penalty window past the limits is an error (a rejected
    /// promise in JS), never an abort.
    #[test]
    fn out_of_range_options_are_errors() {
        let data = std::fs::read(TINY).unwrap();
        for opts in [r#"{"nCtx":4000000000}"#, r#"{"nCtx":9007199254740991}"#] {
            let e = Runner::load(bytes_of(&data), opts, clock).unwrap_err();
            assert!(e.to_string().contains("KV cache"), "{opts}: {e}");
        }
        let (mut r, _) = load();
        let e = r
            .generate_start("Hi", r#"{"penaltyLastN":4000000000}"#)
            .unwrap_err();
        assert!(e.to_string().contains("penaltyLastN"), "{e}");
        let opts = r#"{"maxTokens":3,"penaltyLastN":-1,"repeatPenalty":1.2,"temperature":-1}"#;
        r.generate_start("Hi", opts).unwrap();
        while !r.next_piece().unwrap().done {}
    }

    #[test]
    fn truncated_and_garbage_files_give_readable_errors() {
        let data = std::fs::read(TINY).unwrap();
        for cut in [0usize, 3, 64, data.len() / 2, data.len() - 1] {
            let mut part = data[..cut.max(1)].to_vec();
            if cut == 0 {
                part = b"not a gguf file at all".to_vec();
            }
            let e = Runner::load(bytes_of(&part), "", clock).unwrap_err();
            assert!(e.to_string().starts_with("model file: "), "cut {cut}: {e}");
        }
        let mut b = ModelBytes::new(data.len() as f64).unwrap();
        b.write(0.0, &data[..100]).unwrap();
        let e = Runner::load(b, "", clock).unwrap_err();
        assert!(
            matches!(e, WasmError::Incomplete { written: 100, .. }),
            "{e}"
        );
    }
}
