//! The few GGUF metadata keys the engine itself reads (the model and tokenizer crates read
//! theirs in their own `config.rs`).

use gguf::Metadata;

const KEY_ARCHITECTURE: &str = "general.architecture";
const KEY_NAME: &str = "general.name";
const KEY_CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// Engine-level metadata of a model file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineMeta {
    /// `general.architecture`, e.g. `gemma3` (empty when missing).
    pub architecture: String,
    /// `general.name`, if present.
    pub name: Option<String>,
    /// `tokenizer.chat_template` (Jinja source), if present and a string.
    pub chat_template: Option<String>,
}

impl EngineMeta {
    /// Reads the keys; missing or mistyped optional keys become `None`.
    pub fn from_gguf(md: &Metadata) -> Self {
        let s = |k: &str| md.get(k).and_then(|v| v.as_str()).map(str::to_string);
        Self {
            architecture: s(KEY_ARCHITECTURE).unwrap_or_default(),
            name: s(KEY_NAME),
            chat_template: s(KEY_CHAT_TEMPLATE).filter(|t| !t.trim().is_empty()),
        }
    }
}
