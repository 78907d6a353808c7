//! Typed model configuration: the ONLY place that knows GGUF metadata key names.
//!
//! Facts follow llama.cpp (`src/llama-model.cpp`, `src/models/{llama,gemma3}.cpp`):
//! - llama: normal (adjacent-pair) RoPE, `1/sqrt(head_dim)` attention scale,
//!   vocabulary size from `llama.vocab_size` or the token list, llama 3 frequency
//!   factors from a `rope_freqs.weight` tensor (handled by `weights`), or
//!   LongRoPE factors when `rope.scaling.type` is `longrope`.
//! - phi3: LongRoPE factors (`rope_factors_{long,short}.weight`) chosen by
//!   the context size against `rope.scaling.original_context_length`
//!   (default: the training context); `rope.scaling.attn_factor` scales
//!   cos/sin of every layer; queries scaled by `1/sqrt(head_dim)` after RoPE.
//! - gemma3: NeoX RoPE; embeddings scaled by `sqrt(n_embd)`; when
//!   `gemma3.attention.sliding_window` is set, layer `il` is a sliding-window
//!   layer unless `il % 6 == 5` (pattern 6, overridable by
//!   `gemma3.attention.sliding_window_pattern`), local layers use RoPE base
//!   10000 (or `gemma3.rope.freq_base_swa`) and no scaling, global layers the
//!   file's base and scaling; queries are multiplied by `1/sqrt(head_dim)`
//!   (`1/sqrt(n_embd/n_head)` for the 62-layer 27B) before attention with
//!   scale 1; norm weights in the file already include Gemma's `+1`.

use gguf::{Metadata, Value};
use kernels::types::RopeParams;

use crate::error::ModelError;
use crate::layout::RopeFactors;

/// The tokenizer's token list.
const KEY_TOKENS: &str = "tokenizer.ggml.tokens";

/// Most transformer blocks a model may declare (llama.cpp's `LLAMA_MAX_LAYERS`).
pub const MAX_LAYERS: usize = 512;

/// Supported architectures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// Llama 2/3, TinyLlama, Mistral (dense).
    Llama,
    /// Gemma 3 (text).
    Gemma3,
    /// Qwen2 / Qwen2.5 (dense).
    Qwen2,
    /// Qwen3 (dense).
    Qwen3,
    /// Phi-3 / Phi-3.5 (dense).
    Phi3,
}

/// Everything the forward pass needs to know about a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub arch: Arch,
    pub n_vocab: usize,
    pub n_ctx_train: usize,
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    /// Per-head dimension of queries and keys (`attention.key_length`).
    pub head_dim: usize,
    /// Per-head dimension of values (`attention.value_length`).
    pub head_dim_v: usize,
    pub n_ff: usize,
    pub rms_eps: f32,
    /// RoPE of global (full-attention) layers.
    pub rope: RopeParams,
    /// Which RoPE frequency factor tensors `weights` loads.
    pub rope_factors: RopeFactors,
    /// The training context RoPE was extended from
    /// (`rope.scaling.original_context_length`, else `n_ctx_train`): LongRoPE
    /// uses its long factors in contexts longer than this.
    pub n_ctx_orig: usize,
    /// RoPE of sliding-window layers (equal to `rope` when there are none).
    pub rope_swa: RopeParams,
    /// Window size of sliding-window layers.
    pub sliding_window: Option<usize>,
    /// Which layers use the sliding window: [n_layer].
    pub swa_layers: Vec<bool>,
    /// Scale applied inside attention (to q·k).
    pub kq_scale: f32,
    /// Scale applied to the queries before attention (Gemma), if any.
    pub q_scale: Option<f32>,
    /// Scale applied to token embeddings (Gemma: sqrt(n_embd)), if any.
    pub embed_scale: Option<f32>,
    /// `tanh` soft-capping of the final logits, if any.
    pub final_logit_softcap: Option<f32>,
}

impl Config {
    /// Number of tokens of the file's tokenizer (`tokenizer.ggml.tokens`), if
    /// it has one.
    pub fn tokenizer_len(md: &Metadata) -> Result<Option<usize>, ModelError> {
        let r = Reader { md };
        match md.get(KEY_TOKENS) {
            None => Ok(None),
            Some(_) => r.array_len(KEY_TOKENS).map(Some),
        }
    }

    /// Read and check the configuration of a model of a supported
    /// architecture.
    pub fn from_gguf(md: &Metadata) -> Result<Config, ModelError> {
        let r = Reader { md };
        let arch_name = r.str("general.architecture")?;
        let arch = match arch_name {
            "llama" => Arch::Llama,
            "gemma3" => Arch::Gemma3,
            "qwen2" => Arch::Qwen2,
            "qwen3" => Arch::Qwen3,
            "phi3" => Arch::Phi3,
            other => {
                return Err(ModelError::UnsupportedArch {
                    arch: other.to_string(),
                })
            }
        };
        let a = arch_name;
        let key = |s: &str| format!("{a}.{s}");

        let n_embd = r.usize(&key("embedding_length"))?;
        let n_layer = r.usize(&key("block_count"))?;
        // Refused before anything is sized by it (per-layer vectors, weights).
        if n_layer > MAX_LAYERS {
            return Err(ModelError::InvalidConfig(format!(
                "'{}' is {n_layer}, above the supported maximum of {MAX_LAYERS} layers",
                key("block_count")
            )));
        }
        let n_ff = r.usize_or_uniform(&key("feed_forward_length"), None, n_layer)?;
        let n_head = r.usize_or_uniform(&key("attention.head_count"), None, n_layer)?;
        let n_kv_head =
            r.usize_or_uniform(&key("attention.head_count_kv"), Some(n_head), n_layer)?;
        // 0 when missing: the file declares no usable context length.
        let n_ctx_train = r.opt_usize(&key("context_length"))?.unwrap_or(0);
        let rms_eps = r.f32(&key("attention.layer_norm_rms_epsilon"))?;
        if n_head == 0 || n_kv_head == 0 || n_embd == 0 || n_layer == 0 || n_ff == 0 {
            return Err(ModelError::InvalidConfig(format!(
                "zero dimension: n_embd {n_embd}, n_layer {n_layer}, n_ff {n_ff}, n_head {n_head}, n_kv_head {n_kv_head}"
            )));
        }
        if n_head % n_kv_head != 0 {
            return Err(ModelError::InvalidConfig(format!(
                "n_head {n_head} is not a multiple of n_kv_head {n_kv_head}"
            )));
        }
        let head_dim = r
            .opt_usize(&key("attention.key_length"))?
            .unwrap_or(n_embd / n_head);
        let head_dim_v = r
            .opt_usize(&key("attention.value_length"))?
            .unwrap_or(n_embd / n_head);
        if head_dim != head_dim_v {
            return Err(ModelError::InvalidConfig(format!(
                "key_length {head_dim} != value_length {head_dim_v} is not supported"
            )));
        }
        let n_rot = r
            .opt_usize(&key("rope.dimension_count"))?
            .unwrap_or(head_dim);
        if n_rot > head_dim || n_rot % 2 != 0 || n_rot == 0 {
            return Err(ModelError::InvalidConfig(format!(
                "rope dimension count {n_rot} must be even and in 2..={head_dim}"
            )));
        }
        if matches!(arch, Arch::Llama | Arch::Qwen3) && n_rot != head_dim {
            return Err(ModelError::InvalidConfig(format!(
                "{a}: rope dimension count {n_rot} must equal the head size {head_dim}"
            )));
        }
        let n_vocab = match r.opt_usize(&key("vocab_size"))? {
            Some(n) => n,
            None => r.array_len(KEY_TOKENS)?,
        };

        let rope_base = r.opt_f32(&key("rope.freq_base"))?.unwrap_or(10000.0);
        let (freq_scale, longrope) = rope_scaling(&r, a)?;
        let attn_factor = r.opt_f32(&key("rope.scaling.attn_factor"))?.unwrap_or(1.0);
        if !attn_factor.is_finite() || attn_factor <= 0.0 {
            return Err(ModelError::InvalidConfig(format!(
                "'{}' is {attn_factor}, must be finite and > 0",
                key("rope.scaling.attn_factor")
            )));
        }
        // as llama.cpp's hparams.n_ctx_orig_yarn (0 stays 0: long factors)
        let n_ctx_orig = r
            .opt_usize(&key("rope.scaling.original_context_length"))?
            .unwrap_or(n_ctx_train);
        let layout = arch.layout();
        let rope_factors = match layout.rope_factors {
            RopeFactors::Freqs if longrope => RopeFactors::LongShort,
            f => f,
        };
        let rope = RopeParams {
            mode: layout.rope,
            n_dims: n_rot,
            base: rope_base,
            freq_scale,
            attn_factor,
        };

        let mut cfg = Config {
            arch,
            n_vocab,
            n_ctx_train,
            n_embd,
            n_layer,
            n_head,
            n_kv_head,
            head_dim,
            head_dim_v,
            n_ff,
            rms_eps,
            rope,
            rope_factors,
            n_ctx_orig,
            rope_swa: rope,
            sliding_window: None,
            swa_layers: vec![false; n_layer],
            kq_scale: 1.0 / (head_dim as f32).sqrt(),
            q_scale: None,
            embed_scale: None,
            final_logit_softcap: None,
        };
        if layout.embed_scale {
            cfg.embed_scale = Some((n_embd as f32).sqrt());
        }
        if layout.scale_queries {
            // Gemma 3 27B (62 layers) scales by 1/sqrt(n_embd / n_head).
            let q_scale = if arch == Arch::Gemma3 && n_layer == 62 {
                1.0 / ((n_embd / n_head) as f32).sqrt()
            } else {
                1.0 / (head_dim as f32).sqrt()
            };
            cfg.q_scale = Some(q_scale);
            cfg.kq_scale = 1.0;
        }
        if layout.final_softcap {
            cfg.final_logit_softcap = r
                .opt_f32(&key("final_logit_softcapping"))?
                .filter(|&c| c != 0.0);
        }
        if layout.sliding_window {
            let window = r
                .opt_usize(&key("attention.sliding_window"))?
                .filter(|&w| w > 0);
            if let Some(w) = window {
                cfg.sliding_window = Some(w);
                cfg.swa_layers =
                    swa_pattern(&r, &key("attention.sliding_window_pattern"), n_layer)?;
                cfg.rope_swa = RopeParams {
                    base: r.opt_f32(&key("rope.freq_base_swa"))?.unwrap_or(10000.0),
                    freq_scale: 1.0,
                    ..rope
                };
            }
        }
        Ok(cfg)
    }

    /// RoPE parameters of layer `il`.
    pub fn layer_rope(&self, il: usize) -> RopeParams {
        if self.swa_layers[il] {
            self.rope_swa
        } else {
            self.rope
        }
    }

    /// Attention window of layer `il` (`None`: full causal attention).
    pub fn layer_window(&self, il: usize) -> Option<usize> {
        if self.swa_layers[il] {
            self.sliding_window
        } else {
            None
        }
    }

    /// Query width: n_head * head_dim.
    pub fn q_dim(&self) -> usize {
        self.n_head * self.head_dim
    }

    /// Key/value width: n_kv_head * head_dim.
    pub fn kv_dim(&self) -> usize {
        self.n_kv_head * self.head_dim
    }
}

/// 1 / linear factor, and whether the scaling type is `longrope`;
/// unsupported scaling kinds are refused. As in llama.cpp, a `longrope`
/// file's linear factor still applies (its converters write none) and the
/// per-dimension factors come from tensors.
fn rope_scaling(r: &Reader, a: &str) -> Result<(f32, bool), ModelError> {
    let type_key = format!("{a}.rope.scaling.type");
    let kind = r.opt_str(&type_key)?.unwrap_or("linear");
    if !matches!(kind, "none" | "linear" | "longrope") {
        return Err(ModelError::UnsupportedRopeScaling {
            key: type_key,
            kind: kind.to_string(),
        });
    }
    let factor = match r.opt_f32(&format!("{a}.rope.scaling.factor"))? {
        Some(f) => f,
        None => r.opt_f32(&format!("{a}.rope.scale_linear"))?.unwrap_or(0.0),
    };
    if !factor.is_finite() || factor < 0.0 {
        return Err(ModelError::InvalidConfig(format!(
            "rope scaling factor {factor} must be finite and >= 0"
        )));
    }
    // llama.cpp never scales with type `none`
    let scale = if factor == 0.0 || kind == "none" {
        1.0
    } else {
        1.0 / factor
    };
    Ok((scale, kind == "longrope"))
}

/// Layer `il` is sliding-window unless `il % n == n - 1`; an array of bools
/// gives each layer explicitly.
fn swa_pattern(r: &Reader, key: &str, n_layer: usize) -> Result<Vec<bool>, ModelError> {
    match r.md.get(key) {
        None => Ok((0..n_layer).map(|il| il % 6 < 5).collect()),
        Some(Value::Array(arr)) => {
            let bad = || ModelError::BadKey {
                key: key.to_string(),
                expected: "an array of n_layer bools or an integer",
                found: format!("array of {} {}", arr.len(), arr.type_name()),
            };
            match arr {
                gguf::Array::Bool(v) if v.len() >= n_layer => Ok(v[..n_layer].to_vec()),
                _ => Err(bad()),
            }
        }
        Some(v) => {
            let n = v.as_u64().ok_or_else(|| ModelError::BadKey {
                key: key.to_string(),
                expected: "an integer",
                found: v.type_name().to_string(),
            })? as usize;
            Ok((0..n_layer).map(|il| n == 0 || il % n < n - 1).collect())
        }
    }
}

/// Typed access to metadata with errors that name the key.
struct Reader<'a> {
    md: &'a Metadata,
}

impl<'a> Reader<'a> {
    fn get(&self, key: &str) -> Result<&'a Value, ModelError> {
        self.md.get(key).ok_or_else(|| ModelError::MissingKey {
            key: key.to_string(),
        })
    }

    fn bad(key: &str, expected: &'static str, v: &Value) -> ModelError {
        ModelError::BadKey {
            key: key.to_string(),
            expected,
            found: format!("{} {v:?}", v.type_name())
                .chars()
                .take(80)
                .collect(),
        }
    }

    fn str(&self, key: &str) -> Result<&'a str, ModelError> {
        let v = self.get(key)?;
        v.as_str().ok_or_else(|| Self::bad(key, "a string", v))
    }

    fn opt_str(&self, key: &str) -> Result<Option<&'a str>, ModelError> {
        match self.md.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| Self::bad(key, "a string", v)),
        }
    }

    fn usize(&self, key: &str) -> Result<usize, ModelError> {
        self.opt_usize(key)?.ok_or_else(|| ModelError::MissingKey {
            key: key.to_string(),
        })
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>, ModelError> {
        match self.md.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .filter(|&n| n <= u32::MAX as usize)
                .map(Some)
                .ok_or_else(|| Self::bad(key, "a non-negative integer below 2^32", v)),
        }
    }

    /// An integer, or a per-layer array whose entries are all equal.
    fn usize_or_uniform(
        &self,
        key: &str,
        default: Option<usize>,
        n_layer: usize,
    ) -> Result<usize, ModelError> {
        let v = match (self.md.get(key), default) {
            (None, Some(d)) => return Ok(d),
            (None, None) => {
                return Err(ModelError::MissingKey {
                    key: key.to_string(),
                })
            }
            (Some(v), _) => v,
        };
        if let Some(arr) = v.as_array() {
            let vals = arr
                .to_u64s()
                .ok_or_else(|| Self::bad(key, "an integer array", v))?;
            let first = vals.first().copied();
            if vals.len() != n_layer || vals.iter().any(|&x| Some(x) != first) {
                return Err(ModelError::InvalidConfig(format!(
                    "'{key}' holds per-layer values {vals:?}; only uniform values over {n_layer} layers are supported"
                )));
            }
            return Ok(first.unwrap_or(0) as usize);
        }
        self.usize(key)
    }

    fn f32(&self, key: &str) -> Result<f32, ModelError> {
        self.opt_f32(key)?.ok_or_else(|| ModelError::MissingKey {
            key: key.to_string(),
        })
    }

    fn opt_f32(&self, key: &str) -> Result<Option<f32>, ModelError> {
        match self.md.get(key) {
            None => Ok(None),
            Some(v) => v
                .as_f32()
                .map(Some)
                .ok_or_else(|| Self::bad(key, "a number", v)),
        }
    }

    fn array_len(&self, key: &str) -> Result<usize, ModelError> {
        let v = self.get(key)?;
        v.as_array()
            .map(|a| a.len())
            .ok_or_else(|| Self::bad(key, "an array", v))
    }
}
