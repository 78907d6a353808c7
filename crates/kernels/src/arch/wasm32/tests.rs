//! The simd128 table against the scalar reference (`quant::vec_dot`) for
//! every weight type with a dot product, at 1, 7 and a random number of
//! blocks (floats also at lengths that exercise each loop and the tail):
//! on quantized data with outliers, on raw random weight bytes (f16 fields
//! made finite) with quantized activations, and on raw weights against raw
//! activations over the whole i8 range (-128 included, bsums consistent).
//!
//! Tolerance: block integer sums are exact in both, only the f32 summation
//! order differs (floats: f32 accumulation against the reference's f64),
//! so we allow 1e-5 * sum |w_i * a_i| of the dequantized rows, plus 1e-30.

use super::simd::{f16_to_f32, f16x4_to_f32};
use super::*;
use crate::quant::{dequantize_row, has_vec_dot, quantize_row};
use core::arch::wasm32::*;

/// xorshift64* (deterministic; the seed must be non-zero).
pub(super) struct Gen(pub(super) u64);

impl Gen {
    fn u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Roughly normal (sum of four uniforms, centred), with 1 in 64 values
    /// scaled by 20 as real activations' outliers are.
    fn value(&mut self) -> f32 {
        let v = (0..4).map(|_| self.unit()).sum::<f32>() - 2.0;
        if self.u64().is_multiple_of(64) {
            20.0 * v
        } else {
            v
        }
    }
    /// A finite f16 of magnitude 2^-12 .. 1, either sign.
    fn scale_f16(&mut self) -> f16 {
        let m = 2f32.powf(-12.0 + 12.0 * self.unit());
        f16::from_f32(if self.u64() & 1 == 0 { m } else { -m })
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.u64() % n as u64) as usize
    }
}

/// Bytes in u64 storage, so casts to any block type are aligned.
pub(super) struct Buf(Vec<u64>, usize);

impl Buf {
    pub(super) fn new(len: usize) -> Buf {
        Buf(vec![0; len.div_ceil(8)], len)
    }
    pub(super) fn get(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.0)[..self.1]
    }
    pub(super) fn get_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.0)[..self.1]
    }
}

/// Byte offsets of a block's f16 scale fields.
pub(super) fn scale_offsets(t: GgmlType) -> &'static [usize] {
    use GgmlType::*;
    match t {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// `n` values quantized to `t` by the scalar reference.
pub(super) fn quantized(g: &mut Gen, t: GgmlType, n: usize) -> Buf {
    let x: Vec<f32> = (0..n).map(|_| g.value()).collect();
    let mut b = Buf::new(row_bytes(t, n));
    quantize_row(t, &x, b.get_mut()).unwrap();
    b
}

/// Random bytes of `n` elements of `t`, every f16 scale made finite and,
/// for activation types, the stored sums consistent with the quants.
pub(super) fn raw(g: &mut Gen, t: GgmlType, n: usize) -> Buf {
    let mut b = Buf::new(row_bytes(t, n));
    b.get_mut().iter_mut().for_each(|v| *v = g.u64() as u8);
    for blk in b.get_mut().chunks_exact_mut(t.type_size()) {
        let mut put = |off: usize, bytes: &[u8]| blk[off..off + bytes.len()].copy_from_slice(bytes);
        match t {
            GgmlType::Q8_0 => put(0, &g.scale_f16().to_le_bytes()),
            GgmlType::Q8_1 => {
                let d = g.scale_f16();
                let sum: i32 = blk[4..].iter().map(|&q| q as i8 as i32).sum();
                let s = f16::from_f32(d.to_f32() * sum as f32);
                blk[0..2].copy_from_slice(&d.to_le_bytes());
                blk[2..4].copy_from_slice(&s.to_le_bytes());
            }
            GgmlType::Q8_K => {
                let d = 1e-4 + 0.02 * g.unit();
                blk[0..4].copy_from_slice(&d.to_le_bytes());
                for j in 0..16 {
                    let q = &blk[4 + 16 * j..20 + 16 * j];
                    let s: i16 = q.iter().map(|&v| v as i8 as i16).sum();
                    blk[260 + 2 * j..262 + 2 * j].copy_from_slice(&s.to_le_bytes());
                }
            }
            _ => {
                for &off in scale_offsets(t) {
                    put(off, &g.scale_f16().to_le_bytes());
                }
            }
        }
    }
    b
}

/// sum |w_i * a_i| over the dequantized rows.
fn magnitude(w: GgmlType, n: usize, wr: &[u8], ar: &[u8]) -> f64 {
    let (mut wf, mut af) = (vec![0f32; n], vec![0f32; n]);
    dequantize_row(w, wr, &mut wf).unwrap();
    dequantize_row(vec_dot_type(w), ar, &mut af).unwrap();
    wf.iter()
        .zip(&af)
        .map(|(&p, &q)| (p as f64 * q as f64).abs())
        .sum()
}

/// The simd128 dot of one row pair (through `dot` and `vec_dot`) against
/// the scalar one; returns the relative error.
fn check(w: GgmlType, n: usize, wr: &[u8], ar: &[u8], what: &str) -> f64 {
    let k = table().unwrap();
    let got = k.dot(w).unwrap()(n, wr, ar);
    assert_eq!(got.to_bits(), (k.vec_dot)(w, n, wr, ar).to_bits());
    let want = quant::vec_dot(w, n, wr, ar);
    let mag = magnitude(w, n, wr, ar);
    let err = (got as f64 - want as f64).abs();
    assert!(
        err <= 1e-5 * mag + 1e-30,
        "{w} n={n} {what}: simd128 {got} vs scalar {want} (|err| {err:e}, sum|w*a| {mag:e})"
    );
    err / mag.max(f64::MIN_POSITIVE)
}

#[test]
fn every_row_dot_equals_the_scalar_reference() {
    let mut g = Gen(0x5eed_0128);
    for w in GgmlType::ALL.into_iter().filter(|&t| has_vec_dot(t)) {
        let a = vec_dot_type(w);
        let bs = w.block_size();
        let mut lengths = vec![bs, 7 * bs, (2 + g.below(40)) * bs];
        if bs == 1 {
            lengths.extend([4, 8, 15, 16, 23, 24, 64, 100 + g.below(2000)]);
        }
        let mut worst = 0f64;
        for n in lengths {
            let mut cases = vec![(
                "quantized",
                quantized(&mut g, w, n),
                quantized(&mut g, a, n),
            )];
            if !scale_offsets(w).is_empty() {
                cases.push(("raw weights", raw(&mut g, w, n), quantized(&mut g, a, n)));
                cases.push(("raw both", raw(&mut g, w, n), raw(&mut g, a, n)));
            }
            for (what, wr, ar) in &cases {
                worst = worst.max(check(w, n, wr.get(), ar.get(), what));
            }
        }
        assert_eq!(
            table().unwrap().dot(w).unwrap()(0, &[], &[]),
            0.0,
            "{w}: empty"
        );
        println!("{w}: worst relative error {worst:.2e}");
    }
}

/// `rows` rows of `n` weights of type `w` with every byte `fill`, unit scales.
pub(super) fn extreme_weights(w: GgmlType, n: usize, rows: usize, fill: u8) -> Buf {
    let mut wr = Buf::new(rows * row_bytes(w, n));
    wr.get_mut().fill(fill);
    for blk in wr.get_mut().chunks_exact_mut(w.type_size()) {
        for &off in scale_offsets(w) {
            blk[off..off + 2].copy_from_slice(&f16::ONE.to_le_bytes());
        }
    }
    wr
}

/// `n` activations of type `a` (a Q8 type) with every quant `fill`
/// (random scales, consistent sums).
pub(super) fn constant_acts(a: GgmlType, n: usize, fill: u8) -> Buf {
    let mut ar = raw(&mut Gen(7), a, n);
    for blk in ar.get_mut().chunks_exact_mut(a.type_size()) {
        let (qs, sums) = match a {
            GgmlType::Q8_0 => (2..34, None),
            GgmlType::Q8_1 => (4..36, None),
            _ => (4..260, Some(260..292)),
        };
        blk[qs].fill(fill);
        if let Some(s) = sums {
            let v = 16 * fill as i8 as i16;
            blk[s]
                .chunks_exact_mut(2)
                .for_each(|c| c.copy_from_slice(&v.to_le_bytes()));
        }
    }
    ar
}

/// Every weight quant at its extreme against activations of all -128 or
/// all 127: a saturating or overflowing integer step would show here.
#[test]
fn extreme_quants_are_exact() {
    for w in GgmlType::ALL.into_iter().filter(|&t| has_vec_dot(t)) {
        if scale_offsets(w).is_empty() {
            continue;
        }
        let a = vec_dot_type(w);
        let n = 2 * w.block_size().max(QK_K_ELEMS);
        for (wfill, afill) in [(0xffu8, 0x80u8), (0xff, 0x7f), (0x00, 0x80), (0x80, 0x80)] {
            let wr = extreme_weights(w, n, 1, wfill);
            let ar = constant_acts(a, n, afill);
            check(
                w,
                n,
                wr.get(),
                ar.get(),
                &format!("weights {wfill:#x} acts {afill:#x}"),
            );
        }
    }
}

/// Elements in a k-quant super-block.
const QK_K_ELEMS: usize = 256;

#[test]
fn misaligned_rows_give_the_reference_result() {
    let mut g = Gen(99);
    for w in [
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
        GgmlType::F32,
    ] {
        let n = 512;
        let (wr, ar) = (
            quantized(&mut g, w, n),
            quantized(&mut g, vec_dot_type(w), n),
        );
        // One byte in: not aligned for f16 / f32 fields.
        let mut shifted = vec![0u8; wr.get().len() + 1];
        shifted[1..].copy_from_slice(wr.get());
        let got = table().unwrap().dot(w).unwrap()(n, &shifted[1..], ar.get());
        let want = quant::vec_dot(w, n, &shifted[1..], ar.get());
        assert_eq!(got.to_bits(), want.to_bits(), "{w}");
    }
}

#[test]
fn f16_widening_equals_half_for_every_value() {
    for hi in 0..(1u32 << 14) {
        let bits = [0, 1, 2, 3].map(|l| (4 * hi + l) as u16);
        let v = u32x4(
            bits[0] as u32,
            bits[1] as u32,
            bits[2] as u32,
            bits[3] as u32,
        );
        let r = f16x4_to_f32(v);
        let lanes = [
            f32x4_extract_lane::<0>(r),
            f32x4_extract_lane::<1>(r),
            f32x4_extract_lane::<2>(r),
            f32x4_extract_lane::<3>(r),
        ];
        for (l, &b) in bits.iter().enumerate() {
            let want = f16::from_bits(b).to_f32();
            for (what, got) in [
                ("scalar", f16_to_f32(f16::from_bits(b))),
                ("simd", lanes[l]),
            ] {
                if want.is_nan() {
                    assert!(got.is_nan(), "{what} {b:#06x}: {got}");
                } else {
                    assert_eq!(got.to_bits(), want.to_bits(), "{what} {b:#06x}");
                }
            }
        }
    }
}
