//! Architectures as data: what a transformer block of each supported
//! architecture is made of, checked against the file at load time.
//!
//! Every block is an attention part followed by a feed-forward part, both
//! pre-normed with RMSNorm and added to the residual stream. A [`Layout`]
//! says which optional pieces a block has (per-head query/key norms,
//! post-norms, the activation, the RoPE kind, ...). `weights` loads exactly
//! the tensors the layout names (a missing one is a load error) and
//! `arch::block` runs the same code for every architecture, skipping the
//! pieces the layout leaves out. Facts follow llama.cpp's graph builders
//! (`src/models/{llama,gemma3,qwen2}.cpp`).

use kernels::types::RopeMode;

use crate::config::Arch;

/// The gated activation of the feed-forward part: `act(gate) * up`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// SiLU (SwiGLU): llama.
    Silu,
    /// GELU, tanh approximation (GeGLU): Gemma.
    GeluTanh,
}

/// How one architecture builds its blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Biases added to the query, key and value projections
    /// (`attn_q.bias`, `attn_k.bias`, `attn_v.bias`).
    pub qkv_bias: bool,
    /// Per-head RMS norm of queries and keys before RoPE
    /// (`attn_q_norm`, `attn_k_norm`: `[head_dim]`).
    pub qk_norm: bool,
    /// RMS norm of each part's output before the residual add
    /// (`post_attention_norm`, `post_ffw_norm`: `[n_embd]`).
    pub post_norms: bool,
    /// Feed-forward activation.
    pub activation: Activation,
    /// RoPE pairing.
    pub rope: RopeMode,
    /// Token embeddings multiplied by `sqrt(n_embd)`.
    pub embed_scale: bool,
    /// Queries scaled before attention (attention scale 1) instead of
    /// inside it by `1/sqrt(head_dim)`.
    pub scale_queries: bool,
    /// The file may declare sliding-window layers (with their own RoPE
    /// base and no RoPE scaling).
    pub sliding_window: bool,
    /// The file may declare a `tanh` soft-cap of the final logits.
    pub final_softcap: bool,
}

/// Llama 2/3, TinyLlama, Mistral (dense), SmolLM2.
const LLAMA: Layout = Layout {
    qkv_bias: false,
    qk_norm: false,
    post_norms: false,
    activation: Activation::Silu,
    rope: RopeMode::Normal,
    embed_scale: false,
    scale_queries: false,
    sliding_window: false,
    final_softcap: false,
};

/// Gemma 3 (text).
const GEMMA3: Layout = Layout {
    qkv_bias: false,
    qk_norm: true,
    post_norms: true,
    activation: Activation::GeluTanh,
    rope: RopeMode::Neox,
    embed_scale: true,
    scale_queries: true,
    sliding_window: true,
    final_softcap: true,
};

/// Qwen2 / Qwen2.5: llama with QKV biases and NeoX RoPE.
const QWEN2: Layout = Layout {
    qkv_bias: true,
    rope: RopeMode::Neox,
    ..LLAMA
};

impl Arch {
    /// The block layout of this architecture.
    pub fn layout(self) -> &'static Layout {
        match self {
            Arch::Llama => &LLAMA,
            Arch::Gemma3 => &GEMMA3,
            Arch::Qwen2 => &QWEN2,
        }
    }
}
