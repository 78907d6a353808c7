//! Per-layer weights, found in the GGUF file and checked against the config.
//!
//! This file maps GGUF tensors to layers (names, shapes, layout checks); the
//! backend loads each one into its own handle (`Backend::matrix`,
//! `Backend::vector`), possibly transcoding it into its own layout. A fused
//! matrix such as `attn_qkv` is seen as one `Linear` per part, each a range
//! of the tensor's rows.

use gguf::{GgmlType, GgufFile, TensorInfo};

use crate::backend::cpu::CpuBackend;
use crate::backend::Backend;
use crate::config::Config;
use crate::error::ModelError;
use crate::layout::RopeFactors;

/// A weight matrix `w: [rows, cols]` row-major: rows `row_start ..
/// row_start + rows` of a tensor with ggml dims `[cols, n]` (all of them
/// unless the tensor is a fused matrix), and the backend's handle `m` of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Linear<M> {
    pub name: String,
    /// The type in the file.
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    /// Index into `GgufFile::tensors()`.
    pub index: usize,
    /// First row of this matrix in the tensor.
    pub row_start: usize,
    /// Byte range (of these rows) relative to the file's data section.
    pub offset: u64,
    pub n_bytes: u64,
    /// The backend's copy or view of the matrix.
    pub m: M,
}

/// The attention part of a block.
#[derive(Debug)]
pub struct AttnWeights<B: Backend = CpuBackend> {
    /// Pre-norm, [n_embd].
    pub norm: B::Vector,
    /// [n_head * head_dim, n_embd] (`attn_q`, or the first rows of `attn_qkv`)
    pub wq: Linear<B::Matrix>,
    /// [n_kv_head * head_dim, n_embd]
    pub wk: Linear<B::Matrix>,
    /// [n_kv_head * head_dim, n_embd]
    pub wv: Linear<B::Matrix>,
    /// [n_embd, n_head * head_dim]
    pub wo: Linear<B::Matrix>,
    /// Biases of the q, k, v projections (`Layout::qkv_bias`).
    pub qkv_bias: Option<QkvBias<B>>,
    /// Per-head RMS norms of queries and keys (`Layout::qk_norm`).
    pub qk_norm: Option<QkNorm<B>>,
    /// Norm of the output before the residual add (`Layout::post_norms`), [n_embd].
    pub post_norm: Option<B::Vector>,
}

/// Biases of the query [n_head * head_dim], key and value
/// [n_kv_head * head_dim] projections.
#[derive(Debug)]
pub struct QkvBias<B: Backend = CpuBackend> {
    pub q: B::Vector,
    pub k: B::Vector,
    pub v: B::Vector,
}

/// Per-head RMS norm weights of queries and keys, [head_dim] each.
#[derive(Debug)]
pub struct QkNorm<B: Backend = CpuBackend> {
    pub q: B::Vector,
    pub k: B::Vector,
}

/// The gated feed-forward part of a block.
#[derive(Debug)]
pub struct FfnWeights<B: Backend = CpuBackend> {
    /// Pre-norm, [n_embd].
    pub norm: B::Vector,
    /// [n_ff, n_embd] (`ffn_gate`, or the first half of a fused `ffn_up`)
    pub gate: Linear<B::Matrix>,
    /// [n_ff, n_embd] (`ffn_up`, or its second half when fused)
    pub up: Linear<B::Matrix>,
    /// [n_embd, n_ff]
    pub down: Linear<B::Matrix>,
    /// Norm of the output before the residual add (`Layout::post_norms`), [n_embd].
    pub post_norm: Option<B::Vector>,
}

/// The weights of one transformer block: attention, then feed-forward.
#[derive(Debug)]
pub struct LayerWeights<B: Backend = CpuBackend> {
    pub attn: AttnWeights<B>,
    pub ffn: FfnWeights<B>,
}

/// All weights of a model.
#[derive(Debug)]
pub struct Weights<B: Backend = CpuBackend> {
    /// Token embeddings [n_vocab, n_embd].
    pub tok_embd: Linear<B::Matrix>,
    /// [n_embd]
    pub output_norm: B::Vector,
    /// [n_vocab, n_embd]; the embedding table when tied.
    pub output: Linear<B::Matrix>,
    pub tied_output: bool,
    /// Per-dimension RoPE frequency divisors.
    pub rope_factors: RopeFactorWeights<B::Vector>,
    pub layers: Vec<LayerWeights<B>>,
}

/// RoPE frequency factors from the file, [n_rot / 2] each, as backend
/// vectors `V`.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeFactorWeights<V> {
    None,
    /// `rope_freqs.weight` (llama 3).
    Freqs(V),
    /// `rope_factors_long.weight` and `rope_factors_short.weight` (LongRoPE).
    LongShort {
        long: V,
        short: V,
    },
}

impl<V> RopeFactorWeights<V> {
    /// The factors a context of `n_ctx` positions per sequence uses: the
    /// long ones when `n_ctx > n_ctx_orig` (llama.cpp compares its context
    /// size, which it rounds up to a multiple of 256, the same way).
    pub fn for_context(&self, n_ctx: usize, n_ctx_orig: usize) -> Option<&V> {
        match self {
            RopeFactorWeights::None => None,
            RopeFactorWeights::Freqs(f) => Some(f),
            RopeFactorWeights::LongShort { long, .. } if n_ctx > n_ctx_orig => Some(long),
            RopeFactorWeights::LongShort { short, .. } => Some(short),
        }
    }
}

impl<B: Backend> Weights<B> {
    /// Find every tensor the architecture needs, check its shape and have
    /// `backend` load it.
    pub fn from_gguf(file: &GgufFile, cfg: &Config, backend: &B) -> Result<Weights<B>, ModelError> {
        let l = Loader { file, backend };
        let (e, v) = (cfg.n_embd as u64, cfg.n_vocab as u64);
        let tok_embd = l.linear("token_embd.weight", e, v)?;
        let (output, tied_output) = match l.find("output.weight") {
            Some(_) => (l.linear("output.weight", e, v)?, false),
            None => (tok_embd.clone(), true),
        };
        let output_norm = l.vector("output_norm.weight", e)?;
        let rope_factors = l.rope_factors(cfg)?;
        let (q, kv, ff, hd) = (
            cfg.q_dim() as u64,
            cfg.kv_dim() as u64,
            cfg.n_ff as u64,
            cfg.head_dim as u64,
        );
        let layout = cfg.arch.layout();
        let mut layers = Vec::with_capacity(cfg.n_layer);
        for i in 0..cfg.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            let bias = |s: &str| format!("blk.{i}.{s}.bias");
            let fused_qkv = l.find(&n("attn_qkv")).is_some();
            let [wq, wk, wv] = match fused_qkv {
                true => l.split_rows(&n("attn_qkv"), e, [q, kv, kv])?,
                false => [
                    l.linear(&n("attn_q"), e, q)?,
                    l.linear(&n("attn_k"), e, kv)?,
                    l.linear(&n("attn_v"), e, kv)?,
                ],
            };
            let qkv_bias = match layout.qkv_bias {
                true if fused_qkv && l.find(&bias("attn_qkv")).is_some() => {
                    let mut b = l.values(&bias("attn_qkv"), q + 2 * kv)?;
                    let v = b.split_off((q + kv) as usize);
                    let k = b.split_off(q as usize);
                    let be = l.backend;
                    Some(QkvBias {
                        q: be.vector(b),
                        k: be.vector(k),
                        v: be.vector(v),
                    })
                }
                true => Some(QkvBias {
                    q: l.vector(&bias("attn_q"), q)?,
                    k: l.vector(&bias("attn_k"), kv)?,
                    v: l.vector(&bias("attn_v"), kv)?,
                }),
                false => None,
            };
            let qk_norm = if layout.qk_norm {
                Some(QkNorm {
                    q: l.vector(&n("attn_q_norm"), hd)?,
                    k: l.vector(&n("attn_k_norm"), hd)?,
                })
            } else {
                None
            };
            let post_norm = |s: &str| -> Result<Option<B::Vector>, ModelError> {
                match layout.post_norms {
                    true => l.vector(&n(s), e).map(Some),
                    false => Ok(None),
                }
            };
            let attn = AttnWeights {
                norm: l.vector(&n("attn_norm"), e)?,
                wq,
                wk,
                wv,
                wo: l.linear(&n("attn_output"), q, e)?,
                qkv_bias,
                qk_norm,
                post_norm: post_norm("post_attention_norm")?,
            };
            let [gate, up] = match layout.fused_gate_up {
                true => l.split_rows(&n("ffn_up"), e, [ff, ff])?,
                false => [
                    l.linear(&n("ffn_gate"), e, ff)?,
                    l.linear(&n("ffn_up"), e, ff)?,
                ],
            };
            let ffn = FfnWeights {
                norm: l.vector(&n("ffn_norm"), e)?,
                gate,
                up,
                down: l.linear(&n("ffn_down"), ff, e)?,
                post_norm: post_norm("post_ffw_norm")?,
            };
            layers.push(LayerWeights { attn, ffn });
        }
        Ok(Weights {
            tok_embd,
            output_norm,
            output,
            tied_output,
            rope_factors,
            layers,
        })
    }

    /// Bytes of weights one decode step reads, as stored in the file:
    /// every matrix (the output head included) and one row of the
    /// embedding table (none more when tied: the head reads all of it).
    /// Norm and bias vectors are left out (well under 0.1 %).
    pub fn decode_bytes(&self) -> u64 {
        let matrices: u64 = self.matrices().map(|m| m.n_bytes).sum();
        let e = &self.tok_embd;
        let row = if self.tied_output {
            0
        } else {
            e.n_bytes / e.rows.max(1) as u64
        };
        matrices + row
    }

    /// Every matrix of the model (for sizing activation buffers).
    pub fn matrices(&self) -> impl Iterator<Item = &Linear<B::Matrix>> {
        let per_layer = self.layers.iter().flat_map(|l| {
            let (a, f) = (&l.attn, &l.ffn);
            [&a.wq, &a.wk, &a.wv, &a.wo, &f.gate, &f.up, &f.down].into_iter()
        });
        [&self.output].into_iter().chain(per_layer)
    }

    /// Every weight matrix, mutably (the output head first).
    pub(crate) fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Linear<B::Matrix>> {
        let per_layer = self.layers.iter_mut().flat_map(|l| {
            let (a, f) = (&mut l.attn, &mut l.ffn);
            [
                &mut a.wq,
                &mut a.wk,
                &mut a.wv,
                &mut a.wo,
                &mut f.gate,
                &mut f.up,
                &mut f.down,
            ]
        });
        [&mut self.output].into_iter().chain(per_layer)
    }
}

struct Loader<'a, B> {
    file: &'a GgufFile,
    backend: &'a B,
}

impl<'a, B: Backend> Loader<'a, B> {
    fn find(&self, name: &str) -> Option<(usize, &'a TensorInfo)> {
        self.file
            .tensors()
            .iter()
            .enumerate()
            .find(|(_, t)| t.name == name)
    }

    fn get(&self, name: &str, dims: &[u64]) -> Result<(usize, &'a TensorInfo), ModelError> {
        let (i, t) = self.find(name).ok_or_else(|| ModelError::MissingTensor {
            name: name.to_string(),
        })?;
        // ggml drops trailing 1s from the dims it writes; compare modulo those.
        let trimmed = |d: &[u64]| -> Vec<u64> {
            let mut v = d.to_vec();
            while v.len() > 1 && v.last() == Some(&1) {
                v.pop();
            }
            v
        };
        if trimmed(&t.dims) != trimmed(dims) {
            return Err(ModelError::TensorShape {
                name: name.to_string(),
                expected: dims.to_vec(),
                found: t.dims.clone(),
            });
        }
        Ok((i, t))
    }

    /// A matrix with ggml dims `[cols, rows]`.
    fn linear(&self, name: &str, cols: u64, rows: u64) -> Result<Linear<B::Matrix>, ModelError> {
        let [w] = self.split_rows(name, cols, [rows])?;
        Ok(w)
    }

    /// The consecutive row blocks of a fused matrix with ggml dims
    /// `[cols, sum(rows)]`, as one matrix each.
    fn split_rows<const N: usize>(
        &self,
        name: &str,
        cols: u64,
        rows: [u64; N],
    ) -> Result<[Linear<B::Matrix>; N], ModelError> {
        let (index, t) = self.get(name, &[cols, rows.iter().sum()])?;
        if !kernels::quant::has_vec_dot(t.ggml_type) {
            return Err(ModelError::TensorType {
                name: name.to_string(),
                ty: t.ggml_type,
                why: "has no matrix-vector kernel",
            });
        }
        let c = cols as usize;
        let rb = kernels::quant::row_bytes(t.ggml_type, c);
        let mut start = 0;
        let mut out = Vec::with_capacity(N);
        for r in rows.map(|r| r as usize) {
            out.push(Linear {
                name: name.to_string(),
                ty: t.ggml_type,
                rows: r,
                cols: c,
                index,
                row_start: start,
                offset: t.offset + (start * rb) as u64,
                n_bytes: (r * rb) as u64,
                m: self
                    .backend
                    .matrix(self.file, index, t.ggml_type, start..start + r, c)?,
            });
            start += r;
        }
        Ok(out.try_into().unwrap_or_else(|_| unreachable!("N views")))
    }

    /// The RoPE frequency factors `cfg.rope_factors` names, if the file has
    /// them ([n_rot / 2] each).
    fn rope_factors(&self, cfg: &Config) -> Result<RopeFactorWeights<B::Vector>, ModelError> {
        let half = cfg.rope.n_dims as u64 / 2;
        let opt = |name: &str| -> Result<Option<B::Vector>, ModelError> {
            match self.find(name) {
                Some(_) => self.vector(name, half).map(Some),
                None => Ok(None),
            }
        };
        Ok(match cfg.rope_factors {
            RopeFactors::None => RopeFactorWeights::None,
            RopeFactors::Freqs => match opt("rope_freqs.weight")? {
                Some(f) => RopeFactorWeights::Freqs(f),
                None => RopeFactorWeights::None,
            },
            RopeFactors::LongShort => match (
                opt("rope_factors_long.weight")?,
                opt("rope_factors_short.weight")?,
            ) {
                (Some(long), Some(short)) => RopeFactorWeights::LongShort { long, short },
                (None, None) => RopeFactorWeights::None,
                (long, _) => {
                    let missing = match long {
                        Some(_) => "rope_factors_short.weight",
                        None => "rope_factors_long.weight",
                    };
                    return Err(ModelError::MissingTensor {
                        name: missing.to_string(),
                    });
                }
            },
        })
    }

    /// A small vector, loaded by the backend.
    fn vector(&self, name: &str, len: u64) -> Result<B::Vector, ModelError> {
        Ok(self.backend.vector(self.values(name, len)?))
    }

    /// A small vector converted to f32.
    fn values(&self, name: &str, len: u64) -> Result<Vec<f32>, ModelError> {
        let (_, t) = self.get(name, &[len])?;
        let mut out = vec![0f32; len as usize];
        kernels::quant::dequantize_row(t.ggml_type, self.file.tensor_data(t), &mut out).map_err(
            |source| ModelError::Kernel {
                name: name.to_string(),
                source,
            },
        )?;
        Ok(out)
    }
}
