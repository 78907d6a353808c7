//! AVX-512 VNNI tile kernels in llama.cpp's batched k-quant order
//! (`quant::batched`): Q4_K, Q5_K, Q6_K weights against Q8_K activations.
//!
//! Lanes are weight rows. A panel of 16 rows is unpacked one super-block at
//! a time into 64 vectors of four unsigned quants per row (group `g` holds
//! elements `4g..4g + 4` of each row: the packed quants are read 64 bytes
//! per row and transposed 16 x 16 in dwords), the per-row sub-block scales
//! as i32 lanes, and `d` / `dmin` as f32 lanes. Every token of the batch then
//! runs over the panel: `vpdpbusd` of a group vector with the token's four
//! activation bytes (broadcast) gives 16 rows' partial sums at once, one
//! `vpmulld` per sub-block applies the scales, and `vpdpwssd` of i16 pairs
//! with the activation's `bsums` gives the min integer (Q4_K, Q5_K) or the
//! `-32` offset (Q6_K). All of that is exact integer arithmetic, so `s1`
//! and `s2` are `quant::batched`'s; the fold is `batched::fold`'s three
//! rounded operations lane by lane (`r = s1·d`, `r = fma(−dmin, s2, r)`,
//! `y = fma(r, d_a, y)`), so each output equals `quant::batched::dot` bit
//! for bit. Decoding a super-block once per panel serves every token, which
//! is where the speed comes from.
//!
//! Soundness: `#[target_feature]` functions reached only through the
//! AVX-512 table (`Isa::Avx512.detected()`: F, BW, VL, VNNI plus AVX2, FMA,
//! F16C).

use std::arch::x86_64::*;

use crate::arch::GemmFn;
use crate::blocks::{BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
use crate::quant::{batched, row_bytes};
use bytemuck::Pod;
use gguf::GgmlType;

/// Rows per panel (one per 32-bit lane).
const ROWS: usize = 16;
/// Tokens run together over a panel (independent `vpdpbusd` chains).
const TOKS: usize = 8;

/// The tile kernel of the batched order for weights of type `w`, if any.
pub(super) fn lookup(w: GgmlType) -> Option<GemmFn> {
    use GgmlType::*;
    Some(match w {
        Q4_K => gemm_q4_k,
        Q5_K => gemm_q5_k,
        Q6_K => gemm_q6_k,
        _ => return None,
    })
}

/// One super-block of a 16-row panel, lanes = rows.
struct Panel {
    /// Four unsigned quants of elements `4g..4g + 4` per row.
    w: [__m512i; 64],
    /// Per-row scale of each sub-block (Q4_K / Q5_K: 8 of 32, Q6_K: 16 of 16).
    sc: [__m512i; 16],
    /// i16 pairs against the `bsums` dwords (`bsums[2p], bsums[2p + 1]`):
    /// Q4_K / Q5_K `(m_p, m_p)` (min integer), Q6_K `(sc_2p, sc_2p+1)`
    /// (the `-32` offset).
    pairs: [__m512i; 8],
    d: __m512,
    dmin: __m512,
}

/// A weight type's panel builder and its sub-block shape.
trait PanelType: Pod {
    /// Elements per sub-block (32 or 16).
    const SUB: usize;
    /// Whether `pairs` hold mins (else the `-32` offset, Q6_K).
    const MINS: bool;
    /// Fills `p` with the panel of super-block `b` of `rows` (at most 16),
    /// in place (a panel is 5.7 KB: returning it by value cost a copy).
    /// Every field the type's kernel reads is overwritten.
    /// # Safety
    /// The CPU must support the AVX-512 table's features.
    unsafe fn panel(rows: &[&[Self]], b: usize, p: &mut Panel);
}

// ---------------------------------------------------------------- helpers

/// 64 bytes of `b` at `off`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn load64(b: &[u8], off: usize) -> __m512i {
    let b: &[u8; 64] = b[off..off + 64].try_into().expect("64 bytes in bounds");
    // SAFETY: `b` is 64 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(b.as_ptr().cast()) }
}

/// 16 x 16 transpose of dwords: `out[j]` lane `i` = `rows[i]` lane `j`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn transpose16(r: &[__m512i; 16]) -> [__m512i; 16] {
    // dword then qword interleaves: b[4i + k] lane L (128 bits) holds
    // column 4L + k of rows 4i .. 4i + 4
    let mut a = [_mm512_setzero_si512(); 16];
    for i in 0..8 {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    let mut b = [_mm512_setzero_si512(); 16];
    for i in 0..4 {
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    // gather the 128-bit lanes L of b[k], b[4 + k], b[8 + k], b[12 + k]
    let mut out = [_mm512_setzero_si512(); 16];
    for k in 0..4 {
        let x0 = _mm512_shuffle_i32x4::<0x44>(b[k], b[4 + k]);
        let x1 = _mm512_shuffle_i32x4::<0xEE>(b[k], b[4 + k]);
        let y0 = _mm512_shuffle_i32x4::<0x44>(b[8 + k], b[12 + k]);
        let y1 = _mm512_shuffle_i32x4::<0xEE>(b[8 + k], b[12 + k]);
        out[k] = _mm512_shuffle_i32x4::<0x88>(x0, y0);
        out[4 + k] = _mm512_shuffle_i32x4::<0xDD>(x0, y0);
        out[8 + k] = _mm512_shuffle_i32x4::<0x88>(x1, y1);
        out[12 + k] = _mm512_shuffle_i32x4::<0xDD>(x1, y1);
    }
    out
}

/// Dwords `16h .. 16h + 16` of each row's `bytes(row)`, transposed (lanes =
/// rows; absent rows are zero).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn dwords_by_row<B>(
    rows: &[&[B]],
    b: usize,
    h: usize,
    bytes: impl Fn(&B) -> &[u8],
) -> [__m512i; 16] {
    let mut r = [_mm512_setzero_si512(); 16];
    for (v, row) in r.iter_mut().zip(rows) {
        *v = load64(bytes(&row[b]), 64 * h);
    }
    transpose16(&r)
}

/// One u32 per row from `f` (absent rows 0), as lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn lanes<B>(rows: &[&[B]], b: usize, f: impl Fn(&B) -> u32) -> __m512i {
    let mut v = [0u32; ROWS];
    for (x, row) in v.iter_mut().zip(rows) {
        *x = f(&row[b]);
    }
    // SAFETY: `v` is 64 readable bytes and `loadu` has no alignment requirement.
    unsafe { _mm512_loadu_si512(v.as_ptr().cast()) }
}

/// `d` and `dmin` lanes from one f16 pair per row (`lo | hi << 16`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn f16_pair_lanes(v: __m512i) -> (__m512, __m512) {
    let lo = _mm512_cvtepi32_epi16(_mm512_and_si512(v, _mm512_set1_epi32(0xFFFF)));
    let hi = _mm512_cvtepi32_epi16(_mm512_srli_epi32::<16>(v));
    (_mm512_cvtph_ps(lo), _mm512_cvtph_ps(hi))
}

/// Byte `k` (0..4) of every dword, zero-extended.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn byte_of(v: __m512i, k: u32) -> __m512i {
    _mm512_and_si512(
        _mm512_srlv_epi32(v, _mm512_set1_epi32(8 * k as i32)),
        _mm512_set1_epi32(0xFF),
    )
}

/// Byte `k` (0..4) of every dword, sign-extended.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn sbyte_of(v: __m512i, k: u32) -> __m512i {
    let up = _mm512_sllv_epi32(v, _mm512_set1_epi32(24 - 8 * k as i32));
    _mm512_srai_epi32::<24>(up)
}

/// The Q4_K / Q5_K scales and mins of the panel rows: `sc[0..8]` and the
/// `(m, m)` pairs. Packing in `quant::kscales`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn k4_scales(p: &mut Panel, w: [__m512i; 3]) {
    let low6 = _mm512_set1_epi32(0x3f3f_3f3f);
    let low4 = _mm512_set1_epi32(0x0f0f_0f0f);
    let low2 = _mm512_set1_epi32(0x0303_0303);
    let and = _mm512_and_si512;
    let sc_lo = and(w[0], low6);
    let sc_hi = _mm512_or_si512(
        and(w[2], low4),
        _mm512_slli_epi32::<4>(and(_mm512_srli_epi32::<6>(w[0]), low2)),
    );
    let m_lo = and(w[1], low6);
    let m_hi = _mm512_or_si512(
        and(_mm512_srli_epi32::<4>(w[2]), low4),
        _mm512_slli_epi32::<4>(and(_mm512_srli_epi32::<6>(w[1]), low2)),
    );
    for k in 0..4 {
        p.sc[k] = byte_of(sc_lo, k as u32);
        p.sc[4 + k] = byte_of(sc_hi, k as u32);
        let (m0, m1) = (byte_of(m_lo, k as u32), byte_of(m_hi, k as u32));
        p.pairs[k] = _mm512_or_si512(m0, _mm512_slli_epi32::<16>(m0));
        p.pairs[4 + k] = _mm512_or_si512(m1, _mm512_slli_epi32::<16>(m1));
    }
}

/// The Q4_K / Q5_K 4-bit quants: `qs` dword `j = 8c + i` holds elements
/// `64c + 4i ..` (low nibbles, group `16c + i`) and `64c + 32 + 4i ..`
/// (high nibbles, group `16c + 8 + i`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn k4_quants<B>(p: &mut Panel, rows: &[&[B]], b: usize, qs: impl Fn(&B) -> &[u8] + Copy) {
    let m4 = _mm512_set1_epi32(0x0f0f_0f0f);
    for h in 0..2 {
        let t = dwords_by_row(rows, b, h, qs);
        for (jj, &v) in t.iter().enumerate() {
            let j = 16 * h + jj;
            let (c, i) = (j / 8, j % 8);
            p.w[16 * c + i] = _mm512_and_si512(v, m4);
            p.w[16 * c + 8 + i] = _mm512_and_si512(_mm512_srli_epi32::<4>(v), m4);
        }
    }
}

/// An empty panel.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn empty() -> Panel {
    Panel {
        w: [_mm512_setzero_si512(); 64],
        sc: [_mm512_setzero_si512(); 16],
        pairs: [_mm512_setzero_si512(); 8],
        d: _mm512_setzero_ps(),
        dmin: _mm512_setzero_ps(),
    }
}

/// Two f16 as one dword: `lo | hi << 16`.
#[inline(always)]
fn f16_pair(lo: half::f16, hi: half::f16) -> u32 {
    lo.to_bits() as u32 | (hi.to_bits() as u32) << 16
}

/// Little-endian dword `i` of `b`.
#[inline(always)]
fn dword(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes(b[4 * i..4 * i + 4].try_into().expect("dword in bounds"))
}

// ---------------------------------------------------------------- types

/// The fields Q4_K and Q5_K share: `d`, `dmin`, the packed 6-bit scales and
/// mins, the low nibbles.
trait K4Block {
    fn d_dmin(&self) -> u32;
    fn scales(&self) -> &[u8; 12];
    fn qs(&self) -> &[u8];
}

/// `K4Block` for block types with `d`, `dmin`, `scales` and `qs` fields.
macro_rules! k4_block {
    ($($t:ty),*) => {$(
        impl K4Block for $t {
            fn d_dmin(&self) -> u32 {
                f16_pair(self.d, self.dmin)
            }
            fn scales(&self) -> &[u8; 12] {
                &self.scales
            }
            fn qs(&self) -> &[u8] {
                &self.qs
            }
        }
    )*};
}

k4_block!(BlockQ4K, BlockQ5K);

/// The Q4_K / Q5_K panel without Q5_K's fifth bits.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn k4_panel<B: K4Block>(rows: &[&[B]], b: usize, p: &mut Panel) {
    (p.d, p.dmin) = f16_pair_lanes(lanes(rows, b, B::d_dmin));
    let w = [0, 1, 2].map(|i| lanes(rows, b, |x| dword(x.scales(), i)));
    k4_scales(p, w);
    k4_quants(p, rows, b, B::qs);
}

impl PanelType for BlockQ4K {
    const SUB: usize = 32;
    const MINS: bool = true;
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn panel(rows: &[&[Self]], b: usize, p: &mut Panel) {
        k4_panel(rows, b, p)
    }
}

impl PanelType for BlockQ5K {
    const SUB: usize = 32;
    const MINS: bool = true;
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn panel(rows: &[&[Self]], b: usize, p: &mut Panel) {
        k4_panel(rows, b, p);
        // fifth bits: element 64c + l has bit 2c of qh[l], 64c + 32 + l bit 2c + 1
        let one = _mm512_set1_epi32(0x0101_0101);
        for i in 0..8 {
            let qh = lanes(rows, b, |x| dword(&x.qh, i));
            for c in 0..4 {
                let lo = _mm512_srlv_epi32(qh, _mm512_set1_epi32(2 * c as i32));
                let hi = _mm512_srli_epi32::<1>(lo);
                let (g_lo, g_hi) = (16 * c + i, 16 * c + 8 + i);
                let bit = |v| _mm512_slli_epi32::<4>(_mm512_and_si512(v, one));
                p.w[g_lo] = _mm512_or_si512(p.w[g_lo], bit(lo));
                p.w[g_hi] = _mm512_or_si512(p.w[g_hi], bit(hi));
            }
        }
    }
}

impl PanelType for BlockQ6K {
    const SUB: usize = 16;
    const MINS: bool = false;
    #[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
    unsafe fn panel(rows: &[&[Self]], b: usize, p: &mut Panel) {
        let d = lanes(rows, b, |x| x.d.to_bits() as u32);
        p.d = f16_pair_lanes(d).0;
        for q in 0..4 {
            let s = lanes(rows, b, |x| dword(bytemuck::cast_slice(&x.scales), q));
            for k in 0..4 {
                p.sc[4 * q + k] = sbyte_of(s, k as u32);
            }
            // pairs (sc_2p, sc_2p+1) for p = 2q, 2q + 1
            let lo16 = _mm512_set1_epi32(0xFFFF);
            for h in 0..2 {
                let (a, b2) = (p.sc[4 * q + 2 * h], p.sc[4 * q + 2 * h + 1]);
                p.pairs[2 * q + h] =
                    _mm512_or_si512(_mm512_and_si512(a, lo16), _mm512_slli_epi32::<16>(b2));
            }
        }
        // element 128n + 32k + l: low 4 bits in ql[64n + 32(k & 1) + l]
        // (nibble k >> 1), high 2 bits at 2k of qh[32n + l]; group
        // 32n + 8k + l / 4
        let m4 = _mm512_set1_epi32(0x0f0f_0f0f);
        let m2 = _mm512_set1_epi32(0x0303_0303);
        let ql = [0, 1].map(|h| dwords_by_row(rows, b, h, |x: &BlockQ6K| &x.ql));
        let qh = dwords_by_row(rows, b, 0, |x: &BlockQ6K| &x.qh);
        for n in 0..2 {
            for k in 0..4 {
                for i in 0..8 {
                    let l = ql[n][8 * (k & 1) + i];
                    let l = _mm512_srlv_epi32(l, _mm512_set1_epi32(4 * (k >> 1) as i32));
                    let h = _mm512_srlv_epi32(qh[8 * n + i], _mm512_set1_epi32(2 * k as i32));
                    let h = _mm512_slli_epi32::<4>(_mm512_and_si512(h, m2));
                    p.w[32 * n + 8 * k + i] = _mm512_or_si512(_mm512_and_si512(l, m4), h);
                }
            }
        }
    }
}

// ---------------------------------------------------------------- kernel

/// Runs `N` tokens over one panel: `y[t][lanes] = fold(y[t], ...)` for the
/// `nr` valid rows (masked).
// p: one super-block of 16 rows, a[t]: that super-block of token t,
// y[t]: the token's output row at the panel's first row
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn run_tokens<T: PanelType, const N: usize>(
    p: &Panel,
    a: [&BlockQ8K; N],
    y: Outputs<'_>,
    mask: __mmask16,
) {
    let groups = T::SUB / 4;
    let mut s1 = [_mm512_setzero_si512(); N];
    for s in 0..QK_K / T::SUB {
        let mut raw = [_mm512_setzero_si512(); N];
        for g in groups * s..groups * (s + 1) {
            for t in 0..N {
                let av = _mm512_set1_epi32(dword(bytemuck::cast_slice(&a[t].qs), g) as i32);
                raw[t] = _mm512_dpbusd_epi32(raw[t], p.w[g], av);
            }
        }
        for t in 0..N {
            s1[t] = _mm512_add_epi32(s1[t], _mm512_mullo_epi32(raw[t], p.sc[s]));
        }
    }
    for t in 0..N {
        let mut s2 = _mm512_setzero_si512();
        for (k, &pair) in p.pairs.iter().enumerate() {
            let bs = dword(bytemuck::cast_slice(&a[t].bsums), k) as i32;
            s2 = _mm512_dpwssd_epi32(s2, pair, _mm512_set1_epi32(bs));
        }
        let (s1, s2) = if T::MINS {
            (s1[t], s2)
        } else {
            // Q6_K: Σ sc·(q − 32)·a = Σ sc·q·a − 32 · Σ sc·bsums
            (
                _mm512_sub_epi32(s1[t], _mm512_slli_epi32::<5>(s2)),
                _mm512_setzero_si512(),
            )
        };
        let r = _mm512_mul_ps(_mm512_cvtepi32_ps(s1), p.d);
        let r = _mm512_fnmadd_ps(p.dmin, _mm512_cvtepi32_ps(s2), r);
        let yp = y.row(t);
        // SAFETY: `Outputs::new` checked that `nr` floats of the output
        // slice follow `y.row(t)`, and `mask` has only the low `nr` bits
        // set, so only those lanes are read and written.
        unsafe {
            let acc = _mm512_maskz_loadu_ps(mask, yp);
            let acc = _mm512_fmadd_ps(r, _mm512_set1_ps(a[t].d), acc);
            _mm512_mask_storeu_ps(yp, mask, acc);
        }
    }
}

/// The whole product, panel by panel; misaligned rows run the scalar
/// definition per output.
// w: [rows, n] of T, a: [toks, n] Q8_K -> y[t * ys + r]
#[allow(clippy::too_many_arguments)]
fn run<T: PanelType>(
    ty: GgmlType,
    n: usize,
    w: &[u8],
    rows: usize,
    a: &[u8],
    toks: usize,
    y: &mut [f32],
    ys: usize,
) {
    let (wb, ab) = (row_bytes(ty, n), row_bytes(GgmlType::Q8_K, n));
    let (w, a) = (&w[..rows * wb], &a[..toks * ab]);
    let (Ok(w), Ok(a)) = (
        bytemuck::try_cast_slice::<u8, T>(w),
        bytemuck::try_cast_slice::<u8, BlockQ8K>(a),
    ) else {
        for r in 0..rows {
            for t in 0..toks {
                y[t * ys + r] = batched::dot(ty, n, &w[r * wb..][..wb], &a[t * ab..][..ab]);
            }
        }
        return;
    };
    let nb = n / QK_K;
    // SAFETY: reached only through the AVX-512 table (see the module doc).
    let mut p = unsafe { empty() };
    for r0 in (0..rows).step_by(ROWS) {
        let nr = ROWS.min(rows - r0);
        let mask = (((1u32 << nr) - 1) & 0xFFFF) as __mmask16;
        let mut wr: [&[T]; ROWS] = [&[]; ROWS];
        for (k, row) in wr.iter_mut().take(nr).enumerate() {
            *row = &w[(r0 + k) * nb..(r0 + k + 1) * nb];
        }
        let wr = &wr[..nr];
        for t in 0..toks {
            y[t * ys + r0..][..nr].fill(0.0);
        }
        for b in 0..nb {
            // SAFETY: reached only through the AVX-512 table (see the module doc).
            unsafe { T::panel(wr, b, &mut p) };
            // the weights are read once per panel, from memory: fetch the next
            // super-block (or the next panel's first) while the tokens run
            let next = if b + 1 < nb {
                Some((r0..r0 + nr, b + 1))
            } else {
                (r0 + ROWS < rows).then(|| (r0 + ROWS..rows.min(r0 + 2 * ROWS), 0))
            };
            if let Some((rr, nb_next)) = next {
                for r in rr {
                    prefetch(&w[r * nb + nb_next]);
                }
            }
            let mut t0 = 0;
            while t0 < toks {
                let left = toks - t0;
                // SAFETY: as above.
                unsafe {
                    if left >= TOKS {
                        tokens::<T, TOKS>(&p, a, nb, b, t0, y, ys, r0, nr, mask);
                        t0 += TOKS;
                    } else {
                        tokens::<T, 1>(&p, a, nb, b, t0, y, ys, r0, nr, mask);
                        t0 += 1;
                    }
                }
            }
        }
    }
}

/// Hints the cache lines of one weight block into L1.
#[inline]
fn prefetch<T>(block: &T) {
    let p = (block as *const T).cast::<i8>();
    for off in (0..size_of::<T>()).step_by(64) {
        // SAFETY: prefetching has no architectural effect and cannot fault;
        // the addresses are inside (or one line past) `block`.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(off)) };
    }
}

/// `run_tokens` for tokens `t0 .. t0 + N` of block `b`.
#[allow(clippy::too_many_arguments)]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn tokens<T: PanelType, const N: usize>(
    p: &Panel,
    a: &[BlockQ8K],
    nb: usize,
    b: usize,
    t0: usize,
    y: &mut [f32],
    ys: usize,
    r0: usize,
    nr: usize,
    mask: __mmask16,
) {
    let acts: [&BlockQ8K; N] = std::array::from_fn(|k| &a[(t0 + k) * nb + b]);
    run_tokens::<T, N>(p, acts, Outputs::new(y, t0, N, ys, r0, nr), mask);
}

/// The `nr` outputs at `r0` of tokens `t0 .. t0 + n` in `y[t * ys + r]`,
/// as row pointers (the rows lie `ys` apart, so one `&mut` slice per token
/// would cost a split per call).
struct Outputs<'a> {
    first: *mut f32,
    ys: usize,
    n: usize,
    _y: std::marker::PhantomData<&'a mut [f32]>,
}

impl<'a> Outputs<'a> {
    /// Panics unless every `y[t * ys + r0 .. t * ys + r0 + nr]`, t in
    /// `t0 .. t0 + n`, is inside `y`.
    #[inline(always)]
    fn new(y: &'a mut [f32], t0: usize, n: usize, ys: usize, r0: usize, nr: usize) -> Self {
        assert!(n > 0 && nr <= ys && (t0 + n - 1) * ys + r0 + nr <= y.len());
        Outputs {
            // SAFETY: in bounds by the assert (offset <= y.len()).
            first: unsafe { y.as_mut_ptr().add(t0 * ys + r0) },
            ys,
            n,
            _y: std::marker::PhantomData,
        }
    }

    /// Token `t`'s first output (`nr` writable floats follow it).
    #[inline(always)]
    fn row(&self, t: usize) -> *mut f32 {
        debug_assert!(t < self.n);
        self.first.wrapping_add(t * self.ys)
    }
}

/// `$name`: the `GemmFn` of `$block` weights (type `$ty`).
macro_rules! gemm_fn {
    ($($name:ident: $block:ty, $ty:ident;)*) => {$(
        // w: [rows, n] weight bytes, a: [toks, n] Q8_K bytes -> y[t * ys + r]
        fn $name(n: usize, w: &[u8], rows: usize, a: &[u8], toks: usize, y: &mut [f32], ys: usize) {
            run::<$block>(GgmlType::$ty, n, w, rows, a, toks, y, ys)
        }
    )*};
}

gemm_fn! {
    gemm_q4_k: BlockQ4K, Q4_K;
    gemm_q5_k: BlockQ5K, Q5_K;
    gemm_q6_k: BlockQ6K, Q6_K;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose16_swaps_rows_and_lanes() {
        if !crate::arch::Isa::Avx512.detected() {
            return;
        }
        let m: Vec<[i32; 16]> = (0..16)
            .map(|i| std::array::from_fn(|j| (100 * i + j) as i32))
            .collect();
        // SAFETY: AVX-512 F/BW/VL/VNNI and AVX2/FMA/F16C detected above.
        let out: Vec<[i32; 16]> = unsafe {
            let r: [__m512i; 16] =
                std::array::from_fn(|i| _mm512_loadu_si512(m[i].as_ptr().cast()));
            transpose16(&r)
                .iter()
                .map(|v| std::mem::transmute(*v))
                .collect()
        };
        for (j, col) in out.iter().enumerate() {
            for (i, &x) in col.iter().enumerate() {
                assert_eq!(x, (100 * i + j) as i32, "[{j}][{i}]");
            }
        }
    }
}
