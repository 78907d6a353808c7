//! The type each tensor gets for a file type: llama.cpp's mixture rules
//! (more bits for the output head, the value projections and some ffn_down
//! layers), the user's overrides, and the fallback for rows that are not
//! whole blocks of the chosen type.
//!
//! The rules keep counters (`i_attention_wv`, `i_ffn_down`, ...) that advance
//! as tensors are visited, so tensors must be visited in llama.cpp's order
//! (`pipeline::llama_order`).

use gguf::GgmlType;

use crate::category::{allows_quantization, ggml_n_dims, layer_of, Category};
use crate::config::ModelParams;
use crate::error::QuantizeError;
use crate::ftype::FileType;

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeOptions {
    pub ftype: FileType,
    /// Every quantized tensor gets the file type's default type (no mixture;
    /// the fallback for partial blocks still applies).
    pub pure: bool,
    /// Type of `output.weight` (and of `token_embd.weight` when tied).
    pub output_tensor_type: Option<GgmlType>,
    /// Type of `token_embd.weight`.
    pub token_embedding_type: Option<GgmlType>,
}

impl TypeOptions {
    pub fn new(ftype: FileType) -> TypeOptions {
        TypeOptions {
            ftype,
            pure: false,
            output_tensor_type: None,
            token_embedding_type: None,
        }
    }
}

/// Chooses tensor types one tensor at a time (in llama.cpp's order).
#[derive(Debug)]
pub struct TypeRules<'a> {
    params: &'a ModelParams,
    opts: TypeOptions,
    has_tied_embeddings: bool,
    n_attention_wv: i32,
    i_attention_wv: i32,
    i_ffn_down: i32,
    i_ffn_gate: i32,
    i_ffn_up: i32,
}

/// llama.cpp's layers that get more bits in the `_M` mixtures: the first and
/// last eighth, and every third layer in between.
fn use_more_bits(i_layer: i32, n_layers: i32) -> bool {
    i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 || (i_layer - n_layers / 8) % 3 == 2
}

impl<'a> TypeRules<'a> {
    /// `names`: every tensor of the model (the counters' totals come from them).
    pub fn new<'n>(
        params: &'a ModelParams,
        opts: TypeOptions,
        names: impl IntoIterator<Item = &'n str>,
    ) -> Self {
        let mut rules = TypeRules {
            params,
            opts,
            has_tied_embeddings: true,
            n_attention_wv: 0,
            i_attention_wv: 0,
            i_ffn_down: 0,
            i_ffn_gate: 0,
            i_ffn_up: 0,
        };
        for name in names {
            let c = Category::of(name);
            rules.n_attention_wv += i32::from(c.is_attn_v());
            rules.has_tied_embeddings &= c != Category::Output;
        }
        rules
    }

    /// The type of tensor `name` (dims in ggml order, currently `current`).
    pub fn choose(
        &mut self,
        name: &str,
        dims: &[u64],
        current: GgmlType,
    ) -> Result<GgmlType, QuantizeError> {
        if !allows_quantization(name, ggml_n_dims(dims), &self.params.arch) {
            return Ok(current);
        }
        let category = Category::of(name);
        if let (Some(t), Category::TokenEmbd) = (self.opts.token_embedding_type, category) {
            return Ok(t);
        }
        if let (Some(t), Category::Output) = (self.opts.output_tensor_type, category) {
            return Ok(t);
        }
        let mut ty = self.opts.ftype.default_type();
        if is_quantized(ty) {
            if !self.opts.pure {
                ty = self.mixture(ty, name, dims, category)?;
            }
            ty = fallback(ty, dims.first().copied().unwrap_or(1));
        }
        Ok(ty)
    }

    /// (layer, layers) for the ffn rules: the counter, or with experts the
    /// layer number in the name.
    fn layer_info(&self, counter: i32, name: &str) -> Result<(i32, i32), QuantizeError> {
        let n_layer = self.params.n_layer as i32;
        if self.params.n_expert <= 1 {
            return Ok((counter, n_layer));
        }
        match layer_of(name) {
            Some(i) if (0..n_layer).contains(&i) => Ok((i, n_layer)),
            _ => Err(QuantizeError::NoLayer {
                name: name.to_owned(),
                n_layer: self.params.n_layer,
            }),
        }
    }

    fn mixture(
        &mut self,
        mut ty: GgmlType,
        name: &str,
        dims: &[u64],
        category: Category,
    ) -> Result<GgmlType, QuantizeError> {
        use Category::*;
        use FileType as F;
        use GgmlType as G;
        let ftype = self.opts.ftype;
        let p = self.params;
        let falcon = p.arch == "falcon";
        if p.arch == "glm5-next"
            && ["attn_q_a", "attn_q_b", "nextn.eh_proj"]
                .iter()
                .any(|s| name.contains(s))
        {
            return Ok(G::Q8_0);
        }
        match category {
            c if c == Output || (self.has_tied_embeddings && c == TokenEmbd) => {
                if let Some(t) = self.opts.output_tensor_type {
                    ty = t;
                } else {
                    let nx = dims.first().copied().unwrap_or(1);
                    if falcon || !nx.is_multiple_of(ty.block_size() as u64) {
                        ty = G::Q8_0;
                    } else if ty != G::Q8_0 {
                        ty = G::Q6_K;
                    }
                }
            }
            TokenEmbd => {}
            c if c.is_attn_v() => {
                let (i, n) = (self.i_attention_wv, self.n_attention_wv);
                match ftype {
                    F::Q2_K => ty = if p.n_gqa() >= 4 { G::Q4_K } else { G::Q3_K },
                    F::Q3_K_M => ty = if i < 2 { G::Q5_K } else { G::Q4_K },
                    F::Q3_K_L => ty = G::Q5_K,
                    F::Q4_K_M | F::Q5_K_M if use_more_bits(i, n) => ty = G::Q6_K,
                    F::Q4_K_S if i < 4 => ty = G::Q5_K,
                    _ => {}
                }
                if p.is_70b() && matches!(ty, G::Q3_K | G::Q4_K) {
                    ty = G::Q5_K;
                }
                if p.n_expert == 8 {
                    ty = G::Q8_0;
                }
                self.i_attention_wv += 1;
            }
            AttnK if p.n_expert == 8 => ty = G::Q8_0,
            FfnDown => {
                let (i, n) = self.layer_info(self.i_ffn_down, name)?;
                match ftype {
                    F::Q2_K => ty = G::Q3_K,
                    F::Q3_K_M => {
                        ty = if i < n / 16 {
                            G::Q5_K
                        } else if !falcon || use_more_bits(i, n) {
                            G::Q4_K
                        } else {
                            G::Q3_K
                        }
                    }
                    F::Q3_K_L => ty = if falcon { G::Q4_K } else { G::Q5_K },
                    F::Q4_K_M if falcon => {
                        ty = if i < n / 16 {
                            G::Q6_K
                        } else if use_more_bits(i, n) {
                            G::Q5_K
                        } else {
                            G::Q4_K
                        }
                    }
                    F::Q4_K_M | F::Q5_K_M if use_more_bits(i, n) => ty = G::Q6_K,
                    F::Q4_K_S if !falcon && i < n / 8 => ty = G::Q5_K,
                    _ => {}
                }
                self.i_ffn_down += 1;
            }
            AttnOutput => {
                if falcon {
                    if ftype == F::Q3_K_L {
                        ty = G::Q4_K;
                    }
                } else if p.n_expert == 8 {
                    if matches!(
                        ftype,
                        F::Q2_K | F::Q3_K_S | F::Q3_K_M | F::Q4_K_S | F::Q4_K_M
                    ) {
                        ty = G::Q5_K;
                    }
                } else {
                    match ftype {
                        F::Q2_K => ty = G::Q3_K,
                        F::Q3_K_M => ty = G::Q4_K,
                        F::Q3_K_L => ty = G::Q5_K,
                        _ => {}
                    }
                }
            }
            AttnQkv => match ftype {
                F::Q3_K_M | F::Q3_K_L => ty = G::Q4_K,
                F::Q4_K_M => ty = G::Q5_K,
                F::Q5_K_M => ty = G::Q6_K,
                _ => {}
            },
            FfnGate => {
                self.layer_info(self.i_ffn_gate, name)?;
                self.i_ffn_gate += 1;
            }
            FfnUp => {
                self.layer_info(self.i_ffn_up, name)?;
                self.i_ffn_up += 1;
            }
            _ => {}
        }
        Ok(ty)
    }
}

/// Whether `t` is a block-quantized type (not a float or integer type).
pub fn is_quantized(t: GgmlType) -> bool {
    !matches!(
        t,
        GgmlType::F32
            | GgmlType::F16
            | GgmlType::BF16
            | GgmlType::F64
            | GgmlType::I8
            | GgmlType::I16
            | GgmlType::I32
            | GgmlType::I64
    )
}

/// llama.cpp's replacement when rows of `ncols` are not whole blocks of `t`:
/// a 32-element type of similar size, or F16 when even that does not fit.
/// (Types without such a replacement are returned unchanged; the caller
/// reports the partial block.)
pub fn fallback(t: GgmlType, ncols: u64) -> GgmlType {
    use GgmlType as G;
    if ncols.is_multiple_of(t.block_size() as u64) {
        return t;
    }
    let to = match t {
        G::IQ1_S
        | G::IQ1_M
        | G::IQ2_XXS
        | G::IQ2_XS
        | G::IQ2_S
        | G::IQ3_XXS
        | G::IQ3_S
        | G::IQ4_XS => G::IQ4_NL,
        G::Q2_K | G::Q3_K | G::TQ1_0 | G::TQ2_0 => G::Q4_0,
        G::Q4_K => G::Q5_0,
        G::Q5_K => G::Q5_1,
        G::Q6_K => G::Q8_0,
        other if other.block_size() <= 32 => other,
        other => return other,
    };
    if ncols.is_multiple_of(to.block_size() as u64) {
        to
    } else {
        G::F16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(n_layer: u32, n_head_kv: u32) -> ModelParams {
        ModelParams {
            arch: "llama".into(),
            n_layer,
            n_layer_nextn: 0,
            n_head: 4,
            n_head_kv,
            n_expert: 0,
        }
    }

    fn names(n_layer: u32, tied: bool) -> Vec<String> {
        let mut v = vec!["token_embd.weight".to_string(), "output_norm.weight".into()];
        if !tied {
            v.push("output.weight".into());
        }
        for i in 0..n_layer {
            for t in [
                "attn_q",
                "attn_k",
                "attn_v",
                "attn_output",
                "ffn_gate",
                "ffn_up",
                "ffn_down",
            ] {
                v.push(format!("blk.{i}.{t}.weight"));
            }
        }
        v
    }

    fn types(ftype: FileType, p: &ModelParams, tied: bool) -> Vec<(String, GgmlType)> {
        let names = names(p.n_layer, tied);
        let mut rules =
            TypeRules::new(p, TypeOptions::new(ftype), names.iter().map(|s| s.as_str()));
        names
            .iter()
            .map(|n| {
                let dims = if n.contains("norm") {
                    vec![256]
                } else {
                    vec![256, 256]
                };
                (n.clone(), rules.choose(n, &dims, GgmlType::F32).unwrap())
            })
            .collect()
    }

    fn ty(v: &[(String, GgmlType)], name: &str) -> GgmlType {
        v.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn q4_0_output_head_is_q6_k_and_norms_stay() {
        let v = types(FileType::Q4_0, &params(2, 2), false);
        assert_eq!(ty(&v, "output.weight"), GgmlType::Q6_K);
        assert_eq!(ty(&v, "token_embd.weight"), GgmlType::Q4_0);
        assert_eq!(ty(&v, "output_norm.weight"), GgmlType::F32);
        let tied = types(FileType::Q4_0, &params(2, 2), true);
        assert_eq!(ty(&tied, "token_embd.weight"), GgmlType::Q6_K);
        let q8 = types(FileType::Q8_0, &params(2, 2), false);
        assert_eq!(ty(&q8, "output.weight"), GgmlType::Q8_0);
    }

    #[test]
    fn q4_k_m_more_bits_layers() {
        let v = types(FileType::Q4_K_M, &params(8, 2), false);
        let q6: Vec<usize> = (0..8)
            .filter(|i| ty(&v, &format!("blk.{i}.ffn_down.weight")) == GgmlType::Q6_K)
            .collect();
        assert_eq!(q6, [0, 3, 6, 7]);
        assert_eq!(ty(&v, "blk.3.attn_v.weight"), GgmlType::Q6_K);
        assert_eq!(ty(&v, "blk.4.attn_v.weight"), GgmlType::Q4_K);
        assert_eq!(ty(&v, "blk.4.attn_q.weight"), GgmlType::Q4_K);
    }

    #[test]
    fn q2_k_attn_v_depends_on_gqa() {
        let v = types(FileType::Q2_K, &params(2, 1), false);
        assert_eq!(ty(&v, "blk.0.attn_v.weight"), GgmlType::Q4_K);
        let v = types(FileType::Q2_K, &params(2, 2), false);
        assert_eq!(ty(&v, "blk.0.attn_v.weight"), GgmlType::Q3_K);
        assert_eq!(ty(&v, "blk.0.ffn_down.weight"), GgmlType::Q3_K);
        assert_eq!(ty(&v, "blk.0.attn_output.weight"), GgmlType::Q3_K);
    }

    #[test]
    fn fallbacks() {
        assert_eq!(fallback(GgmlType::Q4_K, 640), GgmlType::Q5_0);
        assert_eq!(fallback(GgmlType::Q4_K, 512), GgmlType::Q4_K);
        assert_eq!(fallback(GgmlType::Q3_K, 96), GgmlType::Q4_0);
        assert_eq!(fallback(GgmlType::Q6_K, 600), GgmlType::F16);
        assert_eq!(fallback(GgmlType::Q8_0, 600), GgmlType::F16);
        assert_eq!(fallback(GgmlType::IQ2_XS, 96), GgmlType::IQ4_NL);
    }

    #[test]
    fn more_bits_pattern() {
        let l: Vec<i32> = (0..22).filter(|&i| use_more_bits(i, 22)).collect();
        assert_eq!(l, [0, 1, 4, 7, 10, 13, 16, 19, 20, 21]);
    }
}
