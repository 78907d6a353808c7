//! The generation session: a loaded model, its tokenizer, one KV cache and the loop that
//! turns a prompt (or a chat) into a stream of text pieces. It is the one-sequence case of
//! the [`Scheduler`]: every generation is one request of a one-slot scheduler.
//!
//! Each [`Session::generate`] call treats its prompt as the whole context: the longest
//! common token prefix with what the KV cache already holds is reused and only the rest is
//! evaluated, so a chat that re-renders the whole conversation each turn only pays for the
//! new turn. The context window (`n_ctx`) bounds prompt + generation: a prompt that does
//! not leave one free position fails with [`EngineError::PromptTooLong`] before any work
//! (with [`EngineError::PromptTooLongBytes`] before tokenizing, when its byte length alone
//! shows it), and a generation that fills the window ends with [`EngineError::ContextFull`] (the text
//! already streamed stays valid).

mod generate;
mod params;
mod stop;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_limits;
pub(crate) mod turn;

use std::ops::ControlFlow;
use std::sync::Arc;

use gguf::GgufFile;
use model::{Backend, CacheType, CpuBackend, KvCache, Model};
use tokenizer::Tokenizer;

use crate::chat::{BuiltinTemplate, ChatMessage, Tools};
use crate::config::EngineMeta;
use crate::error::EngineError;
use crate::load::Loaded;
use crate::prompter::Prompter;
use crate::scheduler::{RequestId, Scheduler, SchedulerOptions};

pub use generate::{Detached, Generation};
pub use params::{
    kv_storage, pack_budget, repack_budget, repack_model, Completion, FinishReason, GenerateParams,
    SessionOptions, Timings, TokenPiece, F16_AS_F32_MAX_BYTES, MAX_CTX, MAX_THREADS,
};
pub use stop::{Released, StopMatcher};

/// A model ready to generate, with its KV cache.
#[derive(Debug)]
pub struct Session<B: Backend = CpuBackend> {
    /// One slot: the model, the KV cache and the tokens it holds.
    sched: Scheduler<B>,
    prompter: Prompter,
    /// The request of the generation in flight, if any (a dropped or
    /// detached generation leaves it running until the next one).
    active: Option<RequestId>,
    clock: fn() -> f64,
    timings: Timings,
}

impl Session {
    /// Opens (memory-maps) a GGUF file and prepares a session (not on wasm32, which has no
    /// file system: use [`Session::load_bytes`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(
        path: impl AsRef<std::path::Path>,
        opts: SessionOptions,
    ) -> Result<Session, EngineError> {
        Self::from_file(Arc::new(GgufFile::open(path)?), opts)
    }

    /// Prepares a session from the bytes of a GGUF file (copied into aligned memory).
    pub fn load_bytes(bytes: &[u8], opts: SessionOptions) -> Result<Session, EngineError> {
        Self::from_file(Arc::new(GgufFile::from_bytes(bytes)?), opts)
    }

    /// Prepares a session from a parsed file, on the CPU.
    pub fn from_file(file: Arc<GgufFile>, opts: SessionOptions) -> Result<Session, EngineError> {
        check_n_batch(&opts)?;
        let loaded = Loaded::from_file(file, &opts)?;
        Session::from_loaded(loaded, &opts)
    }
}

/// `Err` for a batch of no tokens.
fn check_n_batch(opts: &SessionOptions) -> Result<(), EngineError> {
    if opts.n_batch == 0 {
        return Err(EngineError::InvalidOption {
            name: "n_batch",
            detail: "must be at least 1".into(),
        });
    }
    Ok(())
}

impl<B: Backend> Session<B> {
    /// A session over a model loaded on any backend ([`Loaded::with_backend`]),
    /// with the options' batch size, cache type and clock.
    pub fn from_loaded(
        loaded: Loaded<B>,
        opts: &SessionOptions,
    ) -> Result<Session<B>, EngineError> {
        check_n_batch(opts)?;
        let Loaded { model, prompter } = loaded;
        let cfg = model.config();
        let n_ctx = prompter.n_ctx();
        let f32_bytes = KvCache::bytes_for(cfg.n_layer, n_ctx, cfg.kv_dim(), CacheType::F32)
            .and_then(|b| usize::try_from(b).ok())
            .unwrap_or(usize::MAX);
        let sched = Scheduler::new(
            Arc::new(model),
            Arc::clone(prompter.tokenizer()),
            SchedulerOptions {
                n_seq: 1,
                n_ctx,
                n_batch: opts.n_batch.min(n_ctx),
                max_queue: 1,
                cache_type: kv_storage(opts.cache_type, f32_bytes),
            },
        )?;
        Ok(Session {
            sched,
            prompter,
            active: None,
            clock: opts.clock_ms.unwrap_or(default_clock),
            timings: Timings::default(),
        })
    }

    /// Ends the generation in flight, if any (its evaluated tokens stay cached).
    fn end_active(&mut self) {
        if let Some(id) = self.active.take() {
            self.sched.cancel(id);
            // retires it; nothing else runs, so no forward pass
            let _ = self.sched.step(|_, _| {});
        }
    }

    /// Whether a step waits for its device read: a generation was left between two
    /// [`Generation::try_next`] calls that returned `Pending` (see [`Session::settle`]).
    pub fn in_flight(&self) -> bool {
        self.sched.in_flight()
    }

    /// Ends a step left waiting for its read once the read has completed, never
    /// waiting (its piece is dropped: the generation was abandoned); whether no step
    /// is in flight afterwards. Poll it between turns of the caller's event loop.
    pub fn settle(&mut self) -> Result<bool, EngineError> {
        if !self.sched.in_flight() {
            return Ok(true);
        }
        Ok(self.sched.try_step(|_, _| {})?.is_some())
    }

    /// Streams the continuation of `prompt` (tokenized with BOS if the model wants it).
    /// The iterator does the work lazily: prompt evaluation happens on the first `next()`.
    pub fn generate(&mut self, prompt: &str, params: &GenerateParams) -> Generation<'_, B> {
        let tokens = self.tokenize_prompt(prompt, true, params.parse_special);
        Generation::new(self, tokens, params, None)
    }

    /// Streams the continuation of already tokenized `prompt` ids (used as given: no BOS
    /// is added).
    pub fn generate_ids(&mut self, prompt: &[u32], params: &GenerateParams) -> Generation<'_, B> {
        Generation::new(self, Ok(prompt.to_vec()), params, None)
    }

    /// [`Session::generate`] with a callback per piece; return `ControlFlow::Break(())`
    /// to stop early.
    pub fn generate_with(
        &mut self,
        prompt: &str,
        params: &GenerateParams,
        on_piece: impl FnMut(&TokenPiece) -> ControlFlow<()>,
    ) -> Result<Completion, EngineError> {
        self.generate(prompt, params).run(on_piece)
    }

    /// Streams the assistant's reply to a conversation: renders the chat template with a
    /// generation prompt (and `tools`, the template's `tools`, when given), reuses the
    /// cached prefix of earlier turns, and also stops at the template's end-of-turn marker.
    pub fn chat(
        &mut self,
        messages: &[ChatMessage],
        tools: Option<&Tools>,
        params: &GenerateParams,
    ) -> Generation<'_, B> {
        let (tokens, end_of_turn) = match self.prompter.chat_prompt(messages, tools) {
            Ok(p) => (Ok(p.ids), p.end_of_turn),
            Err(e) => (Err(e), None),
        };
        Generation::new(self, tokens, params, end_of_turn)
    }

    /// [`Session::chat`] with a callback per piece.
    pub fn chat_with(
        &mut self,
        messages: &[ChatMessage],
        tools: Option<&Tools>,
        params: &GenerateParams,
        on_piece: impl FnMut(&TokenPiece) -> ControlFlow<()>,
    ) -> Result<Completion, EngineError> {
        self.chat(messages, tools, params).run(on_piece)
    }

    /// Renders a conversation (and its tool definitions) with the session's chat template.
    pub fn render_chat(
        &self,
        messages: &[ChatMessage],
        tools: Option<&Tools>,
        add_generation_prompt: bool,
    ) -> Result<String, EngineError> {
        self.prompter
            .render_chat(messages, tools, add_generation_prompt)
    }

    /// Forgets the cached context (the next generation evaluates its whole prompt).
    pub fn reset(&mut self) {
        self.end_active();
        self.sched.forget();
        self.timings = Timings::default();
    }

    /// A prompt's ids ([`Session::tokenize`]), refused before any tokenizing work when
    /// its length alone shows it cannot fit in the context window with one position
    /// free ([`EngineError::PromptTooLongBytes`]).
    pub fn tokenize_prompt(
        &self,
        text: &str,
        add_special: bool,
        parse_special: bool,
    ) -> Result<Vec<u32>, EngineError> {
        self.prompter
            .tokenize_prompt(text, add_special, parse_special)
    }

    /// Text to token ids, as the session's tokenizer does it.
    pub fn tokenize(&self, text: &str, add_special: bool, parse_special: bool) -> Vec<u32> {
        self.prompter.tokenize(text, add_special, parse_special)
    }

    /// Token ids to text.
    pub fn detokenize(&self, ids: &[u32], special: bool) -> String {
        self.prompter.detokenize(ids, special)
    }

    /// Context window in tokens.
    pub fn n_ctx(&self) -> usize {
        self.sched.n_ctx()
    }

    /// Tokens currently held in the KV cache.
    pub fn cached_tokens(&self) -> &[u32] {
        self.sched.cached(0)
    }

    /// Timing statistics of the last (or running) generation.
    pub fn timings(&self) -> Timings {
        self.timings
    }

    /// The model.
    pub fn model(&self) -> &Model<B> {
        self.sched.model()
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Arc<Tokenizer> {
        self.prompter.tokenizer()
    }

    /// How the session turns prompts and chats into tokens.
    pub fn prompter(&self) -> &Prompter {
        &self.prompter
    }

    /// Engine-level metadata of the file (architecture, name, chat template).
    pub fn meta(&self) -> &EngineMeta {
        self.prompter.meta()
    }

    /// Jinja source of the chat template in use, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.prompter.chat_template()
    }

    /// The built-in chat template in use; `None` when the template is Jinja source from
    /// the file or the `chat_template` option (or when there is none).
    pub fn chat_template_builtin(&self) -> Option<BuiltinTemplate> {
        self.prompter.chat_template_builtin()
    }
}

#[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
fn default_clock() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1000.0
}

#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
fn default_clock() -> f64 {
    0.0
}
