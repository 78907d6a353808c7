//! The AVX-512 row dots against the scalar reference (`quant::vec_dot`), at
//! 1, 7 and a random number of blocks, through the table's byte-level
//! functions (`dot(ty)`), on:
//! - rows quantized from Gaussians (activations by the table's quantizer);
//! - raw random weight and activation bytes (quants over their whole range,
//!   Q8 activations of -128 included) with sane f16 / f32 scales;
//! - raw bytes with extreme scales (±65504, f16 subnormals; Q8_K d down to
//!   1e-30 and up to 1e30).
//!
//! Tolerance: the integer block sums are exact in both, only the f32
//! summation order differs, so |avx512 - scalar| <= 1e-5 * sum |w_i * a_i|
//! (of the dequantized rows) + 1e-30. Quants at their extremes with unit
//! scales give integers, which must be equal exactly.
//!
//! Every test prints a message and passes if the CPU lacks the features.

use super::*;
use crate::quant::{self, row_bytes, vec_dot_type};
use GgmlType::*;

/// SplitMix64.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn gaussians(&mut self, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let u1 = self.unit().max(1e-7);
                (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * self.unit()).cos()
            })
            .collect()
    }
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A random sign on `mag`.
    fn signed(&mut self, mag: f32) -> f32 {
        if self.next() & 1 == 0 {
            mag
        } else {
            -mag
        }
    }
}

const TYPES: [GgmlType; 13] = [
    Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, F32, F16, BF16,
];

/// Byte offsets of the f16 fields of a block of type `t`.
fn f16_fields(t: GgmlType) -> &'static [usize] {
    match t {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q8_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// Bytes in a u64-aligned buffer (every block type's alignment is <= 8).
pub(super) struct Row(Vec<u64>, usize);

impl Row {
    pub(super) fn zeroed(len: usize) -> Row {
        Row(vec![0; len.div_ceil(8)], len)
    }
    pub(super) fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.0)[..self.1]
    }
    pub(super) fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.0)[..self.1]
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Data {
    Quantized,
    Raw,
    Extreme,
}

/// A scale for raw data: sane (2^-12 .. 1) or extreme.
fn scale(rng: &mut Rng, data: Data) -> f32 {
    match data {
        Data::Extreme => {
            let mags = [65504.0, 6.0e-8, 3.0e-5, 1.0];
            let mag = mags[rng.below(mags.len())];
            rng.signed(mag)
        }
        _ => {
            let mag = 2f32.powf(-12.0 + 12.0 * rng.unit());
            rng.signed(mag)
        }
    }
}

/// One row of `n` elements of type `t`.
pub(super) fn row(rng: &mut Rng, t: GgmlType, n: usize, data: Data) -> Row {
    let mut r = Row::zeroed(row_bytes(t, n));
    let float = matches!(t, F32 | F16 | BF16);
    if data == Data::Quantized || float {
        let mag = if data == Data::Extreme { 1e4 } else { 1.0 };
        let x: Vec<f32> = rng.gaussians(n).iter().map(|v| v * mag).collect();
        quant::quantize_row(t, &x, r.bytes_mut()).unwrap();
        return r;
    }
    let bs = t.type_size();
    for b in r.bytes_mut() {
        *b = rng.next() as u8;
    }
    for block in r.bytes_mut().chunks_exact_mut(bs) {
        for &off in f16_fields(t) {
            let h = half::f16::from_f32(scale(rng, data));
            block[off..off + 2].copy_from_slice(&h.to_le_bytes());
        }
        if t == Q8_K {
            let q8k: &mut BlockQ8K = bytemuck::from_bytes_mut(block);
            q8k.d = match data {
                Data::Extreme => [1e-30, 1e30, 1.0][rng.below(3)],
                _ => rng.unit() * 0.02 + 1e-4,
            };
            for (s, g) in q8k.bsums.iter_mut().zip(q8k.qs.chunks_exact(16)) {
                *s = g.iter().map(|&q| q as i16).sum();
            }
        }
    }
    r
}

fn dequantize(t: GgmlType, q: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n];
    quant::dequantize_row(t, q, &mut y).unwrap();
    y
}

/// The table with 512-bit kernels for every type (the default one hands
/// five types to AVX2, whose tests cover them).
fn avx512() -> Option<&'static Kernels> {
    let k = table().map(|_| &super::AVX512_WIDE);
    if k.is_none() {
        println!("skipped: this CPU lacks AVX-512 F/BW/VL/VNNI (or AVX2/FMA/F16C)");
    }
    k
}

/// The AVX-512 dot of `t` equals the scalar one within the tolerance.
fn check_type(k: &Kernels, t: GgmlType, seed: u64) {
    let mut rng = Rng(seed);
    let at = vec_dot_type(t);
    let bs = t.block_size();
    let dot = k.dot(t).unwrap();
    let mut worst = 0.0f64;
    let random_nb = 2 + rng.below(60);
    for nb in [1, 7, random_nb] {
        // Float rows also get lengths that are not a multiple of 16.
        let ns = if bs == 1 {
            vec![nb, nb * 32 + 5, nb * 64]
        } else {
            vec![nb * bs]
        };
        for n in ns {
            for (wd, ad) in [
                (Data::Quantized, Data::Quantized),
                (Data::Raw, Data::Quantized),
                (Data::Raw, Data::Raw),
                (Data::Extreme, Data::Raw),
                (Data::Raw, Data::Extreme),
            ] {
                let w = row(&mut rng, t, n, wd);
                let a = row(&mut rng, at, n, ad);
                let want = quant::vec_dot(t, n, w.bytes(), a.bytes());
                let got = dot(n, w.bytes(), a.bytes());
                assert_eq!(
                    got.to_bits(),
                    (k.vec_dot)(t, n, w.bytes(), a.bytes()).to_bits()
                );
                let mag: f64 = dequantize(t, w.bytes(), n)
                    .iter()
                    .zip(dequantize(at, a.bytes(), n))
                    .map(|(&p, q)| (p as f64 * q as f64).abs())
                    .sum();
                let err = (got as f64 - want as f64).abs();
                let tol = 1e-5 * mag + 1e-30;
                assert!(
                    err <= tol,
                    "{t} n={n} weights {wd:?} acts {ad:?}: avx512 {got} vs scalar {want} \
                     (|err| {err:e} > {tol:e})"
                );
                worst = worst.max(err / mag.max(f64::MIN_POSITIVE));
            }
        }
    }
    println!("{t}: worst relative error {worst:.2e} (blocks 1, 7, {random_nb})");
}

#[test]
fn every_row_dot_matches_the_scalar_reference() {
    let Some(k) = avx512() else { return };
    for (i, t) in TYPES.into_iter().enumerate() {
        check_type(k, t, 0x5120 + i as u64);
    }
}

#[test]
fn table_covers_every_type_with_a_dot() {
    let Some(k) = avx512() else { return };
    assert_eq!(k.isa, Isa::Avx512);
    for t in GgmlType::ALL {
        assert_eq!(k.dot(t).is_some(), quant::has_vec_dot(t), "{t}");
    }
}

/// An activation row of `n` elements of type `at`, every quant `q8`, unit
/// scales (and the matching Q8_K `bsums`).
pub(super) fn constant_acts(at: GgmlType, n: usize, q8: i8) -> Row {
    let mut a = Row::zeroed(row_bytes(at, n));
    if at == Q8_K {
        for b in bytemuck::cast_slice_mut::<u8, BlockQ8K>(a.bytes_mut()) {
            b.d = 1.0;
            b.qs = [q8; 256];
            b.bsums = [16 * q8 as i16; 16];
        }
    } else {
        a.bytes_mut().fill(q8 as u8);
        unit_scales(&mut a, at);
    }
    a
}

/// Sets every f16 field of every block of `r` (type `t`) to 1.
pub(super) fn unit_scales(r: &mut Row, t: GgmlType) {
    let one = half::f16::ONE.to_le_bytes();
    for block in r.bytes_mut().chunks_exact_mut(t.type_size()) {
        for &off in f16_fields(t) {
            block[off..off + 2].copy_from_slice(&one);
        }
    }
}

/// Weights with every quant bit set (or clear), activations all -128 or
/// 127 (bsums to match), unit scales: integer results, equal exactly.
#[test]
fn extreme_quants_are_exact() {
    let Some(k) = avx512() else { return };
    for t in TYPES.into_iter().filter(|t| t.block_size() > 1) {
        let at = vec_dot_type(t);
        let n = 2 * t.block_size() + if at == Q8_K { 0 } else { 32 };
        for (wbyte, q8) in [(0xFFu8, -128i8), (0xFF, 127), (0x00, -128), (0x00, 127)] {
            let mut w = Row::zeroed(row_bytes(t, n));
            w.bytes_mut().fill(wbyte);
            unit_scales(&mut w, t);
            let a = constant_acts(at, n, q8);
            let want = quant::vec_dot(t, n, w.bytes(), a.bytes());
            let got = k.dot(t).unwrap()(n, w.bytes(), a.bytes());
            assert_eq!(got, want, "{t} weight bytes {wbyte:#x}, activations {q8}");
        }
    }
}

#[test]
fn empty_rows_give_zero() {
    let Some(k) = avx512() else { return };
    for t in TYPES {
        assert_eq!(k.dot(t).unwrap()(0, &[], &[]), 0.0, "{t}");
    }
}
