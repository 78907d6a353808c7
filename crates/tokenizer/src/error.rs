//! Errors raised while building a tokenizer from a vocabulary.

use thiserror::Error;

/// Why a vocabulary could not be turned into a [`crate::Tokenizer`].
///
/// Encoding and decoding never fail: every error is found at construction.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TokenizerError {
    #[error("metadata key `{key}` is missing")]
    MissingKey { key: &'static str },

    #[error("metadata key `{key}` has type {found}, expected {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
        found: &'static str,
    },

    #[error("unsupported tokenizer model `{model}` (key `{key}`); supported: llama, gpt2, gemma4")]
    UnsupportedModel { key: &'static str, model: String },

    #[error("unsupported pre-tokenizer `{pre}` (key `{key}`)")]
    UnsupportedPreTokenizer { key: &'static str, pre: String },

    #[error("the vocabulary is empty (key `{key}`)")]
    EmptyVocab { key: &'static str },

    #[error("the vocabulary has {n} tokens, more than token ids can address")]
    VocabTooLarge { n: usize },

    #[error("array `{key}` has {found} entries but the vocabulary has {expected} tokens")]
    LengthMismatch {
        key: &'static str,
        expected: usize,
        found: usize,
    },

    #[error("special token `{key}` = {id} is outside the vocabulary of {n_vocab} tokens")]
    SpecialTokenOutOfRange {
        key: &'static str,
        id: u64,
        n_vocab: usize,
    },

    #[error("token {id} has unknown token type {value} (key `{key}`)")]
    BadTokenType {
        key: &'static str,
        id: usize,
        value: i32,
    },

    #[error("merge #{index} `{merge}` is not two space-separated pieces (key `{key}`)")]
    MalformedMerge {
        key: &'static str,
        index: usize,
        merge: String,
    },

    #[error(
        "merge #{index} `{merge}` names `{piece}`, which is not in the vocabulary (key `{key}`)"
    )]
    MergeUnknownToken {
        key: &'static str,
        index: usize,
        merge: String,
        piece: String,
    },

    #[error("the {what} token is required by this vocabulary but is not set")]
    MissingSpecialToken { what: &'static str },

    #[error("cannot build the matcher for the {count} special tokens of {len} bytes: {message}")]
    SpecialMatcher {
        len: usize,
        count: usize,
        message: String,
    },

    #[error("pre-tokenizer regex `{regex}` does not compile: {message}")]
    BadRegex { regex: String, message: String },
}
