//! The inner loops of flash attention, one table per instruction set: dot
//! products of a query head with a key row, `o += w * v` over a value row,
//! rescaling, and the exponentials of a score tile. The scalar table is the
//! reference; an ISA table gives the same results up to float summation
//! order and fused multiply-adds (its `exp` is bit-identical).

use half::f16;

use super::KvRef;
use crate::arch::Isa;
use crate::exact;

/// `dots_f16` of several query heads over the same keys: (q, k, stride, s),
/// `s[h]` from `q[h]`.
pub(super) type DotsHeads = fn(&[&[f32]], &[f16], usize, &mut [&mut [f32]]);
/// `axpys_f16` of several heads over the same values: (o, w, v, stride),
/// `o[h]` from `w[h]`.
pub(super) type AxpysHeads = fn(&mut [&mut [f32]], &[&[f32]], &[f16], usize);

/// Inner-loop kernels of one instruction set. Slices of one call have equal
/// lengths (head_dim), any alignment.
pub(super) struct AttnOps {
    pub isa: Isa,
    // q: [d], k: [d] -> q·k; on f16-representable values, the same steps as
    // `dot_f16` after its widening (so `half_dots` over `KvRef::F16AsF32` rows
    // equals `dots_f16` over the f16 rows bit for bit)
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
    // q: [d] (f16-representable), k: [d] f16 -> q·k (the backends call the
    // row loops `dots_f16` / `axpys_f16`; these one-row forms define them)
    #[cfg_attr(not(test), allow(dead_code))]
    pub dot_f16: fn(&[f32], &[f16]) -> f32,
    // o: [d] += w * v: [d]
    pub axpy_f32: fn(&mut [f32], f32, &[f32]),
    // o: [d] += w * v: [d] f16
    #[cfg_attr(not(test), allow(dead_code))]
    pub axpy_f16: fn(&mut [f32], f32, &[f16]),
    // q: [d] (f16-representable), k: key j at k[j * stride..][..d] f16 -> s[j] = q·k_j;
    // each s[j] equals `dot_f16(q, k_j)` bit for bit
    pub dots_f16: fn(&[f32], &[f16], usize, &mut [f32]),
    // o: [d] += sum_j w[j] * v_j, v_j = v[j * stride..][..d] f16; equals `axpy_f16`
    // once per j in ascending order, bit for bit
    pub axpys_f16: fn(&mut [f32], &[f32], &[f16], usize),
    // `axpys_f16` on f16 values held as f32: equals it bit for bit
    pub axpys_f16w: fn(&mut [f32], &[f32], &[f32], usize),
    // query heads of one KV head: `dots_f16` for each (s[h] from q[h]) bit
    // for bit, each key widened once per group; `None`: one call per head
    pub dots_heads: Option<DotsHeads>,
    // `axpys_f16` for several heads' outputs and weights (o[h] from w[h])
    // over the same values, bit for bit, each value widened once per group
    pub axpys_heads: Option<AxpysHeads>,
    // x: [n] <- f32(f16(x)), round to nearest even (as `half::f16::from_f32`)
    pub round_f16: fn(&mut [f32]),
    // o: [d] *= s
    pub scale: fn(&mut [f32], f32),
    // s: [n] <- exp(s - m) (s <= m, -inf allowed) -> sum of the new s
    pub exp_sum: fn(&mut [f32], f32) -> f32,
    // x: [n] <- softmax of x, `exact::softmax_padded` bit for bit (the
    // standard backend's; llama.cpp's order)
    pub softmax: fn(&mut [f32]),
}

impl AttnOps {
    /// `s[j] = q·k_j` for the keys of an f16 cache (`F16`, or `F16AsF32`:
    /// `dot_f32` per key; an `F32` cache's rows go the `F16AsF32` way), `q`
    /// rounded to f16 by the caller: key j at `k[from + j * stride..][..q.len()]`.
    pub(super) fn half_dots(&self, q: &[f32], k: KvRef, from: usize, stride: usize, s: &mut [f32]) {
        match k {
            KvRef::F16(k) => (self.dots_f16)(q, &k[from..], stride, s),
            KvRef::F32(k) | KvRef::F16AsF32(k) => {
                for (j, s) in s.iter_mut().enumerate() {
                    *s = (self.dot_f32)(q, &k[from + j * stride..][..q.len()]);
                }
            }
        }
    }

    /// `o += sum_j w[j] * v_j` for the values of an f16 cache (as
    /// `half_dots`), `w` rounded to f16 by the caller: value row j at
    /// `v[from + j * stride..][..o.len()]`.
    pub(super) fn half_axpys(
        &self,
        o: &mut [f32],
        w: &[f32],
        v: KvRef,
        from: usize,
        stride: usize,
    ) {
        match v {
            KvRef::F16(v) => (self.axpys_f16)(o, w, &v[from..], stride),
            KvRef::F32(v) | KvRef::F16AsF32(v) => (self.axpys_f16w)(o, w, &v[from..], stride),
        }
    }

    /// `half_dots` of several query heads over the same keys (`s[h]` from
    /// `q[h]`), the same bits as one call per head.
    pub(super) fn half_dots_heads(
        &self,
        q: &[&[f32]],
        k: KvRef,
        from: usize,
        stride: usize,
        s: &mut [&mut [f32]],
    ) {
        match (k, self.dots_heads) {
            (KvRef::F16(k), Some(f)) => f(q, &k[from..], stride, s),
            _ => {
                for (q, s) in q.iter().zip(s.iter_mut()) {
                    self.half_dots(q, k, from, stride, s);
                }
            }
        }
    }

    /// `half_axpys` of several heads over the same values (`o[h]` from
    /// `w[h]`), the same bits as one call per head.
    pub(super) fn half_axpys_heads(
        &self,
        o: &mut [&mut [f32]],
        w: &[&[f32]],
        v: KvRef,
        from: usize,
        stride: usize,
    ) {
        match (v, self.axpys_heads) {
            (KvRef::F16(v), Some(f)) => f(o, w, &v[from..], stride),
            _ => {
                for (o, w) in o.iter_mut().zip(w) {
                    self.half_axpys(o, w, v, from, stride);
                }
            }
        }
    }
}

pub(super) static SCALAR: AttnOps = AttnOps {
    isa: Isa::Scalar,
    dot_f32,
    dot_f16,
    axpy_f32,
    axpy_f16,
    dots_f16,
    axpys_f16,
    axpys_f16w,
    dots_heads: None,
    axpys_heads: None,
    round_f16,
    scale,
    exp_sum,
    softmax: exact::softmax_padded,
};

/// The table for `isa`: its SIMD loops if they exist and this CPU runs
/// them, else the scalar reference.
pub(super) fn ops_for(isa: Isa) -> &'static AttnOps {
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 => super::x86_avx512::table(isa).unwrap_or(&SCALAR),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => &super::wasm_simd128::SIMD128,
        _ => &SCALAR,
    }
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn dot_f16(a: &[f32], b: &[f16]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y.to_f32()).sum()
}

fn axpy_f32(o: &mut [f32], w: f32, x: &[f32]) {
    for (oi, xi) in o.iter_mut().zip(x) {
        *oi += w * xi;
    }
}

fn axpy_f16(o: &mut [f32], w: f32, x: &[f16]) {
    for (oi, xi) in o.iter_mut().zip(x) {
        *oi += w * xi.to_f32();
    }
}

/// The part of `v` that `n` rows of `d` elements, `stride` apart, occupy
/// (`v[..(n - 1) * stride + d]`, bounds-checked once), or `None` for no rows.
/// (Used by the tables with row loops: x86 and wasm simd128.)
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
pub(super) fn rows_of<T>(v: &[T], n: usize, stride: usize, d: usize) -> Option<&[T]> {
    let last = n.checked_sub(1)?;
    Some(&v[..last * stride + d])
}

fn dots_f16(q: &[f32], k: &[f16], stride: usize, s: &mut [f32]) {
    for (j, s) in s.iter_mut().enumerate() {
        *s = dot_f16(q, &k[j * stride..][..q.len()]);
    }
}

fn axpys_f16(o: &mut [f32], w: &[f32], v: &[f16], stride: usize) {
    let d = o.len();
    for (j, &w) in w.iter().enumerate() {
        axpy_f16(o, w, &v[j * stride..][..d]);
    }
}

fn axpys_f16w(o: &mut [f32], w: &[f32], v: &[f32], stride: usize) {
    let d = o.len();
    for (j, &w) in w.iter().enumerate() {
        axpy_f32(o, w, &v[j * stride..][..d]);
    }
}

fn round_f16(x: &mut [f32]) {
    for x in x.iter_mut() {
        *x = f16::from_f32(*x).to_f32();
    }
}

fn scale(o: &mut [f32], s: f32) {
    for oi in o.iter_mut() {
        *oi *= s;
    }
}

fn exp_sum(s: &mut [f32], m: f32) -> f32 {
    let mut sum = 0.0;
    for x in s.iter_mut() {
        *x = exp(*x - m);
        sum += *x;
    }
    sum
}

// Constants of `exp` (ggml's vector expf: ARM optimized-routines polynomial).
pub(super) const EXP_SHIFT: u32 = 0x4b40_0000; // 0x1.8p23
pub(super) const LOG2E: u32 = 0x3fb8_aa3b;
pub(super) const LN2_HI: u32 = 0x3f31_7200; // 0x1.62e4p-1
pub(super) const LN2_LO: u32 = 0x35bf_be8e; // 0x1.7f7d1cp-20
pub(super) const EXP_C: [u32; 5] = [
    0x3f7f_fff6, // c1 0x1.ffffecp-1
    0x3eff_fedb, // c2 0x1.fffdb6p-2
    0x3e2a_af33, // c3 0x1.555e66p-3
    0x3d2b_9f17, // c4 0x1.573e2ep-5
    0x3c07_2010, // c5 0x1.0e4020p-7
];

/// `exp(x)` for the softmax: x = n ln2 + b with |b| <= ln2 / 2, a degree-5
/// polynomial in b (about 1.5 ulp), scaled by 2^n through the exponent bits.
/// Results below 2^-126 flush to 0 (so `exp(-inf) = 0`), above 2^127 are
/// infinite. The SIMD versions compute exactly these operations.
pub(super) fn exp(x: f32) -> f32 {
    let r = f32::from_bits(EXP_SHIFT);
    let n = x.mul_add(f32::from_bits(LOG2E), r) - r;
    if n < -126.0 {
        return 0.0;
    }
    if n > 127.0 {
        return f32::INFINITY;
    }
    let b = (-n).mul_add(
        f32::from_bits(LN2_LO),
        (-n).mul_add(f32::from_bits(LN2_HI), x),
    );
    let u = b * b;
    let c = EXP_C.map(f32::from_bits);
    let j = c[4]
        .mul_add(b, c[3])
        .mul_add(u, c[2].mul_add(b, c[1]))
        .mul_add(u, c[0].mul_add(b, 1.0));
    // n is an integer in [-126, 127] here (NaN falls through to j = NaN)
    j * f32::from_bits((((n as i32) + 127) as u32) << 23)
}
