//! The backend seam: the operations a forward pass is made of, and who owns
//! the memory they run on.
//!
//! # Design
//!
//! * **Ops.** [`Backend`] has one method per operation of a transformer
//!   block (embedding rows, RMSNorm and the per-head norm, RoPE, add/scale,
//!   the quantized projection of several matrices from one input, GLU with
//!   SiLU or GELU, KV write, attention, soft-cap, and reading results back).
//!   `forward` and `arch/` are generic over `B: Backend` and monomorphized:
//!   no dynamic dispatch per op, so the CPU backend runs the code it ran
//!   before the seam, call for call.
//! * **Activations** live in the backend's [`Backend::Acts`] (held by
//!   `Scratch<B>`); the forward code names them by register ([`Buf`]: `X`,
//!   `Xb`, `Q`, ...) and by row count, never by slice, so a GPU backend can
//!   keep them on the device. The debug tap is a [`Backend::peek`] of one
//!   register, made only while a tap is installed.
//! * **Weights** are loaded through the backend: `weights.rs` keeps the
//!   GGUF-to-layer mapping (names, shapes, layout checks) and asks
//!   [`Backend::matrix`] / [`Backend::vector`] for a handle of each tensor
//!   (of each row range of a fused one: `attn_qkv`, phi3's gate/up `ffn_up`;
//!   RoPE factors are vectors, picked per context size by `forward`),
//!   which the backend may transcode into its own layout (the CPU backend's
//!   Q5_0-to-Q8_0 repack and packed decode layouts are such transcodings,
//!   done later on request).
//! * **KV cache.** `KvCache<B>` keeps the bookkeeping (slots, lengths,
//!   sliding-window rings: [`KvPlace`], [`KvWindow`]); the storage is the
//!   backend's [`Backend::Kv`].
//! * **Encode, then read.** A step is encoded first (`Model::encode`: for
//!   the CPU backend this computes everything), then read back in two
//!   halves: [`Backend::read_begin`] asks for the logits or, for samplers
//!   that need no more, only each row's top-k ([`ReadKind`]), and
//!   [`Backend::read_wait`] (or a poll of [`Backend::read_ready`]) gets the
//!   result, so a device whose reads complete asynchronously (WebGPU's
//!   `mapAsync`) fits, and reads back one token instead of the vocabulary.
//!
//! Backends: [`cpu`] (the kernel tables, thread pool, attention kernels and
//! repacked layouts; bit-exact with llama.cpp) and [`reference`] (the scalar
//! reference kernels on one thread, with its own buffers and a read that
//! completes on another thread: the proof that the seam holds).

pub mod cpu;
mod host;
pub mod reference;

use std::fmt::Debug;
use std::ops::Range;

use gguf::{GgmlType, GgufFile};
use kernels::quant::batched::order_is_batched;
use kernels::types::RopeParams;

use crate::batch::Span;
use crate::error::ModelError;
use crate::kv_cache::CacheType;
use crate::layout::Activation;
use crate::memory::AllocFailure;
use crate::weights::{Linear, Weights};

pub use host::top_k;

/// The bytes of rows `rows` of tensor `index` of `file`, `cols` elements
/// of type `ty` each (what [`Backend::matrix`] loads).
pub fn tensor_rows(
    file: &GgufFile,
    index: usize,
    ty: GgmlType,
    rows: Range<usize>,
    cols: usize,
) -> &[u8] {
    let rb = kernels::quant::row_bytes(ty, cols);
    &file.tensor_data(&file.tensors()[index])[rows.start * rb..rows.end * rb]
}

/// An activation register of the forward pass, `[rows, width]` row-major.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Buf {
    /// Residual stream, [n_embd].
    X,
    /// Normed input of a part, [n_embd].
    Xb,
    /// Output of a part, [n_embd].
    Xb2,
    /// Queries, [n_head * head_dim].
    Q,
    /// Keys, [n_kv_head * head_dim].
    K,
    /// Values, [n_kv_head * head_dim].
    V,
    /// Attention output, [n_head * head_dim].
    Att,
    /// FFN gate, then the gated activation, [n_ff].
    Hb,
    /// FFN up projection, [n_ff].
    Hb2,
    /// Logits, [n_vocab] (one row per output).
    Logits,
}

impl Buf {
    /// Every register, in index order.
    pub const ALL: [Buf; 10] = [
        Buf::X,
        Buf::Xb,
        Buf::Xb2,
        Buf::Q,
        Buf::K,
        Buf::V,
        Buf::Att,
        Buf::Hb,
        Buf::Hb2,
        Buf::Logits,
    ];

    /// Elements of one row of this register for `d`.
    pub fn width(self, d: &Dims) -> usize {
        match self {
            Buf::X | Buf::Xb | Buf::Xb2 => d.n_embd,
            Buf::Q | Buf::Att => d.q_dim,
            Buf::K | Buf::V => d.kv_dim,
            Buf::Hb | Buf::Hb2 => d.n_ff,
            Buf::Logits => d.n_vocab,
        }
    }

    /// Rows of this register for `d`.
    pub fn rows(self, d: &Dims) -> usize {
        match self {
            Buf::Logits => d.logit_rows,
            _ => d.max_batch,
        }
    }
}

/// The sizes activations are allocated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dims {
    pub n_embd: usize,
    pub q_dim: usize,
    pub kv_dim: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub head_dim: usize,
    /// Most rows per step.
    pub max_batch: usize,
    /// Most positions attended.
    pub n_ctx: usize,
    /// Most rows with logits per step.
    pub logit_rows: usize,
}

/// Rows of a batch, in output order: a range, or the rows flagged.
#[derive(Clone, Debug)]
pub enum Rows<'a> {
    Range(Range<usize>),
    Flags(&'a [bool]),
}

impl Rows<'_> {
    /// Number of rows.
    pub fn count(&self) -> usize {
        match self {
            Rows::Range(r) => r.len(),
            Rows::Flags(f) => f.iter().filter(|&&l| l).count(),
        }
    }

    /// Calls `f(j, row)` for the j-th row.
    pub fn each(&self, mut f: impl FnMut(usize, usize)) {
        match self {
            Rows::Range(r) => r.clone().enumerate().for_each(|(j, r)| f(j, r)),
            Rows::Flags(fl) => fl
                .iter()
                .enumerate()
                .filter(|(_, &l)| l)
                .enumerate()
                .for_each(|(j, (r, _))| f(j, r)),
        }
    }
}

/// Consecutive rows of a batch whose products all take the order that a
/// lone chunk of `chunk` tokens gets (`kernels::quant::batched`): each
/// sequence's rows then equal those of the sequence run alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub start: usize,
    pub len: usize,
    pub chunk: usize,
}

/// Runs over rows given as consecutive groups of `lens` rows (a group: one
/// sequence's chunk), merging neighbours that take the same order.
pub(crate) fn fill_runs(runs: &mut Vec<Run>, lens: impl Iterator<Item = usize>) {
    runs.clear();
    let mut start = 0;
    for len in lens.filter(|&l| l > 0) {
        match runs.last_mut() {
            Some(r) if order_is_batched(r.chunk) == order_is_batched(len) => r.len += len,
            _ => runs.push(Run {
                start,
                len,
                chunk: len,
            }),
        }
        start += len;
    }
}

/// Where slot rows live in one layer of a KV store: position `p` is row
/// `base + p` (`ring: None`) or, in a ring of `R` positions, rows
/// `base + p % R` and `base + p % R + R`, so that any `R` consecutive
/// positions are consecutive rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvPlace {
    pub base: usize,
    pub ring: Option<usize>,
}

impl KvPlace {
    /// The row holding position `p` (the first copy in a ring).
    pub fn row(&self, p: usize) -> usize {
        match self.ring {
            Some(r) => self.base + p % r,
            None => self.base + p,
        }
    }
}

/// The rows of one layer of a KV store an attention call reads: `rows`
/// rows from `first` (row units), the first holding position `kv_start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvWindow {
    pub first: usize,
    pub rows: usize,
    pub kv_start: usize,
}

/// Head geometry and masking of one layer's attention.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AttnShape {
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    /// Multiplies q·k before the softmax.
    pub scale: f32,
    /// Sliding window: a query at position p sees keys p - window + 1 ..= p.
    pub window: Option<usize>,
}

/// What a step's read brings back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// Every output row's logits.
    Logits,
    /// Each output row's `k` largest logits and their ids (`top_k`'s
    /// order: largest first, the lower id first on ties; `k = 1` is the
    /// argmax).
    TopK(usize),
}

/// The result of a read.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Readout<'a> {
    /// [rows, n_vocab]
    Logits(&'a [f32]),
    /// [rows, k] ids and their logits.
    TopK {
        k: usize,
        ids: &'a [u32],
        logits: &'a [f32],
    },
}

/// Storage of a KV cache: per layer, K and V rows of `row` elements.
pub trait KvStore: Debug + Send + Sync {
    /// Copies rows `src` of layer `layer` (K and V) to rows from `dst`.
    fn copy_rows(&mut self, layer: usize, src: Range<usize>, dst: usize);
}

/// A compute backend: owns weights, activations and KV storage, and runs
/// the operations of the forward pass on them. Shapes: a register `Buf`
/// holds `[n, Buf::width]`; `n` is the rows an op covers from row 0.
pub trait Backend: Debug + Send + Sync + Sized + 'static {
    /// A weight matrix in the backend's layout.
    type Matrix: Clone + Debug + Send + Sync;
    /// A small f32 vector (norm weights, biases, RoPE factors).
    type Vector: Clone + Debug + Send + Sync;
    /// The activation registers and working memory of one forward pass.
    type Acts: Debug + Send;
    /// KV storage.
    type Kv: KvStore;

    // ---- loading ----

    /// The handle of rows `rows` of tensor `index` of `file`: a matrix
    /// `[rows.len(), cols]` of type `ty` (called once per view: a fused
    /// tensor such as `attn_qkv` gives one matrix per row range; a tied
    /// output head reuses the embedding's handle).
    fn matrix(
        &self,
        file: &GgufFile,
        index: usize,
        ty: GgmlType,
        rows: Range<usize>,
        cols: usize,
    ) -> Result<Self::Matrix, ModelError>;

    /// A vector from its f32 values.
    fn vector(&self, v: Vec<f32>) -> Self::Vector;

    /// Activations for `d` (the weights say which activation types the
    /// projections quantize to).
    fn acts(&self, d: &Dims, w: &Weights<Self>) -> Result<Self::Acts, ModelError>;

    /// KV storage of type `ty`: per layer, `layer_rows[i]` rows of `row`
    /// elements for K and the same for V, zeroed.
    fn kv(&self, ty: CacheType, row: usize, layer_rows: &[usize])
        -> Result<Self::Kv, AllocFailure>;

    // ---- the ops of a step ----

    /// X[t] = table[tokens[t]] (* scale).
    fn embed(
        &self,
        a: &mut Self::Acts,
        table: &Linear<Self::Matrix>,
        tokens: &[u32],
        scale: Option<f32>,
    ) -> Result<(), ModelError>;

    /// dst[t] = rmsnorm(src[t]) * w for `n` rows (`src == dst`: in place).
    fn rmsnorm(&self, a: &mut Self::Acts, src: Buf, dst: Buf, w: &Self::Vector, eps: f32, n: usize);

    /// dst[j] = rmsnorm(src[r]) * w for the j-th row r of `rows`.
    fn rmsnorm_rows(
        &self,
        a: &mut Self::Acts,
        src: Buf,
        dst: Buf,
        w: &Self::Vector,
        eps: f32,
        rows: &Rows,
    );

    /// RMS norm of each head of `buf` in place, times `w: [head_dim]`.
    fn head_norm(&self, a: &mut Self::Acts, buf: Buf, w: &Self::Vector, eps: f32, n: usize);

    /// RoPE of Q and K, each row at its span's position.
    fn rope(
        &self,
        a: &mut Self::Acts,
        p: &RopeParams,
        freq_factors: Option<&Self::Vector>,
        head_dim: usize,
        spans: &[Span],
    );

    /// buf[t] += b for `n` rows.
    fn add_bias(&self, a: &mut Self::Acts, buf: Buf, b: &Self::Vector, n: usize);

    /// dst += src over `n` rows.
    fn add(&self, a: &mut Self::Acts, dst: Buf, src: Buf, n: usize);

    /// buf *= s over `n` rows.
    fn scale(&self, a: &mut Self::Acts, buf: Buf, s: f32, n: usize);

    /// out = src · wᵀ for each `(w, out)`, over the rows of `runs` (each
    /// run in its own kernel order); `src` quantized once for matrices
    /// sharing an activation type.
    fn project(
        &self,
        a: &mut Self::Acts,
        src: Buf,
        outs: &[(&Linear<Self::Matrix>, Buf)],
        runs: &[Run],
    ) -> Result<(), ModelError>;

    /// Hb = act(Hb) * Hb2 over `n` rows.
    fn glu(&self, a: &mut Self::Acts, act: Activation, n: usize);

    /// Stores rows `rows` of K and V at positions `pos ..` of `place`.
    fn kv_write(
        &self,
        a: &mut Self::Acts,
        kv: &mut Self::Kv,
        layer: usize,
        place: KvPlace,
        pos: usize,
        rows: Range<usize>,
    );

    /// Att[rows] = attention of Q[rows] (positions `pos ..`) over `window`
    /// of layer `layer`.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        a: &mut Self::Acts,
        kv: &Self::Kv,
        layer: usize,
        window: KvWindow,
        shape: &AttnShape,
        pos: usize,
        rows: Range<usize>,
    ) -> Result<(), ModelError>;

    /// buf = tanh(buf / cap) * cap over `n` rows.
    fn softcap(&self, a: &mut Self::Acts, buf: Buf, cap: f32, n: usize);

    // ---- reading back ----

    /// The first `n` rows of `buf` on the host (debug taps: may block;
    /// a device that cannot read gives an empty slice).
    fn peek<'a>(&self, a: &'a mut Self::Acts, buf: Buf, n: usize) -> &'a [f32];

    /// Starts reading `what` of the first `rows` logits rows.
    fn read_begin(&self, a: &mut Self::Acts, rows: usize, what: ReadKind);

    /// Whether the read started last has completed (never blocks).
    fn read_ready(&self, a: &mut Self::Acts) -> bool;

    /// The result of the read started last, once it completes (blocks):
    /// `Err` when the device failed in this step (an op that returns
    /// nothing reports here, or at the next op that returns a `Result`).
    fn read_wait<'a>(&self, a: &'a mut Self::Acts) -> Result<Readout<'a>, ModelError>;
}
