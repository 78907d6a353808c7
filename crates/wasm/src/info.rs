//! `info()`: what the loaded model is, as JSON for the page.

use std::collections::BTreeMap;

use engine::Session;
use serde::Serialize;

/// Description of a loaded model.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    /// `general.architecture`, e.g. `gemma3`.
    pub arch: String,
    /// `general.name`, if any.
    pub name: Option<String>,
    /// Total number of weights.
    pub n_params: u64,
    /// File size in bytes.
    pub file_bytes: u64,
    /// Context window of the session.
    pub n_ctx: usize,
    pub n_ctx_train: usize,
    pub n_vocab: usize,
    pub n_layer: usize,
    pub n_embd: usize,
    /// Tensor count per ggml type name (`Q4_K`, `F32`, ...).
    pub tensor_types: BTreeMap<&'static str, usize>,
    /// Whether a chat template is available (the file's or a built-in).
    pub chat_template: bool,
    /// Name of the built-in template in use (`gemma`, `chatml`, ...); `None` when the
    /// template is the file's own Jinja source (or the `chatTemplate` load option's).
    pub chat_template_builtin: Option<&'static str>,
    /// Jinja source of the template in use, if any.
    pub chat_template_source: Option<String>,
    /// Kernel instruction set in use (`simd128` or `scalar` in a browser).
    pub isa: &'static str,
}

impl Info {
    pub fn of(s: &Session) -> Info {
        let model = s.model();
        let cfg = model.config();
        let file = model.file();
        let mut tensor_types = BTreeMap::new();
        let mut n_params = 0u64;
        for t in file.tensors() {
            *tensor_types.entry(t.ggml_type.name()).or_insert(0) += 1;
            n_params += t.n_elements();
        }
        Info {
            arch: s.meta().architecture.clone(),
            name: s.meta().name.clone(),
            n_params,
            file_bytes: file.file_len(),
            n_ctx: s.n_ctx(),
            n_ctx_train: cfg.n_ctx_train,
            n_vocab: cfg.n_vocab,
            n_layer: cfg.n_layer,
            n_embd: cfg.n_embd,
            tensor_types,
            chat_template: s.chat_template().is_some(),
            chat_template_builtin: s.chat_template_builtin().map(|b| b.name()),
            chat_template_source: s.chat_template().map(str::to_string),
            isa: model.kernels().isa.name(),
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
