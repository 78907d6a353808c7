//! Architectures as data: what a transformer block of each supported
//! architecture is made of, checked against the file at load time.
//!
//! Every block is an attention part followed by a feed-forward part, both
//! pre-normed with RMSNorm and added to the residual stream. A [`Layout`]
//! says which optional pieces a block has (per-head query/key norms,
//! post-norms, the activation, the RoPE kind, ...). `weights` loads exactly
//! the tensors the layout names (a missing one is a load error) and
//! `arch::block` runs the same code for every architecture, skipping the
//! pieces the layout leaves out. As in llama.cpp, any architecture may
//! store Q, K and V as one matrix (`attn_qkv`) instead of three. Facts
//! follow llama.cpp's graph builders
//! (`src/models/{llama,gemma3,qwen2,qwen3,phi3}.cpp`).

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

/// Per-dimension RoPE frequency divisors an architecture reads from the
/// file (each pair's angle `theta_i` becomes `theta_i / factor_i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeFactors {
    /// None: the file's factor tensors, if any, are ignored.
    None,
    /// Optional `rope_freqs.weight` (llama 3), or with a `longrope`
    /// scaling type the `rope_factors_long/short` pair.
    Freqs,
    /// Optional `rope_factors_long.weight` and `rope_factors_short.weight`
    /// (LongRoPE): the long ones when the context exceeds the training
    /// context the model was extended from.
    LongShort,
}

/// How one architecture builds its blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Biases added to the query, key and value projections
    /// (`attn_q.bias`, `attn_k.bias`, `attn_v.bias`).
    pub qkv_bias: bool,
    /// Gate and up projections in one matrix (`ffn_up`: `2 * n_ff` rows,
    /// the gate's first).
    pub fused_gate_up: bool,
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
    /// RoPE frequency factor tensors the architecture reads.
    pub rope_factors: RopeFactors,
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
    fused_gate_up: false,
    qk_norm: false,
    post_norms: false,
    activation: Activation::Silu,
    rope: RopeMode::Normal,
    rope_factors: RopeFactors::Freqs,
    embed_scale: false,
    scale_queries: false,
    sliding_window: false,
    final_softcap: false,
};

/// Gemma 3 (text).
const GEMMA3: Layout = Layout {
    qkv_bias: false,
    fused_gate_up: false,
    qk_norm: true,
    post_norms: true,
    activation: Activation::GeluTanh,
    rope: RopeMode::Neox,
    rope_factors: RopeFactors::None,
    embed_scale: true,
    scale_queries: true,
    sliding_window: true,
    final_softcap: true,
};

/// Qwen2 / Qwen2.5: llama with QKV biases and NeoX RoPE.
const QWEN2: Layout = Layout {
    qkv_bias: true,
    rope: RopeMode::Neox,
    rope_factors: RopeFactors::None,
    ..LLAMA
};

/// Qwen3 (dense): llama with per-head query/key RMS norms before NeoX RoPE.
const QWEN3: Layout = Layout {
    qk_norm: true,
    rope: RopeMode::Neox,
    rope_factors: RopeFactors::None,
    ..LLAMA
};

/// Phi-3 / Phi-3.5 (dense): a fused gate/up matrix (and, as its files
/// have, a fused QKV one, which every architecture accepts), NeoX RoPE with
/// optional LongRoPE factors, queries scaled by `1/sqrt(head_dim)` after
/// RoPE (attention scale 1).
const PHI3: Layout = Layout {
    fused_gate_up: true,
    rope: RopeMode::Neox,
    rope_factors: RopeFactors::LongShort,
    scale_queries: true,
    ..LLAMA
};

impl Arch {
    /// The block layout of this architecture.
    pub fn layout(self) -> &'static Layout {
        match self {
            Arch::Llama => &LLAMA,
            Arch::Gemma3 => &GEMMA3,
            Arch::Qwen2 => &QWEN2,
            Arch::Qwen3 => &QWEN3,
            Arch::Phi3 => &PHI3,
        }
    }
}
