//! Options, parameters and results of a session.

use model::{AttentionBackend, CacheType};

use crate::sampler::SamplerParams;

/// How a [`Session`](super::Session) is set up.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Context window in tokens (prompt + generation). `0` picks the model's training
    /// context, capped at 4096 (4096 when the file declares none). Above [`MAX_CTX`] it
    /// is refused when the file declares no context length, and any size whose KV cache
    /// exceeds memory is refused (`model::ModelError::OutOfMemory`).
    pub n_ctx: usize,
    /// Element type of the KV cache. On wasm32 an `F16` cache of at most
    /// [`F16_AS_F32_MAX_BYTES`] as f32 is kept as `F16AsF32` (same results, see
    /// [`kv_storage`]).
    pub cache_type: CacheType,
    /// Threads of the forward pass (the calling thread included); `0` = the available
    /// cores. A pool of that many threads is created once with the session (always one
    /// thread on wasm32). At most [`MAX_THREADS`].
    pub threads: usize,
    /// Attention kernel: `Standard` (reference), `Flash` (tiled online softmax) or
    /// `Auto` (flash from `AttentionBackend::AUTO_FLASH_MIN_LEN` attended keys,
    /// standard for prompt chunks on head-group SIMD loops; see `AttentionBackend::resolve`).
    pub attention: AttentionBackend,
    /// Prompt tokens evaluated per forward call (memory of the scratch buffers grows with it).
    pub n_batch: usize,
    /// Chat template: a built-in name (`gemma`, `llama3`, `chatml`, ...) or Jinja source.
    /// `None` uses the file's template, else a built-in chosen by architecture.
    pub chat_template: Option<String>,
    /// Millisecond clock for the timing statistics. `None` uses `std::time::Instant`
    /// (on `wasm32-unknown-unknown`, which has no clock, timings are then zero).
    pub clock_ms: Option<fn() -> f64>,
    /// Load-time repacking (`repack_model`), which never changes a result: Q5_0 matrices
    /// re-encoded as Q8_0 of the same values (`Model::repack_q5_0`) when the copies take at
    /// most half the file's size (on wasm32 also: file plus copies within 3 GiB), and the
    /// kernel table's repacked decode layouts (`Model::pack_for_decode`, copies of at most
    /// twice the file's size). `None`: the decode layouts (where the table has any: on x86
    /// AVX-512 Q4_K and Q6_K, +6-10% decode at 1 thread and +18-28% at 2 on Zen 5, see
    /// bench/results), and Q5_0 as Q8_0 on wasm32 only (whose Q8_0 kernels are several
    /// times faster per weight than its Q5_0 ones; natively the two run at about the same
    /// speed). `Some(true)`: both; `Some(false)`: neither.
    pub repack: Option<bool>,
}

/// The bytes `SessionOptions::repack` may allocate for a file of `file_len`
/// bytes: at most half the file, and on wasm32 the file plus the copies
/// within 3 GiB of the 4 GiB address space.
pub fn repack_budget(file_len: u64) -> usize {
    let cap = if cfg!(target_arch = "wasm32") {
        (3u64 << 30).saturating_sub(file_len)
    } else {
        u64::MAX
    };
    usize::try_from((file_len / 2).min(cap)).unwrap_or(usize::MAX)
}

/// The bytes `Model::pack_for_decode` may allocate for a file of `file_len`
/// bytes: twice the file's size (packed layouts are a few percent larger
/// than the matrices they copy), and on wasm32 the file plus the copies
/// within 3 GiB of the 4 GiB address space.
pub fn pack_budget(file_len: u64) -> usize {
    let cap = if cfg!(target_arch = "wasm32") {
        (3u64 << 30).saturating_sub(file_len)
    } else {
        u64::MAX
    };
    usize::try_from(file_len.saturating_mul(2).min(cap)).unwrap_or(usize::MAX)
}

/// Applies `SessionOptions::repack` to a loaded model (after its kernel
/// table is chosen); `file_len` is the model file's size.
pub fn repack_model(
    model: &mut model::Model,
    repack: Option<bool>,
    file_len: u64,
) -> Result<(), model::ModelError> {
    if repack.unwrap_or(cfg!(target_arch = "wasm32")) {
        model.repack_q5_0(repack_budget(file_len))?;
    }
    if repack.unwrap_or(true) {
        model.pack_for_decode(pack_budget(file_len))?;
    }
    Ok(())
}

/// The largest context (in tokens) a session accepts when the model file declares no
/// usable context length (0 or missing), and the ceiling of counts that a context bounds
/// (the penalty window of the CLI and of the JS API).
pub const MAX_CTX: usize = 1 << 20;

/// The most forward-pass threads a session accepts.
pub const MAX_THREADS: usize = 512;

/// The largest f16 KV cache (counted as f32 words) that wasm32 keeps as f32.
pub const F16_AS_F32_MAX_BYTES: usize = 256 << 20;

/// How a KV cache of type `ty` is stored, `f32_bytes` being its size as f32
/// words: on wasm32 (no f16 conversion instruction) an `F16` cache of at
/// most `F16_AS_F32_MAX_BYTES` is kept as `F16AsF32`, the same values and
/// results without software f16 widening in attention; otherwise `ty`.
pub fn kv_storage(ty: CacheType, f32_bytes: usize) -> CacheType {
    if cfg!(target_arch = "wasm32") && ty == CacheType::F16 && f32_bytes <= F16_AS_F32_MAX_BYTES {
        CacheType::F16AsF32
    } else {
        ty
    }
}

impl Default for SessionOptions {
    fn default() -> Self {
        Self {
            n_ctx: 0,
            cache_type: CacheType::F16,
            threads: 0,
            attention: AttentionBackend::default(),
            n_batch: 64,
            chat_template: None,
            clock_ms: None,
            repack: None,
        }
    }
}

/// What to generate and how.
#[derive(Debug, Clone)]
pub struct GenerateParams {
    /// Sampler chain settings (seed included).
    pub sampler: SamplerParams,
    /// Maximum number of tokens to generate (the end-of-generation token counts).
    pub max_tokens: usize,
    /// Generation stops before any of these strings; they are never emitted.
    pub stop: Vec<String>,
    /// Parse control tokens written in a raw prompt (`<start_of_turn>`) as tokens.
    /// Chat prompts always parse them.
    pub parse_special: bool,
    /// Render control tokens in the output text.
    pub special: bool,
    /// Report the log-probability of each generated token.
    pub logprobs: bool,
    /// Also report this many most likely tokens at each step, with their
    /// log-probabilities (implies `logprobs`); 0 = none.
    pub top_logprobs: usize,
    /// Never end at an end-of-generation token: such tokens are never
    /// sampled (their logits count as -inf), as llama.cpp's `ignore_eos`.
    pub ignore_eos: bool,
}

impl Default for GenerateParams {
    fn default() -> Self {
        Self {
            sampler: SamplerParams::default(),
            max_tokens: 256,
            stop: Vec::new(),
            parse_special: true,
            special: false,
            logprobs: false,
            top_logprobs: 0,
            ignore_eos: false,
        }
    }
}

/// One generated token and the text it releases.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenPiece {
    /// Token id.
    pub id: u32,
    /// Text released at this step: complete UTF-8 only; may be empty (an incomplete
    /// character, or text held back as the possible start of a stop string) or include
    /// text held back at earlier steps. The concatenation of all pieces is the output.
    pub text: String,
    /// Natural log-probability of `id` under the model, when requested.
    pub logprob: Option<f32>,
    /// The `top_logprobs` most likely tokens and their log-probabilities,
    /// best first (empty unless requested).
    pub top_logprobs: Vec<(u32, f32)>,
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-generation token was sampled (it is the last piece, usually with no text).
    EndOfGeneration,
    /// `max_tokens` were generated.
    MaxTokens,
    /// A stop string (or the chat template's end-of-turn) was produced.
    Stop,
    /// The callback asked to stop, or the iterator was dropped early.
    Cancelled,
}

/// Timing statistics of the last generation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings {
    /// Prompt tokens taken from the KV cache of a previous call (not evaluated again).
    pub cached_tokens: usize,
    /// Prompt tokens evaluated.
    pub prompt_tokens: usize,
    /// Milliseconds spent evaluating the prompt.
    pub prompt_ms: f64,
    /// Tokens generated (sampled), including a final end-of-generation token.
    pub generated_tokens: usize,
    /// Milliseconds spent generating (forward passes and sampling).
    pub generate_ms: f64,
}

impl Timings {
    /// Prompt evaluation speed in tokens per second (0 when not measurable).
    pub fn prompt_tok_per_s(&self) -> f64 {
        rate(self.prompt_tokens, self.prompt_ms)
    }

    /// Generation speed in tokens per second (0 when not measurable).
    pub fn gen_tok_per_s(&self) -> f64 {
        rate(self.generated_tokens, self.generate_ms)
    }
}

fn rate(n: usize, ms: f64) -> f64 {
    if ms > 0.0 {
        n as f64 * 1000.0 / ms
    } else {
        0.0
    }
}

/// Summary returned by the callback form of generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// All released text.
    pub text: String,
    /// Generated token ids (including a final end-of-generation token).
    pub tokens: Vec<u32>,
    /// Why generation ended.
    pub finish: FinishReason,
    /// Timing statistics.
    pub timings: Timings,
}
