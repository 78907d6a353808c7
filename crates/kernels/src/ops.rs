//! Model-level operations: quantized matvec / matmul, RMS norm, RoPE, softmax,
//! activations, embedding lookup (scalar, safe code).
//!
//! Numerics follow ggml's CPU backend so that logits match llama.cpp: sums of
//! squares in f64, RoPE angles built by repeated multiplication in f32, GELU
//! through an f16 lookup table, softmax sums in f64.

use std::ops::Range;
use std::sync::OnceLock;

use half::f16;

use crate::arch::Kernels;
use crate::blocks::{BlockQ8_0, BlockQ8_1, QK};
use crate::error::KernelError;
use crate::packed::PackedView;
use crate::quant;
use crate::GgmlType;

/// A quantized (or float) weight matrix borrowed from the model file.
///
/// `data` holds `rows` rows of `cols` elements each, row-major, each row
/// `row_bytes(ty, cols)` bytes (ggml order: a row is one output feature).
/// `packed`, if set, holds the same rows (its whole groups) in a repacked
/// layout for decode (`crate::packed`); `matvec` uses it when the kernel
/// table is the one it was packed for.
#[derive(Clone, Copy, Debug)]
pub struct QMatrix<'a> {
    pub ty: GgmlType,
    pub rows: usize,
    pub cols: usize,
    pub data: &'a [u8],
    pub packed: Option<PackedView<'a>>,
}

impl<'a> QMatrix<'a> {
    /// A matrix in the file's layout only.
    pub fn new(ty: GgmlType, rows: usize, cols: usize, data: &'a [u8]) -> QMatrix<'a> {
        QMatrix {
            ty,
            rows,
            cols,
            data,
            packed: None,
        }
    }

    /// Bytes of one row.
    pub fn row_bytes(&self) -> usize {
        quant::row_bytes(self.ty, self.cols)
    }

    /// The type activations must be quantized to before `matvec`.
    pub fn act_type(&self) -> GgmlType {
        quant::vec_dot_type(self.ty)
    }

    /// Bytes of one activation row of `cols` elements in `act_type()`.
    pub fn act_row_bytes(&self) -> usize {
        quant::row_bytes(self.act_type(), self.cols)
    }

    /// Row `r` as bytes.
    pub fn row(&self, r: usize) -> &'a [u8] {
        let rb = self.row_bytes();
        &self.data[r * rb..(r + 1) * rb]
    }
}

/// Quantize `n` activation rows for a weight of type `w_ty`.
///
/// x: [n, cols] f32 -> out: [n, act_row_bytes] in `vec_dot_type(w_ty)`.
pub fn quantize_acts(
    k: &Kernels,
    w_ty: GgmlType,
    cols: usize,
    x: &[f32],
    out: &mut [u8],
) -> Result<(), KernelError> {
    let act_ty = quant::vec_dot_type(w_ty);
    let rb = quant::row_bytes(act_ty, cols);
    let n = x.len() / cols;
    debug_assert_eq!(x.len(), n * cols);
    for (xr, or) in x.chunks_exact(cols).zip(out[..n * rb].chunks_exact_mut(rb)) {
        match act_ty {
            GgmlType::Q8_0 | GgmlType::Q8_1 if cols / QK * QK == cols => {
                quantize_act_q8(act_ty, xr, or)
            }
            _ => (k.quantize_row)(act_ty, xr, or)?,
        }
    }
    Ok(())
}

/// Q8_0 / Q8_1 activation quantization exactly as llama.cpp's x86 CPU path
/// (`quantize_row_q8_0/1` with AVX): `d = amax / 127`, multiplier
/// `127 / amax` (not `1 / d`), rounding half to even; Q8_1 adds
/// `s = d * sum(q)`. The weight quantizer in `quant` follows ggml's `_ref`
/// formula instead, which differs in the last bit often enough to move
/// logits by ~1e-2.
///
/// x: [n] f32 -> out: [n / 32] blocks of `ty`
fn quantize_act_q8(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    // the same values with SIMD where the CPU has it
    #[cfg(target_arch = "x86_64")]
    if crate::arch::act_q8::quantize(ty, x, out) {
        return;
    }
    quantize_act_q8_scalar(ty, x, out)
}

/// `quantize_act_q8` one value at a time.
///
/// x: [n] f32 -> out: [n / 32] blocks of `ty`
fn quantize_act_q8_scalar(ty: GgmlType, x: &[f32], out: &mut [u8]) {
    const _: () =
        assert!(std::mem::size_of::<BlockQ8_0>() == 34 && std::mem::size_of::<BlockQ8_1>() == 36);
    let bs = ty.type_size();
    for (xb, ob) in x.chunks_exact(QK).zip(out.chunks_exact_mut(bs)) {
        let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if amax != 0.0 { 127.0 / amax } else { 0.0 };
        let mut sum = 0i32;
        let qs_off = if ty == GgmlType::Q8_1 { 4 } else { 2 };
        for (q, v) in ob[qs_off..qs_off + QK].iter_mut().zip(xb) {
            let r = round_ties_even_small(v * id) as i32;
            sum += r;
            *q = r as i8 as u8;
        }
        ob[0..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
        if ty == GgmlType::Q8_1 {
            ob[2..4].copy_from_slice(&f16::from_f32(d * sum as f32).to_le_bytes());
        }
    }
}

/// `x.round_ties_even()` for |x| < 2^22 (here |x| <= 127), without the libm
/// `rintf` call that `round_ties_even` becomes on baseline x86-64 (no
/// SSE4.1 `roundss`): adding 1.5 · 2^23 lands in [2^23, 2^24), where the
/// spacing of f32 is 1, so the addition itself rounds x to an integer, ties
/// to even; the subtraction is exact. Only the sign of a zero result can
/// differ (+0 for -0), which the integer cast removes.
#[inline]
fn round_ties_even_small(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (x + MAGIC) - MAGIC
}

/// y[r] = w[r] · x for one token.
///
/// w: [rows, cols] row-major, x_q: [cols] quantized to `w.act_type()` -> y: [rows]
pub fn matvec(k: &Kernels, w: QMatrix, x_q: &[u8], y: &mut [f32]) {
    matvec_rows(k, w, x_q, 0..w.rows, &mut y[..w.rows]);
}

/// The rows `rows` of `matvec` (for splitting one product across threads).
///
/// w: [rows, cols] row-major, x_q: [cols] quantized -> y: [rows.len()]
pub fn matvec_rows(k: &Kernels, w: QMatrix, x_q: &[u8], rows: Range<usize>, y: &mut [f32]) {
    let xb = w.act_row_bytes();
    let x_q = &x_q[..xb];
    let mut rows = rows;
    let mut y = y;
    if let Some(p) = w.packed {
        if k.packing(w.ty).is_some_and(|q| std::ptr::eq(q, p.packing)) {
            let done = p.matvec_rows(w.cols, x_q, rows.clone(), y);
            rows.start += done;
            y = &mut y[done..];
        }
    }
    if let Some(f) = k.rows(w.ty) {
        let rb = w.row_bytes();
        f(w.cols, &w.data[rows.start * rb..rows.end * rb], x_q, y);
        return;
    }
    let dot = row_dot(k, w.ty);
    for (yi, r) in y.iter_mut().zip(rows) {
        *yi = dot(w.cols, w.row(r), x_q);
    }
}

/// The table's row dot for weights of type `ty`, resolved once per matrix.
/// Panics (as `quant::vec_dot`) if `ty` has none: weights are checked with
/// `quant::has_vec_dot` at load time.
fn row_dot(k: &Kernels, ty: GgmlType) -> crate::arch::RowDotFn {
    k.dot(ty)
        .unwrap_or_else(|| panic!("matvec: no kernel for {ty} weights (check quant::has_vec_dot)"))
}

/// Y = X · Wᵀ for a batch of `n` tokens (prefill), through the table's tile
/// kernels (`Kernels::gemm_batch`): every output equals `matvec`'s bit for
/// bit, except for k-quant batches of at least `quant::batched::MIN_TOKENS`
/// on x86 tables, which equal `quant::batched::dot` (llama.cpp's order).
///
/// w: [rows, cols], x_q: [n, act_row_bytes] quantized -> y: [n, rows] row-major.
pub fn matmul(k: &Kernels, w: QMatrix, x_q: &[u8], n: usize, y: &mut [f32]) {
    matmul_rows(k, w, x_q, n, 0..w.rows, y);
}

/// The weight rows `rows` of `matmul`, written into the full `y: [n, w.rows]`.
pub fn matmul_rows(
    k: &Kernels,
    w: QMatrix,
    x_q: &[u8],
    n: usize,
    rows: Range<usize>,
    y: &mut [f32],
) {
    let g = k.gemm_batch(w.ty, n).unwrap_or_else(|| {
        panic!(
            "matmul: no kernel for {} weights (check quant::has_vec_dot)",
            w.ty
        )
    });
    let y = &mut y[..n * w.rows];
    crate::gemm::matmul_chunks(&g, w, x_q, n, rows, |t, r, v| {
        y[t * w.rows + r..][..v.len()].copy_from_slice(v)
    });
}

/// Dequantize row `row` of an embedding table into `out`.
///
/// table: [n_rows, out.len()] of type `ty` -> out: [out.len()]
pub fn get_rows(
    ty: GgmlType,
    table: &[u8],
    row: usize,
    out: &mut [f32],
) -> Result<(), KernelError> {
    let rb = quant::row_bytes(ty, out.len());
    let src = table
        .get(row * rb..(row + 1) * rb)
        .ok_or(KernelError::Length {
            what: "src",
            ty,
            n: out.len(),
            expected: (row + 1) * rb,
            got: table.len(),
        })?;
    quant::dequantize_row(ty, src, out)
}

/// RMS norm of each row of `x` in place, times `w` (ggml: f64 sum of f32 squares).
///
/// x: [n, w.len()], w: [w.len()]
pub fn rmsnorm(x: &mut [f32], w: &[f32], eps: f32) {
    for row in x.chunks_exact_mut(w.len()) {
        let scale = rms_scale(row, eps);
        for (xi, wi) in row.iter_mut().zip(w) {
            *xi = *xi * scale * wi;
        }
    }
}

/// y = rmsnorm(x) * w, row by row. x, y: [n, w.len()]
pub fn rmsnorm_into(x: &[f32], w: &[f32], eps: f32, y: &mut [f32]) {
    for (xr, yr) in x.chunks_exact(w.len()).zip(y.chunks_exact_mut(w.len())) {
        let scale = rms_scale(xr, eps);
        for ((yi, xi), wi) in yr.iter_mut().zip(xr).zip(w) {
            *yi = xi * scale * wi;
        }
    }
}

fn rms_scale(x: &[f32], eps: f32) -> f32 {
    let sum: f64 = x.iter().map(|&v| (v * v) as f64).sum();
    let mean = (sum / x.len() as f64) as f32;
    1.0 / (mean + eps).sqrt()
}

/// How RoPE pairs dimensions within a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RopeMode {
    /// Adjacent pairs (2i, 2i+1): llama.
    Normal,
    /// Halves (i, i + n_dims/2): GPT-NeoX, Gemma.
    Neox,
}

/// Rotary embedding parameters for one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RopeParams {
    pub mode: RopeMode,
    /// Rotated dimensions per head (even, <= head_dim).
    pub n_dims: usize,
    pub base: f32,
    /// 1 / linear scaling factor.
    pub freq_scale: f32,
    /// Magnitude scale applied to cos/sin (1 unless the file sets
    /// `rope.scaling.attn_factor`, as LongRoPE files do).
    pub attn_factor: f32,
}

/// Fill `cache: [n_dims]` with interleaved (cos, sin) for position `pos`.
///
/// freq_factors: optional [n_dims / 2] divisors of each pair's angle (llama 3's
/// `rope_freqs`, LongRoPE's long or short factors).
pub fn rope_cache(p: &RopeParams, pos: usize, freq_factors: Option<&[f32]>, cache: &mut [f32]) {
    let theta_scale = p.base.powf(-2.0 / p.n_dims as f32);
    let mut theta = pos as f32;
    for (i, cs) in cache[..p.n_dims].chunks_exact_mut(2).enumerate() {
        let ff = freq_factors.map_or(1.0, |f| f[i]);
        let t = p.freq_scale * (theta / ff);
        cs[0] = t.cos() * p.attn_factor;
        cs[1] = t.sin() * p.attn_factor;
        theta *= theta_scale;
    }
}

/// Rotate every head of one token in place with a cache from `rope_cache`.
///
/// x: [n_heads, head_dim]; the first `n_dims` dims of each head are rotated.
/// On x86-64 with FMA an AVX2+FMA build runs (same results).
pub fn rope_apply(mode: RopeMode, n_dims: usize, cache: &[f32], head_dim: usize, x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::exact::fma_available() {
        // SAFETY: AVX2 and FMA were detected on this CPU just above.
        return unsafe { rope_apply_fma(mode, n_dims, cache, head_dim, x) };
    }
    rope_apply_impl(mode, n_dims, cache, head_dim, x)
}

/// `rope_apply_impl` compiled for AVX2+FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn rope_apply_fma(
    mode: RopeMode,
    n_dims: usize,
    cache: &[f32],
    head_dim: usize,
    x: &mut [f32],
) {
    rope_apply_impl(mode, n_dims, cache, head_dim, x)
}

/// The body of `rope_apply`. x: [n_heads, head_dim]
#[inline(always)]
fn rope_apply_impl(mode: RopeMode, n_dims: usize, cache: &[f32], head_dim: usize, x: &mut [f32]) {
    for head in x.chunks_exact_mut(head_dim) {
        for i in 0..n_dims / 2 {
            let (a, b) = match mode {
                RopeMode::Normal => (2 * i, 2 * i + 1),
                RopeMode::Neox => (i, i + n_dims / 2),
            };
            let (c, s) = (cache[2 * i], cache[2 * i + 1]);
            let (x0, x1) = (head[a], head[b]);
            // ggml's rotate_pairs as GCC contracts it (-ffp-contract=fast):
            // one FMA per output, bit-identical to llama.cpp's x86 build
            head[a] = x0.mul_add(c, -(x1 * s));
            head[b] = x0.mul_add(s, x1 * c);
        }
    }
}

/// Softmax in place, as ggml's CPU backend computes it (x86-64 build with
/// AVX-512): exponentials by the vector `expf` approximation in groups of 16
/// (plain `expf` for a tail), each group summed in f32 as a lane tree and the
/// group sums accumulated in f64.
pub fn softmax(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    let mut groups = x.chunks_exact_mut(16);
    for g in &mut groups {
        let mut lanes = [0f32; 16];
        for (l, v) in lanes.iter_mut().zip(g.iter_mut()) {
            *v = expf_vec(*v - max);
            *l = *v;
        }
        sum += reduce16(&lanes) as f64;
    }
    for v in groups.into_remainder() {
        *v = (*v - max).exp();
        sum += *v as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

/// Sum of 16 lanes in the order of a 512-bit horizontal add: halves, then
/// quarters, then pairs.
fn reduce16(a: &[f32; 16]) -> f32 {
    let mut s8 = [0f32; 8];
    for i in 0..8 {
        s8[i] = a[i] + a[i + 8];
    }
    let s4 = [s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]];
    let s2 = [s4[0] + s4[2], s4[1] + s4[3]];
    s2[0] + s2[1]
}

/// `exp(x)` by ggml's vector approximation (ARM optimized-routines
/// polynomial, AVX-512 variant: result scaled by 2^n in one rounding).
/// Max error about 1.5 ulp; used so attention weights and SiLU match
/// llama.cpp bit for bit.
#[inline(always)]
pub fn expf_vec(x: f32) -> f32 {
    let r = f32::from_bits(0x4b40_0000); // 0x1.8p23
    let z = x.mul_add(f32::from_bits(0x3fb8_aa3b), r); // log2(e)
    let n = z - r;
    let b = (-n).mul_add(
        f32::from_bits(0x35bf_be8e), // ln2 low part 0x1.7f7d1cp-20
        (-n).mul_add(f32::from_bits(0x3f31_7200), x), // ln2 high part 0x1.62e4p-1
    );
    let u = b * b;
    let c5 = f32::from_bits(0x3c07_2010); // 0x1.0e4020p-7
    let c4 = f32::from_bits(0x3d2b_9f17); // 0x1.573e2ep-5
    let c3 = f32::from_bits(0x3e2a_af33); // 0x1.555e66p-3
    let c2 = f32::from_bits(0x3eff_fedb); // 0x1.fffdb6p-2
    let c1 = f32::from_bits(0x3f7f_fff6); // 0x1.ffffecp-1
    let j = c5
        .mul_add(b, c4)
        .mul_add(u, c3.mul_add(b, c2))
        .mul_add(u, c1.mul_add(b, 1.0));
    if n.abs() > 192.0 {
        return if n <= 0.0 { 0.0 } else { f32::INFINITY };
    }
    // 2^n exactly (n is an integer in -192..=192): the f64 with that exponent
    let two_n = f64::from_bits(((n as i64 + 1023) as u64) << 52);
    (j as f64 * two_n) as f32
}
/// SiLU: x * sigmoid(x).
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + (-x).exp())
}

/// g[i] = silu(g[i]) * u[i] (SwiGLU, llama), as ggml: groups of 16 use the
/// vector `expf`, a tail the plain one. g, u: [n]
///
/// On x86-64 with FMA a copy compiled for AVX2+FMA runs (each `mul_add`
/// one `vfmadd` instead of a libm call; same results).
pub fn swiglu(g: &mut [f32], u: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if crate::exact::fma_available() {
        // SAFETY: AVX2 and FMA were detected on this CPU just above.
        return unsafe { swiglu_fma(g, u) };
    }
    swiglu_impl(g, u)
}

/// `swiglu_impl` compiled for AVX2+FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn swiglu_fma(g: &mut [f32], u: &[f32]) {
    swiglu_impl(g, u)
}

/// The body of `swiglu`. g, u: [n]
#[inline(always)]
fn swiglu_impl(g: &mut [f32], u: &[f32]) {
    let full = g.len() / 16 * 16;
    for (gi, ui) in g[..full].iter_mut().zip(u) {
        *gi = *gi / (1.0 + expf_vec(-*gi)) * ui;
    }
    for (gi, ui) in g[full..].iter_mut().zip(&u[full..]) {
        *gi = silu(*gi) * ui;
    }
}

const GELU_COEF_A: f32 = 0.044715;
const SQRT_2_OVER_PI: f32 = 0.797_884_6;

/// GELU, tanh approximation, computed directly in f32 as ggml's
/// `ggml_gelu_f32` compiles on x86 (GCC contracts `1 + a*x*x` into one FMA),
/// so the f16 table equals llama.cpp's entry for entry.
#[inline]
pub fn gelu_tanh_exact(x: f32) -> f32 {
    let inner = (GELU_COEF_A * x).mul_add(x, 1.0);
    0.5 * x * (1.0 + (SQRT_2_OVER_PI * x * inner).tanh())
}

fn gelu_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| {
        (0..=u16::MAX)
            .map(|b| {
                let x = f16::from_bits(b).to_f32();
                f16::from_f32(gelu_tanh_exact(x)).to_f32()
            })
            .collect()
    })
}

/// GELU (tanh approximation) as ggml's CPU backend computes it: the input is
/// rounded to f16 and looked up in a table of f16 results; |x| >= 10 is exact.
#[inline]
pub fn gelu_tanh(x: f32) -> f32 {
    if x <= -10.0 {
        0.0
    } else if x >= 10.0 {
        x
    } else {
        gelu_tanh_lut(gelu_table(), x)
    }
}

#[inline]
fn gelu_tanh_lut(table: &[f32], x: f32) -> f32 {
    table[f16::from_f32(x).to_bits() as usize]
}

/// g[i] = gelu_tanh(g[i]) * u[i] (GeGLU, Gemma). g, u: [n]
pub fn geglu(g: &mut [f32], u: &[f32]) {
    let table = gelu_table();
    for (gi, ui) in g.iter_mut().zip(u) {
        let x = *gi;
        *gi = if x <= -10.0 {
            0.0
        } else if x >= 10.0 {
            x * ui
        } else {
            gelu_tanh_lut(table, x) * ui
        };
    }
}

/// x *= s
pub fn scale(x: &mut [f32], s: f32) {
    for v in x {
        *v *= s;
    }
}

/// x += y
pub fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn magic_rounding_equals_round_ties_even() {
        // every half-integer tie and its neighbours in [-130, 130], then a
        // dense sweep of the quantizer's range
        for i in -260..=260 {
            let h = i as f32 * 0.5;
            for x in [h, h.next_up(), h.next_down()] {
                assert_eq!(
                    round_ties_even_small(x) as i32,
                    x.round_ties_even() as i32,
                    "{x}"
                );
            }
        }
        let mut x = -128.0f32;
        while x <= 128.0 {
            assert_eq!(
                round_ties_even_small(x) as i32,
                x.round_ties_even() as i32,
                "{x}"
            );
            x += 0.000_977;
        }
    }

    #[test]
    fn rmsnorm_unit_rows() {
        let mut x = vec![3.0, 4.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0];
        let w = [1.0, 2.0, 1.0, 1.0];
        rmsnorm(&mut x, &w, 0.0);
        // row 0: rms = sqrt(25/4) = 2.5
        assert!((x[0] - 1.2).abs() < 1e-6 && (x[1] - 3.2).abs() < 1e-6);
        assert_eq!(&x[4..], &[1.0, 2.0, 1.0, 1.0]);
        let mut y = vec![0.0; 4];
        rmsnorm_into(&[3.0, 4.0, 0.0, 0.0], &w, 0.0, &mut y);
        assert_eq!(&y[..], &x[..4]);
    }

    #[test]
    fn rope_pos0_is_identity_and_preserves_norm() {
        let p = RopeParams {
            mode: RopeMode::Neox,
            n_dims: 8,
            base: 10000.0,
            freq_scale: 1.0,
            attn_factor: 1.0,
        };
        let x0: Vec<f32> = (0..16).map(|i| i as f32 * 0.1 - 0.7).collect();
        let mut cache = vec![0.0; 8];
        rope_cache(&p, 0, None, &mut cache);
        let mut x = x0.clone();
        rope_apply(p.mode, 8, &cache, 8, &mut x);
        assert_eq!(x, x0);
        for mode in [RopeMode::Normal, RopeMode::Neox] {
            rope_cache(&p, 37, None, &mut cache);
            let mut x = x0.clone();
            rope_apply(mode, 8, &cache, 8, &mut x);
            let n0: f32 = x0.iter().map(|v| v * v).sum();
            let n1: f32 = x.iter().map(|v| v * v).sum();
            assert!((n0 - n1).abs() < 1e-4, "{mode:?} {n0} {n1}");
            assert_ne!(x, x0);
        }
    }

    #[test]
    fn rope_normal_pair_angle() {
        // pair 0 rotates by pos * base^0 = pos radians; pair 1 by pos * base^(-2/4).
        let p = RopeParams {
            mode: RopeMode::Normal,
            n_dims: 4,
            base: 100.0,
            freq_scale: 0.5,
            attn_factor: 1.0,
        };
        let mut cache = vec![0.0; 4];
        rope_cache(&p, 3, Some(&[1.0, 2.0]), &mut cache);
        let mut x = vec![1.0, 0.0, 1.0, 0.0];
        rope_apply(p.mode, 4, &cache, 4, &mut x);
        let a0 = 3.0f32 * 0.5;
        let a1 = 3.0f32 * 0.1 / 2.0 * 0.5;
        assert!((x[0] - a0.cos()).abs() < 1e-6 && (x[1] - a0.sin()).abs() < 1e-6);
        assert!((x[2] - a1.cos()).abs() < 1e-6 && (x[3] - a1.sin()).abs() < 1e-6);
    }

    #[test]
    fn rope_factors_divide_angles_and_attn_factor_scales() {
        // ggml_rope_cache_init's order: theta_i = pos * theta_scale^i by
        // repeated products, cos/sin(freq_scale * (theta_i / factor_i)) * attn_factor
        let p = RopeParams {
            mode: RopeMode::Neox,
            n_dims: 8,
            base: 500000.0,
            freq_scale: 0.25,
            attn_factor: 1.0954,
        };
        let ff = [1.0, 3.5, 7.25, 40.0];
        let mut cache = vec![0.0; 8];
        rope_cache(&p, 1234, Some(&ff), &mut cache);
        let theta_scale = 500000f32.powf(-2.0 / 8.0);
        let mut theta = 1234f32;
        for (i, f) in ff.iter().enumerate() {
            let t = 0.25 * (theta / f);
            assert_eq!(
                cache[2 * i].to_bits(),
                (t.cos() * 1.0954).to_bits(),
                "cos {i}"
            );
            assert_eq!(
                cache[2 * i + 1].to_bits(),
                (t.sin() * 1.0954).to_bits(),
                "sin {i}"
            );
            theta *= theta_scale;
        }
        // every pair's norm grows by attn_factor
        let x0 = pseudo(16, 43);
        let mut x = x0.clone();
        rope_apply(p.mode, 8, &cache, 8, &mut x);
        for i in 0..4 {
            let n = |v: &[f32], h: usize| (v[h + i].powi(2) + v[h + i + 4].powi(2)).sqrt();
            for h in [0, 8] {
                assert!((n(&x, h) - 1.0954 * n(&x0, h)).abs() < 1e-5, "pair {i}");
            }
        }
    }

    #[test]
    fn rope_fma_build_equals_the_portable_one() {
        let cache = pseudo(64, 41);
        let x = pseudo(4 * 64, 42);
        for mode in [RopeMode::Normal, RopeMode::Neox] {
            let (mut a, mut b) = (x.clone(), x.clone());
            rope_apply(mode, 64, &cache, 64, &mut a);
            rope_apply_impl(mode, 64, &cache, 64, &mut b);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b));
        }
    }

    #[test]
    fn swiglu_fma_build_equals_the_portable_one() {
        let g0: Vec<f32> = pseudo(1000, 31).iter().map(|v| 12.0 * v).collect();
        let u = pseudo(1000, 32);
        let (mut a, mut b) = (g0.clone(), g0.clone());
        swiglu(&mut a, &u);
        swiglu_impl(&mut b, &u);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&a), bits(&b));
    }

    #[test]
    fn expf_vec_is_close_to_exp() {
        for i in -2000..=880 {
            let x = i as f32 * 0.1;
            let (a, b) = (expf_vec(x), x.exp());
            assert!((a - b).abs() <= 3e-7 * b, "{x}: {a} vs {b}");
        }
        assert_eq!(expf_vec(0.0), 1.0);
        assert_eq!(expf_vec(f32::NEG_INFINITY), 0.0);
        assert_eq!(expf_vec(-200.0), 0.0);
        assert_eq!(expf_vec(200.0), f32::INFINITY);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut x: Vec<f32> = (0..37).map(|i| (i as f32 * 0.37).sin() * 4.0).collect();
        x[5] = f32::NEG_INFINITY;
        softmax(&mut x);
        let s: f64 = x.iter().map(|&v| v as f64).sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert_eq!(x[5], 0.0);
        let mut x = vec![1.0, 2.0, 3.0, f32::NEG_INFINITY];
        softmax(&mut x);
        let s: f32 = x.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        assert_eq!(x[3], 0.0);
        assert!(x[2] > x[1] && x[1] > x[0]);
    }

    #[test]
    fn gelu_matches_formula_to_f16_precision() {
        for i in -1200..1200 {
            let x = i as f32 * 0.01;
            let want = gelu_tanh_exact(x);
            let got = gelu_tanh(x);
            assert!(
                (got - want).abs() <= 2e-3 * want.abs().max(1.0),
                "{x} {got} {want}"
            );
        }
        assert_eq!(gelu_tanh(-11.0), 0.0);
        assert_eq!(gelu_tanh(12.5), 12.5);
        let mut g = vec![1.0, -20.0, 20.0];
        geglu(&mut g, &[2.0, 3.0, 0.5]);
        assert_eq!(g, vec![gelu_tanh(1.0) * 2.0, 0.0, 10.0]);
    }

    #[test]
    fn swiglu_values() {
        let mut g = vec![0.0, 2.0];
        swiglu(&mut g, &[5.0, 1.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 2.0 / (1.0 + (-2.0f32).exp())).abs() < 1e-7);
    }

    /// Deterministic values in [-1, 1) for tests (an LCG).
    pub(crate) fn pseudo(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1664525).wrapping_add(1013904223);
                (s >> 8) as f32 / (1 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn act_q8_round_trip_and_sum() {
        let x = pseudo(64, 7);
        for ty in [GgmlType::Q8_0, GgmlType::Q8_1] {
            let mut q = vec![0u8; quant::row_bytes(ty, 64)];
            quantize_act_q8(ty, &x, &mut q);
            let mut back = vec![0f32; 64];
            quant::dequantize_row(ty, &q, &mut back).unwrap();
            for (blk, (xb, bb)) in x.chunks(32).zip(back.chunks(32)).enumerate() {
                let amax = xb.iter().fold(0f32, |m, v| m.max(v.abs()));
                for (a, b) in xb.iter().zip(bb) {
                    assert!(
                        (a - b).abs() <= amax / 127.0 * 0.51 + 1e-3,
                        "{ty} block {blk}: {a} vs {b}"
                    );
                }
            }
            if ty == GgmlType::Q8_1 {
                let d = f16::from_le_bytes([q[0], q[1]]).to_f32();
                let s = f16::from_le_bytes([q[2], q[3]]).to_f32();
                let sum: i32 = q[4..36].iter().map(|&b| b as i8 as i32).sum();
                assert!((s - d * sum as f32).abs() <= 1e-3 * s.abs().max(1.0));
            }
        }
        // ties round to even: 0.5 * 127 / 127 ... a block whose values scale to k + 0.5
        let mut x = vec![0f32; 32];
        x[0] = 127.0;
        x[1] = 2.5;
        x[2] = -3.5;
        let mut q = vec![0u8; 34];
        quantize_act_q8(GgmlType::Q8_0, &x, &mut q);
        assert_eq!((q[2] as i8, q[3] as i8, q[4] as i8), (127, 2, -4));
    }

    #[test]
    fn act_q8_simd_path_equals_the_scalar_bytes() {
        let mut x = pseudo(32 * 64, 11);
        // scales from tiny to huge, ties, zeros, signed zeros, NaN, infinity
        for (b, blk) in x.chunks_mut(32).enumerate() {
            let scale = 2f32.powi(b as i32 % 40 - 20);
            blk.iter_mut().for_each(|v| *v *= scale);
            match b % 8 {
                1 => blk[(b * 7) % 32] = 127.0 * scale,
                2 => blk.iter_mut().for_each(|v| *v = 0.0),
                3 => blk.iter_mut().for_each(|v| *v = -0.0),
                4 => blk[b % 32] = f32::NAN,
                5 => blk[3] = f32::INFINITY,
                6 => blk.iter_mut().for_each(|v| *v = f32::NAN),
                7 => {
                    blk[0] = 127.0;
                    for (k, v) in blk.iter_mut().enumerate().skip(1) {
                        *v = k as f32 - 15.5;
                    }
                }
                _ => {}
            }
        }
        for ty in [GgmlType::Q8_0, GgmlType::Q8_1] {
            let rb = quant::row_bytes(ty, x.len());
            let (mut got, mut want) = (vec![0u8; rb], vec![1u8; rb]);
            quantize_act_q8(ty, &x, &mut got);
            quantize_act_q8_scalar(ty, &x, &mut want);
            let bs = ty.type_size();
            for (b, (g, w)) in got.chunks(bs).zip(want.chunks(bs)).enumerate() {
                assert_eq!(g, w, "{ty} block {b}: {:?}", &x[32 * b..32 * b + 32]);
            }
        }
    }

    #[test]
    fn matmul_matches_matvec_and_dequantized_reference() {
        let k = crate::arch::scalar();
        let (rows, cols, n) = (5, 256, 3);
        let wf = pseudo(rows * cols, 3);
        let x = pseudo(n * cols, 4);
        for ty in [GgmlType::F32, GgmlType::Q8_0, GgmlType::Q4_K] {
            let rb = quant::row_bytes(ty, cols);
            let mut wq = vec![0u8; rows * rb];
            for (r, o) in wf.chunks(cols).zip(wq.chunks_mut(rb)) {
                quant::quantize_row(ty, r, o).unwrap();
            }
            let w = QMatrix {
                ty,
                rows,
                cols,
                data: &wq,
                packed: None,
            };
            let mut xq = vec![0u8; n * w.act_row_bytes()];
            quantize_acts(k, ty, cols, &x, &mut xq).unwrap();
            let mut y = vec![0f32; n * rows];
            matmul(k, w, &xq, n, &mut y);
            let mut wd = vec![0f32; cols];
            let mut xd = vec![0f32; n * cols];
            let ab = w.act_row_bytes();
            for t in 0..n {
                quant::dequantize_row(
                    w.act_type(),
                    &xq[t * ab..(t + 1) * ab],
                    &mut xd[t * cols..(t + 1) * cols],
                )
                .unwrap();
            }
            for t in 0..n {
                let mut yv = vec![0f32; rows];
                matvec(k, w, &xq[t * w.act_row_bytes()..], &mut yv);
                assert_eq!(
                    &yv[..],
                    &y[t * rows..(t + 1) * rows],
                    "{ty}: matvec vs matmul"
                );
                for r in 0..rows {
                    quant::dequantize_row(ty, w.row(r), &mut wd).unwrap();
                    let want: f32 = wd.iter().zip(&xd[t * cols..]).map(|(a, b)| a * b).sum();
                    assert!(
                        (y[t * rows + r] - want).abs() < 1e-3,
                        "{ty} [{t},{r}]: {} vs {want}",
                        y[t * rows + r]
                    );
                }
            }
            let mut half = vec![0f32; 2];
            matvec_rows(k, w, &xq, 3..5, &mut half);
            assert_eq!(&half[..], &y[3..5]);
        }
    }
}
