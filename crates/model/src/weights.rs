//! Per-layer tensor views into the GGUF file, checked against the config.
//!
//! Matrices stay quantized in the file (a view is type, shape, the tensor's
//! index and a range of its rows: a fused matrix such as `attn_qkv` is seen
//! as one view per part); only small vectors (norm weights, biases, RoPE
//! frequency factors) are converted to f32 at load time.

use std::sync::Arc;

use gguf::{GgmlType, GgufFile, TensorInfo};
use kernels::arch::Kernels;
use kernels::ops::QMatrix;
use kernels::packed::PackedMatrix;

use crate::config::Config;
use crate::error::ModelError;
use crate::layout::RopeFactors;

/// A weight matrix `w: [rows, cols]` row-major: rows `row_start ..
/// row_start + rows` of a tensor with ggml dims `[cols, n]` (all of them
/// unless the tensor is a fused matrix).
#[derive(Clone, Debug, PartialEq)]
pub struct Linear {
    pub name: String,
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
    /// The matrix re-encoded at load time (`Weights::repack_q5_0`), used
    /// instead of the file's bytes; `ty` stays the file's type.
    pub repacked: Option<Repacked>,
    /// The same matrix in a repacked decode layout (`Weights::pack`), read
    /// by one-token products; prefill keeps reading the bytes above.
    pub packed: Option<Arc<PackedMatrix>>,
}

/// A weight matrix re-encoded at load time: its type and bytes.
#[derive(Clone)]
pub struct Repacked {
    pub ty: GgmlType,
    pub data: Arc<Vec<u8>>,
}

impl std::fmt::Debug for Repacked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repacked({}, {} bytes)", self.ty, self.data.len())
    }
}

impl PartialEq for Repacked {
    fn eq(&self, other: &Repacked) -> bool {
        self.ty == other.ty && self.data == other.data
    }
}

impl Linear {
    /// Borrow the matrix bytes from `file` (or from the load-time copy).
    pub fn view<'a>(&'a self, file: &'a GgufFile) -> QMatrix<'a> {
        let (ty, data) = match &self.repacked {
            Some(r) => (r.ty, r.data.as_slice()),
            None => (self.ty, self.file_bytes(file)),
        };
        QMatrix {
            ty,
            rows: self.rows,
            cols: self.cols,
            data,
            packed: self.packed.as_deref().map(PackedMatrix::view),
        }
    }

    /// This matrix's rows in the file.
    fn file_bytes<'a>(&self, file: &'a GgufFile) -> &'a [u8] {
        let rb = kernels::quant::row_bytes(self.ty, self.cols);
        let all = file.tensor_data(&file.tensors()[self.index]);
        &all[self.row_start * rb..(self.row_start + self.rows) * rb]
    }

    /// Re-encodes a Q5_0 matrix as Q8_0 (same values, faster kernels on some
    /// engines); returns the bytes allocated (0 for other types).
    fn repack_q5_0(&mut self, file: &GgufFile) -> Result<usize, ModelError> {
        if self.ty != GgmlType::Q5_0 || self.repacked.is_some() {
            return Ok(0);
        }
        let n = self.rows * self.cols;
        let mut data = vec![0u8; kernels::quant::row_bytes(GgmlType::Q8_0, n)];
        kernels::quant::repack_q5_0_as_q8_0(n, self.file_bytes(file), &mut data).map_err(
            |source| ModelError::Kernel {
                name: self.name.clone(),
                source,
            },
        )?;
        let bytes = data.len();
        self.repacked = Some(Repacked {
            ty: GgmlType::Q8_0,
            data: Arc::new(data),
        });
        Ok(bytes)
    }
}

impl Linear {
    /// The bytes `pack` would allocate with table `k` (0: no layout for
    /// this matrix's type, or already packed).
    fn pack_bytes(&self, k: &Kernels) -> usize {
        let ty = self.repacked.as_ref().map_or(self.ty, |r| r.ty);
        match k.packing(ty) {
            Some(p) if self.packed.is_none() => self.rows / p.group * (p.group_bytes)(self.cols),
            _ => 0,
        }
    }

    /// Builds the repacked decode layout of table `k` for this matrix (if
    /// the table has one for its type); returns the bytes allocated.
    fn pack(&mut self, file: &GgufFile, k: &Kernels) -> Result<usize, ModelError> {
        let w = self.view(file);
        let Some(p) = k.packing(w.ty).filter(|_| self.packed.is_none()) else {
            return Ok(0);
        };
        let m = PackedMatrix::pack(p, w).map_err(|source| ModelError::Kernel {
            name: self.name.clone(),
            source,
        })?;
        let bytes = m.bytes();
        self.packed = Some(Arc::new(m));
        Ok(bytes)
    }
}

/// The attention part of a block.
#[derive(Clone, Debug)]
pub struct AttnWeights {
    /// Pre-norm, [n_embd].
    pub norm: Vec<f32>,
    /// [n_head * head_dim, n_embd] (`attn_q`, or the first rows of `attn_qkv`)
    pub wq: Linear,
    /// [n_kv_head * head_dim, n_embd]
    pub wk: Linear,
    /// [n_kv_head * head_dim, n_embd]
    pub wv: Linear,
    /// [n_embd, n_head * head_dim]
    pub wo: Linear,
    /// Biases of the q, k, v projections (`Layout::qkv_bias`).
    pub qkv_bias: Option<QkvBias>,
    /// Per-head RMS norms of queries and keys (`Layout::qk_norm`).
    pub qk_norm: Option<QkNorm>,
    /// Norm of the output before the residual add (`Layout::post_norms`), [n_embd].
    pub post_norm: Option<Vec<f32>>,
}

/// Biases of the query [n_head * head_dim], key and value
/// [n_kv_head * head_dim] projections.
#[derive(Clone, Debug)]
pub struct QkvBias {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
    pub v: Vec<f32>,
}

/// Per-head RMS norm weights of queries and keys, [head_dim] each.
#[derive(Clone, Debug)]
pub struct QkNorm {
    pub q: Vec<f32>,
    pub k: Vec<f32>,
}

/// The gated feed-forward part of a block.
#[derive(Clone, Debug)]
pub struct FfnWeights {
    /// Pre-norm, [n_embd].
    pub norm: Vec<f32>,
    /// [n_ff, n_embd] (`ffn_gate`, or the first half of a fused `ffn_up`)
    pub gate: Linear,
    /// [n_ff, n_embd] (`ffn_up`, or its second half when fused)
    pub up: Linear,
    /// [n_embd, n_ff]
    pub down: Linear,
    /// Norm of the output before the residual add (`Layout::post_norms`), [n_embd].
    pub post_norm: Option<Vec<f32>>,
}

/// The weights of one transformer block: attention, then feed-forward.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    pub attn: AttnWeights,
    pub ffn: FfnWeights,
}

/// All weights of a model.
#[derive(Clone, Debug)]
pub struct Weights {
    /// Token embeddings [n_vocab, n_embd].
    pub tok_embd: Linear,
    /// [n_embd]
    pub output_norm: Vec<f32>,
    /// [n_vocab, n_embd]; the embedding table when tied.
    pub output: Linear,
    pub tied_output: bool,
    /// Per-dimension RoPE frequency divisors.
    pub rope_factors: RopeFactorWeights,
    pub layers: Vec<LayerWeights>,
}

/// RoPE frequency factors from the file, [n_rot / 2] each.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeFactorWeights {
    None,
    /// `rope_freqs.weight` (llama 3).
    Freqs(Vec<f32>),
    /// `rope_factors_long.weight` and `rope_factors_short.weight` (LongRoPE).
    LongShort {
        long: Vec<f32>,
        short: Vec<f32>,
    },
}

impl RopeFactorWeights {
    /// The factors a context of `n_ctx` positions per sequence uses: the
    /// long ones when `n_ctx > n_ctx_orig` (llama.cpp compares its context
    /// size, which it rounds up to a multiple of 256, the same way).
    pub fn for_context(&self, n_ctx: usize, n_ctx_orig: usize) -> Option<&[f32]> {
        match self {
            RopeFactorWeights::None => None,
            RopeFactorWeights::Freqs(f) => Some(f),
            RopeFactorWeights::LongShort { long, .. } if n_ctx > n_ctx_orig => Some(long),
            RopeFactorWeights::LongShort { short, .. } => Some(short),
        }
    }
}

impl Weights {
    /// Find every tensor the architecture needs and check its shape.
    pub fn from_gguf(file: &GgufFile, cfg: &Config) -> Result<Weights, ModelError> {
        let l = Loader { file };
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
                    let mut b = l.vector(&bias("attn_qkv"), q + 2 * kv)?;
                    let v = b.split_off((q + kv) as usize);
                    let k = b.split_off(q as usize);
                    Some(QkvBias { q: b, k, v })
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
            let post_norm = |s: &str| -> Result<Option<Vec<f32>>, ModelError> {
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

    /// Every matrix of the model (for sizing activation buffers).
    pub fn matrices(&self) -> impl Iterator<Item = &Linear> {
        let per_layer = self.layers.iter().flat_map(|l| {
            let (a, f) = (&l.attn, &l.ffn);
            [&a.wq, &a.wk, &a.wv, &a.wo, &f.gate, &f.up, &f.down].into_iter()
        });
        [&self.output].into_iter().chain(per_layer)
    }

    /// The bytes `repack_q5_0` would allocate: Q8_0 copies of the Q5_0
    /// matrices (34 bytes per 32 weights instead of 22).
    pub fn q5_0_repack_bytes(&self) -> usize {
        self.matrices()
            .filter(|w| w.ty == GgmlType::Q5_0 && w.repacked.is_none())
            .map(|w| kernels::quant::row_bytes(GgmlType::Q8_0, w.rows * w.cols))
            .sum()
    }

    /// The bytes `pack` would allocate with table `k`.
    pub fn pack_bytes(&self, k: &Kernels) -> usize {
        self.matrices().map(|w| w.pack_bytes(k)).sum()
    }

    /// Repacks every matrix whose type has a decode layout in table `k`
    /// (`kernels::packed`), kept beside the file's bytes (which prefill
    /// still reads); one-token products then read the packed copy, with
    /// the same results bit for bit. Returns the bytes allocated.
    pub fn pack(&mut self, file: &GgufFile, k: &Kernels) -> Result<usize, ModelError> {
        let mut total = 0;
        for w in self.matrices_mut() {
            total += w.pack(file, k)?;
        }
        Ok(total)
    }

    /// Every weight matrix, mutably (the output head first).
    fn matrices_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
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

    /// Re-encodes every Q5_0 matrix as Q8_0 of the same values, kept beside
    /// the file (whose bytes stay mapped): the products are unchanged (the
    /// same integer block sums and scales; bit for bit on the scalar and x86
    /// kernels), and engines whose Q8_0 kernels run faster than their Q5_0
    /// ones (wasm simd128: no byte shuffles to rebuild the fifth bit) decode
    /// faster. Returns the bytes allocated.
    pub fn repack_q5_0(&mut self, file: &GgufFile) -> Result<usize, ModelError> {
        let mut total = 0;
        for w in self.matrices_mut() {
            total += w.repack_q5_0(file)?;
        }
        Ok(total)
    }
}

struct Loader<'a> {
    file: &'a GgufFile,
}

impl<'a> Loader<'a> {
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
    fn linear(&self, name: &str, cols: u64, rows: u64) -> Result<Linear, ModelError> {
        let [w] = self.split_rows(name, cols, [rows])?;
        Ok(w)
    }

    /// The consecutive row blocks of a fused matrix with ggml dims
    /// `[cols, sum(rows)]`, as one view each.
    fn split_rows<const N: usize>(
        &self,
        name: &str,
        cols: u64,
        rows: [u64; N],
    ) -> Result<[Linear; N], ModelError> {
        let (index, t) = self.get(name, &[cols, rows.iter().sum()])?;
        if !kernels::quant::has_vec_dot(t.ggml_type) {
            return Err(ModelError::TensorType {
                name: name.to_string(),
                ty: t.ggml_type,
                why: "has no matrix-vector kernel",
            });
        }
        let rb = kernels::quant::row_bytes(t.ggml_type, cols as usize) as u64;
        let mut start = 0;
        Ok(rows.map(|r| {
            let w = Linear {
                name: name.to_string(),
                ty: t.ggml_type,
                rows: r as usize,
                cols: cols as usize,
                index,
                row_start: start as usize,
                offset: t.offset + start * rb,
                n_bytes: r * rb,
                repacked: None,
                packed: None,
            };
            start += r;
            w
        }))
    }

    /// The RoPE frequency factors `cfg.rope_factors` names, if the file has
    /// them ([n_rot / 2] each).
    fn rope_factors(&self, cfg: &Config) -> Result<RopeFactorWeights, ModelError> {
        let half = cfg.rope.n_dims as u64 / 2;
        let opt = |name: &str| -> Result<Option<Vec<f32>>, ModelError> {
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
                    return Err(ModelError::MissingTensor {
                        name: match long {
                            Some(_) => "rope_factors_short.weight",
                            None => "rope_factors_long.weight",
                        }
                        .to_string(),
                    })
                }
            },
        })
    }

    /// A small vector converted to f32.
    fn vector(&self, name: &str, len: u64) -> Result<Vec<f32>, ModelError> {
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
