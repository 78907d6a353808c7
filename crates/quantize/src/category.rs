//! Which tensors are quantized at all, and the broad role of each one, both
//! decided from the tensor name as llama.cpp does.

/// A tensor's role for the type rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    TokenEmbd,
    AttnQ,
    AttnV,
    AttnK,
    AttnQkv,
    AttnKvB,
    AttnOutput,
    FfnUp,
    FfnGate,
    FfnDown,
    Output,
    Other,
}

impl Category {
    /// The first matching rule wins (so `blk.0.ffn_gate_inp.weight` is `FfnGate`).
    pub fn of(name: &str) -> Category {
        use Category::*;
        const BY_SUBSTRING: [(&str, Category); 9] = [
            ("attn_qkv.weight", AttnQkv),
            ("attn_kv_b.weight", AttnKvB),
            ("attn_v.weight", AttnV),
            ("attn_k.weight", AttnK),
            ("attn_q.weight", AttnQ),
            ("attn_output.weight", AttnOutput),
            ("ffn_up", FfnUp),
            ("ffn_gate", FfnGate),
            ("ffn_down", FfnDown),
        ];
        if name == "output.weight" {
            return Output;
        }
        if name == "token_embd.weight" || name == "per_layer_token_embd.weight" {
            return TokenEmbd;
        }
        BY_SUBSTRING
            .iter()
            .find(|(s, _)| name.contains(s))
            .map_or(Other, |&(_, c)| c)
    }

    /// The value projections (attn_v and the fused projections containing it),
    /// which get more bits and are counted by `i_attention_wv`.
    pub fn is_attn_v(self) -> bool {
        matches!(
            self,
            Category::AttnV | Category::AttnQkv | Category::AttnKvB
        )
    }
}

/// Name parts of 2-D weights that stay in their source type.
const NEVER_QUANTIZED: [&str; 35] = [
    "_norm.weight",
    "ffn_gate_inp.weight",
    "ffn_gate_tid2eid.weight",
    "altup",
    "laurel",
    "per_layer_model_proj",
    "ssm_conv1d",
    "shortconv.conv.weight",
    "indexer.k_proj.weight",
    "indexer.q_proj.weight",
    "time_mix_first.weight",
    "time_mix_w0.weight",
    "time_mix_w1.weight",
    "time_mix_w2.weight",
    "time_mix_v0.weight",
    "time_mix_v1.weight",
    "time_mix_v2.weight",
    "time_mix_a0.weight",
    "time_mix_a1.weight",
    "time_mix_a2.weight",
    "time_mix_g1.weight",
    "time_mix_g2.weight",
    "time_mix_decay_w1.weight",
    "time_mix_decay_w2.weight",
    "time_mix_lerp_fused.weight",
    "attn_rel_b.weight",
    ".position_embd",
    "sam.pos_embd",
    "sam.neck.",
    "sam.net_",
    ".rel_pos",
    ".patch_embd",
    ".patch_merger",
    "a.rvq.codebook",
    "mm.a.code_embd",
];

/// Extra name parts kept unquantized in `glm5-next` models.
const NEVER_QUANTIZED_GLM5_NEXT: [&str; 14] = [
    "hc_",
    "indexer.attn_q_b",
    "indexer.attn_k",
    "indexer.proj",
    "indexer_compressor_gate",
    "indexer_compressor_ape",
    "ssm_f_a.weight",
    "ssm_f_b.weight",
    "ssm_g_a.weight",
    "ssm_g_b.weight",
    "ssm_beta.weight",
    "attn_kv_a_mqa.weight",
    "attn_k_b.weight",
    "attn_v_b.weight",
];

/// Whether a tensor is converted at all: matrices (ggml `n_dims >= 2`) whose
/// name ends in `weight`, minus norms, routers, positional embeddings and the
/// small special tensors of various architectures.
pub fn allows_quantization(name: &str, ggml_n_dims: usize, arch: &str) -> bool {
    if ggml_n_dims < 2 {
        return false;
    }
    // llama.cpp tests `rfind("weight") == size() - 6` on an unsigned size, which
    // also holds for any 5-byte name (both sides are npos).
    let ends_with_weight = name.ends_with("weight") || name.len() == 5;
    let excluded = NEVER_QUANTIZED.iter().any(|p| name.contains(p))
        || name == "position_embd.weight"
        || name == "token_types.weight"
        || (arch == "glm5-next" && NEVER_QUANTIZED_GLM5_NEXT.iter().any(|p| name.contains(p)));
    ends_with_weight && !excluded
}

/// ggml's dimension count: trailing dims of 1 do not count (at least 1).
pub fn ggml_n_dims(dims: &[u64]) -> usize {
    dims.iter().rposition(|&d| d > 1).map_or(1, |i| i + 1)
}

/// The layer number of a `blk.N.` name as C's `sscanf("blk.%d.")` reads it,
/// `None` if there is none.
pub fn layer_of(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("blk.")?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
    let (neg, digits) = match rest.as_bytes().first() {
        Some(b'-') => (true, &rest[1..]),
        Some(b'+') => (false, &rest[1..]),
        _ => (false, rest),
    };
    let end = digits
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    if end == 0 {
        return None;
    }
    let v = digits[..end].bytes().fold(0i64, |acc, b| {
        (acc * 10 + i64::from(b - b'0')).min(i64::from(u32::MAX))
    });
    Some(if neg { -v } else { v } as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn categories() {
        assert_eq!(Category::of("output.weight"), Category::Output);
        assert_eq!(Category::of("token_embd.weight"), Category::TokenEmbd);
        assert_eq!(Category::of("blk.3.attn_v.weight"), Category::AttnV);
        assert_eq!(Category::of("blk.3.attn_qkv.weight"), Category::AttnQkv);
        assert_eq!(Category::of("blk.3.ffn_gate_inp.weight"), Category::FfnGate);
        assert_eq!(
            Category::of("blk.3.ffn_down_exps.weight"),
            Category::FfnDown
        );
        assert_eq!(Category::of("output_norm.weight"), Category::Other);
        assert!(Category::AttnKvB.is_attn_v() && !Category::AttnK.is_attn_v());
    }

    #[test]
    fn what_is_quantized() {
        assert!(allows_quantization("blk.0.attn_q.weight", 2, "llama"));
        assert!(allows_quantization("output.weight", 2, "llama"));
        assert!(!allows_quantization("blk.0.attn_norm.weight", 1, "llama"));
        assert!(!allows_quantization("blk.0.attn_norm.weight", 2, "llama"));
        assert!(!allows_quantization("blk.0.attn_q.bias", 2, "llama"));
        assert!(!allows_quantization(
            "blk.0.ffn_gate_inp.weight",
            2,
            "llama"
        ));
        assert!(!allows_quantization("position_embd.weight", 2, "gpt2"));
        assert!(allows_quantization("blk.0.hc_x.weight", 2, "llama"));
        assert!(!allows_quantization("blk.0.hc_x.weight", 2, "glm5-next"));
        assert!(allows_quantization("abcde", 2, "llama"));
    }

    #[test]
    fn dims_and_layers() {
        assert_eq!(ggml_n_dims(&[256, 1]), 1);
        assert_eq!(ggml_n_dims(&[256, 1, 4]), 3);
        assert_eq!(ggml_n_dims(&[]), 1);
        assert_eq!(layer_of("blk.12.attn_q.weight"), Some(12));
        assert_eq!(layer_of("blk.7x"), Some(7));
        assert_eq!(layer_of("blk.-1.a"), Some(-1));
        assert_eq!(layer_of("output.weight"), None);
        assert_eq!(layer_of("blk.x"), None);
    }
}
