//! `info()`: what the loaded model is, as JSON for the page.

use std::any::Any;
use std::collections::BTreeMap;

use engine::Session;
use gpu::backend::GpuBackend;
use model::{Backend, Model};
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
    /// Where the model runs: `cpu`, or `webgpu` (`gpu` in a native test).
    pub backend: &'static str,
    /// The GPU adapter (the page's GPUAdapterInfo: vendor, architecture, device,
    /// description), on the GPU.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adapter: Option<serde_json::Value>,
    /// Kernel dispatches of the last decode step (0 on the CPU, and before the first
    /// step on the GPU).
    pub dispatches_per_token: usize,
}

impl Info {
    pub fn of<B: Backend>(s: &Session<B>, adapter: Option<serde_json::Value>) -> Info {
        let model = s.model();
        let on: &dyn Any = model.backend();
        let gpu = on.downcast_ref::<GpuBackend>();
        let backend = match (gpu, cfg!(target_arch = "wasm32")) {
            (None, _) => "cpu",
            (Some(_), true) => "webgpu",
            (Some(_), false) => "gpu",
        };
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
            isa: (model as &dyn Any)
                .downcast_ref::<Model>()
                .map_or_else(kernels::arch::select, |m| m.kernels())
                .isa
                .name(),
            backend,
            adapter: adapter.filter(|_| gpu.is_some()),
            dispatches_per_token: gpu.map_or(0, |g| g.last_step().dispatches),
        }
    }

    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and maps with string keys cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}
