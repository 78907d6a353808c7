//! What the per-tensor rules need from the model's metadata (llama.cpp reads
//! the same keys through its hyperparameter loader). Every GGUF key name of
//! this crate is here.

use gguf::{Metadata, Value};

use crate::error::QuantizeError;

/// `general.file_type`, set to the target file type.
pub(crate) const FILE_TYPE_KEY: &str = "general.file_type";
/// `general.quantization_version`, set to ggml's quantization format version.
pub(crate) const QUANTIZATION_VERSION_KEY: &str = "general.quantization_version";
/// Split-file keys llama-quantize removes (it writes one file).
pub(crate) const SPLIT_KEYS: [&str; 3] = ["split.no", "split.count", "split.tensors.count"];

/// Model hyperparameters the type rules depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelParams {
    /// `general.architecture`.
    pub arch: String,
    /// `{arch}.block_count` (llama.cpp's `n_layer_all`, next-token layers included).
    pub n_layer: u32,
    /// `{arch}.nextn_predict_layers` (0 if absent).
    pub n_layer_nextn: u32,
    /// Query heads of layer 0.
    pub n_head: u32,
    /// Key/value heads of layer 0 (`n_head` if absent).
    pub n_head_kv: u32,
    /// `{arch}.expert_count` (0 if absent).
    pub n_expert: u32,
}

impl ModelParams {
    pub fn from_metadata(md: &Metadata) -> Result<ModelParams, QuantizeError> {
        let arch = md
            .get("general.architecture")
            .and_then(Value::as_str)
            .ok_or(QuantizeError::MissingKey {
                key: "general.architecture".into(),
            })?
            .to_owned();
        let key = |k: &str| format!("{arch}.{k}");
        let n_layer = uint(md, &key("block_count"))?.ok_or_else(|| QuantizeError::MissingKey {
            key: key("block_count"),
        })?;
        let n_head = first_uint(md, &key("attention.head_count"))?.unwrap_or(0);
        let n_head_kv = first_uint(md, &key("attention.head_count_kv"))?.unwrap_or(n_head);
        Ok(ModelParams {
            n_layer,
            n_layer_nextn: uint(md, &key("nextn_predict_layers"))?.unwrap_or(0),
            n_head,
            n_head_kv,
            n_expert: uint(md, &key("expert_count"))?.unwrap_or(0),
            arch,
        })
    }

    /// Query heads per key/value head in layer 0 (0 if there are no KV heads).
    pub fn n_gqa(&self) -> u32 {
        self.n_head.checked_div(self.n_head_kv).unwrap_or(0)
    }

    /// Whether llama.cpp classifies the model as a 70B one (its attn_v rule
    /// depends on it): 80 layers for llama (not 65B-style MHA, not 8 experts),
    /// qwen2, deci, olmo; 68 for jais2.
    pub fn is_70b(&self) -> bool {
        let n = self.n_layer - self.n_layer_nextn.min(self.n_layer);
        match self.arch.as_str() {
            "llama" => self.n_expert != 8 && n == 80 && self.n_head != self.n_head_kv,
            "qwen2" | "deci" | "olmo" => n == 80,
            "jais2" => n == 68,
            _ => false,
        }
    }
}

/// An unsigned integer key, `None` if absent.
fn uint(md: &Metadata, key: &str) -> Result<Option<u32>, QuantizeError> {
    match md.get(key) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(key, v)),
    }
}

/// An unsigned integer or the first element of a per-layer array.
fn first_uint(md: &Metadata, key: &str) -> Result<Option<u32>, QuantizeError> {
    match md.get(key) {
        Some(v @ Value::Array(a)) => a
            .to_u64s()
            .and_then(|xs| xs.first().copied())
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| bad(key, v)),
        _ => uint(md, key),
    }
}

fn bad(key: &str, v: &Value) -> QuantizeError {
    QuantizeError::BadKey {
        key: key.to_owned(),
        found: v.type_name(),
    }
}
