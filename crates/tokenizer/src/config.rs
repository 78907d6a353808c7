//! Typed tokenizer configuration read from GGUF metadata.
//!
//! This is the only file that knows GGUF key names. Defaults follow llama.cpp
//! (`llama_vocab::impl::load`): per model type special ids and `add_bos`, per
//! pre-tokenizer `add_bos`, then explicit keys override.

use gguf::{Array, Metadata, Value};

use crate::error::TokenizerError;
use crate::pretok::PreTokenizer;

const KEY_MODEL: &str = "tokenizer.ggml.model";
const KEY_PRE: &str = "tokenizer.ggml.pre";
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";
const KEY_SCORES: &str = "tokenizer.ggml.scores";
const KEY_TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
const KEY_MERGES: &str = "tokenizer.ggml.merges";
const KEY_ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
const KEY_ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
const KEY_ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
const KEY_GENERAL_NAME: &str = "general.name";

/// The algorithm family, from `tokenizer.ggml.model`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VocabKind {
    /// `llama`: SentencePiece BPE (merges by piece score, `<0xNN>` byte fallback).
    Spm,
    /// `gpt2` (and `gemma4`): BPE with merge ranks and a pre-tokenizer.
    Bpe,
}

/// Token types as stored in `tokenizer.ggml.token_type` (llama.cpp's `llama_token_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenType {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

impl TokenType {
    /// Maps the GGUF integer; values outside 0..=6 give `None`.
    pub fn from_i32(v: i32) -> Option<TokenType> {
        Some(match v {
            0 => TokenType::Undefined,
            1 => TokenType::Normal,
            2 => TokenType::Unknown,
            3 => TokenType::Control,
            4 => TokenType::UserDefined,
            5 => TokenType::Unused,
            6 => TokenType::Byte,
            _ => return None,
        })
    }
}

/// Special token ids. `None` = the vocabulary has no such token.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub eot: Option<u32>,
    pub eom: Option<u32>,
    pub unk: Option<u32>,
    pub sep: Option<u32>,
    pub pad: Option<u32>,
    pub mask: Option<u32>,
    pub fim_pre: Option<u32>,
    pub fim_suf: Option<u32>,
    pub fim_mid: Option<u32>,
    pub fim_pad: Option<u32>,
    pub fim_rep: Option<u32>,
    pub fim_sep: Option<u32>,
}

impl SpecialTokens {
    /// llama.cpp's defaults for a model type, before keys override them.
    pub fn defaults_for(kind: VocabKind, model: &str) -> SpecialTokens {
        match (kind, model) {
            (VocabKind::Spm, _) => SpecialTokens {
                bos: Some(1),
                eos: Some(2),
                unk: Some(0),
                ..SpecialTokens::default()
            },
            (VocabKind::Bpe, "gpt2") => SpecialTokens {
                bos: Some(11),
                eos: Some(11),
                ..SpecialTokens::default()
            },
            (VocabKind::Bpe, _) => SpecialTokens::default(),
        }
    }

    /// Every field with its name, for validation and error messages.
    pub(crate) fn fields_mut(&mut self) -> [(&'static str, &mut Option<u32>); 14] {
        [
            ("bos", &mut self.bos),
            ("eos", &mut self.eos),
            ("eot", &mut self.eot),
            ("eom", &mut self.eom),
            ("unk", &mut self.unk),
            ("sep", &mut self.sep),
            ("pad", &mut self.pad),
            ("mask", &mut self.mask),
            ("fim_pre", &mut self.fim_pre),
            ("fim_suf", &mut self.fim_suf),
            ("fim_mid", &mut self.fim_mid),
            ("fim_pad", &mut self.fim_pad),
            ("fim_rep", &mut self.fim_rep),
            ("fim_sep", &mut self.fim_sep),
        ]
    }
}

/// Everything a [`crate::Tokenizer`] is built from, with llama.cpp's defaults
/// already applied. Can be built by hand for tests or non-GGUF vocabularies.
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizerConfig {
    pub kind: VocabKind,
    /// Raw `tokenizer.ggml.model` (`llama`, `gpt2`, `gemma4`).
    pub model: String,
    /// Raw `tokenizer.ggml.pre`; empty when absent (BPE then uses `default`).
    pub pre: String,
    /// Pieces by id.
    pub tokens: Vec<String>,
    /// Per-token scores (SPM merge priority); empty = all zero.
    pub scores: Vec<f32>,
    /// Per-token types; empty = all normal.
    pub token_types: Vec<TokenType>,
    /// BPE merges `"left right"`, highest priority first.
    pub merges: Vec<String>,
    pub special: SpecialTokens,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    /// `general.name`, lower-cased; llama.cpp keys per-model token attributes on it (phi-3).
    pub model_name: String,
}

/// Special-id keys, current names first, then deprecated aliases.
const SPECIAL_KEYS: [(&str, &str); 17] = [
    ("tokenizer.ggml.bos_token_id", "bos"),
    ("tokenizer.ggml.eos_token_id", "eos"),
    ("tokenizer.ggml.eot_token_id", "eot"),
    ("tokenizer.ggml.eom_token_id", "eom"),
    ("tokenizer.ggml.unknown_token_id", "unk"),
    ("tokenizer.ggml.seperator_token_id", "sep"),
    ("tokenizer.ggml.padding_token_id", "pad"),
    ("tokenizer.ggml.mask_token_id", "mask"),
    ("tokenizer.ggml.fim_pre_token_id", "fim_pre"),
    ("tokenizer.ggml.fim_suf_token_id", "fim_suf"),
    ("tokenizer.ggml.fim_mid_token_id", "fim_mid"),
    ("tokenizer.ggml.fim_pad_token_id", "fim_pad"),
    ("tokenizer.ggml.fim_rep_token_id", "fim_rep"),
    ("tokenizer.ggml.fim_sep_token_id", "fim_sep"),
    ("tokenizer.ggml.prefix_token_id", "fim_pre"),
    ("tokenizer.ggml.suffix_token_id", "fim_suf"),
    ("tokenizer.ggml.middle_token_id", "fim_mid"),
];

impl TokenizerConfig {
    /// Reads and validates the tokenizer keys of a GGUF file.
    pub fn from_gguf(md: &Metadata) -> Result<TokenizerConfig, TokenizerError> {
        let model = get_str(md, KEY_MODEL)?
            .ok_or(TokenizerError::MissingKey { key: KEY_MODEL })?
            .to_owned();
        let kind = match model.as_str() {
            "llama" => VocabKind::Spm,
            "gpt2" | "gemma4" => VocabKind::Bpe,
            _ => {
                return Err(TokenizerError::UnsupportedModel {
                    key: KEY_MODEL,
                    model,
                })
            }
        };
        let mut pre = get_str(md, KEY_PRE)?.unwrap_or("").to_owned();
        if model == "gemma4" {
            pre = "gemma4".to_owned();
        }

        let tokens = match get_array(md, KEY_TOKENS)? {
            None => return Err(TokenizerError::MissingKey { key: KEY_TOKENS }),
            Some(a) => a
                .as_strings()
                .ok_or(wrong(KEY_TOKENS, "arr[str]", a))?
                .to_vec(),
        };
        let n = tokens.len();
        if n == 0 {
            return Err(TokenizerError::EmptyVocab { key: KEY_TOKENS });
        }
        if u32::try_from(n).is_err() {
            return Err(TokenizerError::VocabTooLarge { n });
        }

        let scores = match get_array(md, KEY_SCORES)? {
            None => Vec::new(),
            Some(a) => match (a.as_f32s(), a.as_i32s()) {
                (Some(f), _) => f.to_vec(),
                (None, Some(i)) => i.iter().map(|&v| v as f32).collect(),
                _ => return Err(wrong(KEY_SCORES, "arr[f32] or arr[i32]", a)),
            },
        };
        if !scores.is_empty() && scores.len() < n {
            return Err(TokenizerError::LengthMismatch {
                key: KEY_SCORES,
                expected: n,
                found: scores.len(),
            });
        }

        let token_types = match get_array(md, KEY_TOKEN_TYPE)? {
            None => Vec::new(),
            Some(a) => {
                let raw = a.as_i32s().ok_or(wrong(KEY_TOKEN_TYPE, "arr[i32]", a))?;
                if raw.len() < n {
                    return Err(TokenizerError::LengthMismatch {
                        key: KEY_TOKEN_TYPE,
                        expected: n,
                        found: raw.len(),
                    });
                }
                // llama.cpp maps unknown values to UNDEFINED; so do we.
                raw.iter()
                    .map(|&v| TokenType::from_i32(v).unwrap_or(TokenType::Undefined))
                    .collect()
            }
        };

        let merges = match get_array(md, KEY_MERGES)? {
            None if kind == VocabKind::Bpe => {
                return Err(TokenizerError::MissingKey { key: KEY_MERGES })
            }
            None => Vec::new(),
            Some(a) => a
                .as_strings()
                .ok_or(wrong(KEY_MERGES, "arr[str]", a))?
                .to_vec(),
        };

        let spec = PreTokenizer::resolve(kind, &pre).ok_or_else(|| {
            TokenizerError::UnsupportedPreTokenizer {
                key: KEY_PRE,
                pre: pre.clone(),
            }
        })?;

        // Defaults per model type, then per pre-tokenizer, then explicit keys.
        let mut special = SpecialTokens::defaults_for(kind, &model);
        if spec.no_bos {
            special.bos = None;
        }
        for (_, id) in special.fields_mut() {
            if id.is_some_and(|v| v as usize >= n) {
                *id = None; // a default outside the vocab is disabled, as in llama.cpp
            }
        }
        for (key, field) in SPECIAL_KEYS {
            let Some(v) = md.get(key) else { continue };
            let id = v.as_u64().ok_or(TokenizerError::WrongType {
                key,
                expected: "unsigned integer",
                found: v.type_name(),
            })?;
            if id >= n as u64 {
                return Err(TokenizerError::SpecialTokenOutOfRange {
                    key,
                    id,
                    n_vocab: n,
                });
            }
            for (name, slot) in special.fields_mut() {
                if name == field {
                    *slot = Some(id as u32);
                }
            }
        }

        let add_bos = get_bool(md, KEY_ADD_BOS)?.unwrap_or(match kind {
            VocabKind::Spm => true,
            VocabKind::Bpe => spec.add_bos_default,
        }) || spec.force_add_bos;
        let add_eos = get_bool(md, KEY_ADD_EOS)?.unwrap_or(false);
        let add_space_prefix =
            get_bool(md, KEY_ADD_SPACE_PREFIX)?.unwrap_or(kind == VocabKind::Spm);
        let model_name = get_str(md, KEY_GENERAL_NAME)?
            .unwrap_or("")
            .to_ascii_lowercase();

        Ok(TokenizerConfig {
            kind,
            model,
            pre,
            tokens,
            scores,
            token_types,
            merges,
            special,
            add_bos,
            add_eos,
            add_space_prefix,
            model_name,
        })
    }
}

fn wrong(key: &'static str, expected: &'static str, a: &Array) -> TokenizerError {
    TokenizerError::WrongType {
        key,
        expected,
        found: a.type_name(),
    }
}

fn get_str<'a>(md: &'a Metadata, key: &'static str) -> Result<Option<&'a str>, TokenizerError> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => v.as_str().map(Some).ok_or(TokenizerError::WrongType {
            key,
            expected: "str",
            found: v.type_name(),
        }),
    }
}

fn get_bool(md: &Metadata, key: &'static str) -> Result<Option<bool>, TokenizerError> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => v.as_bool().map(Some).ok_or(TokenizerError::WrongType {
            key,
            expected: "bool",
            found: v.type_name(),
        }),
    }
}

fn get_array<'a>(md: &'a Metadata, key: &'static str) -> Result<Option<&'a Array>, TokenizerError> {
    match md.get(key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a)),
        Some(v) => Err(TokenizerError::WrongType {
            key,
            expected: "array",
            found: v.type_name(),
        }),
    }
}
