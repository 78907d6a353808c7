//! Engine errors.

use crate::chat::ChatError;
use crate::sampler::SamplerError;

/// Everything that can go wrong while loading a model or generating.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The GGUF file is unreadable or invalid.
    #[error("model file: {0}")]
    Gguf(#[from] gguf::GgufError),
    /// The model cannot be built or run.
    #[error("model: {0}")]
    Model(#[from] model::ModelError),
    /// The tokenizer cannot be built from the file.
    #[error("tokenizer: {0}")]
    Tokenizer(#[from] tokenizer::TokenizerError),
    /// Chat template rendering failed.
    #[error(transparent)]
    Chat(#[from] ChatError),
    /// Sampling failed.
    #[error("sampler: {0}")]
    Sampler(#[from] SamplerError),
    /// A session option is out of range.
    #[error("invalid session option `{name}`: {detail}")]
    InvalidOption { name: &'static str, detail: String },
    /// The prompt tokenized to nothing (and the model adds no BOS).
    #[error("the prompt is empty after tokenization")]
    EmptyPrompt,
    /// The prompt alone does not fit in the context window.
    #[error("prompt of {prompt_tokens} tokens does not fit in the context of {n_ctx} tokens (at least one position must stay free for generation)")]
    PromptTooLong { prompt_tokens: usize, n_ctx: usize },
    /// The prompt text is too long for the context window, known from its length
    /// before tokenizing it: no token covers more than `max_token_bytes` bytes.
    #[error("prompt of {bytes} bytes needs at least {min_tokens} tokens (no token covers more than {max_token_bytes} bytes), more than fit in the context of {n_ctx} tokens")]
    PromptTooLongBytes {
        bytes: usize,
        min_tokens: usize,
        max_token_bytes: usize,
        n_ctx: usize,
    },
    /// Generation filled the context window before a stop condition.
    #[error("context full: prompt ({prompt_tokens} tokens) + {generated} generated tokens reached n_ctx = {n_ctx}")]
    ContextFull {
        prompt_tokens: usize,
        generated: usize,
        n_ctx: usize,
    },
    /// Another sequence's batch failed; this one was dropped with it.
    #[error("dropped: the batch it ran in failed ({0})")]
    BatchFailed(String),
    /// The scheduler's queue is full.
    #[error("too many requests waiting (the queue holds {max})")]
    QueueFull { max: usize },
    /// The chat template needs a model that has none and no built-in matches.
    #[error("the model file has no chat template and none of the built-in templates matches architecture {arch:?}; pick one by name")]
    NoChatTemplate { arch: String },
}
