//! The NEON tables against the scalar reference (`quant::vec_dot`), for
//! every weight type with a dot product, at 1, 7 and random block counts,
//! on quantized gaussians and on raw random bytes (every f16 field made
//! finite; raw activations use the whole i8 range, -128 included).
//!
//! Tolerance: the integer sums are exact in both, only the f32 summation
//! order differs (floats: f32 accumulation against the reference's f64),
//! so we allow 1e-5 · Σ|w_i·a_i| of the dequantized rows (plus 1e-30).
//! The `sdot` table must equal the baseline table bit for bit. Tests of the
//! `sdot` kernels print a message and pass on CPUs without dot product
//! (e.g. `qemu-aarch64 -cpu cortex-a53`).

use super::*;
use crate::quant::{dequantize_row, has_vec_dot, quantize_row};
use half::f16;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn uniform(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    fn gauss(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A finite f16 of magnitude 2^-12 .. 2^0, random sign.
    fn sane_f16(&mut self) -> f16 {
        let mag = 2f32.powf(-12.0 + 12.0 * self.uniform());
        f16::from_f32(if self.next() & 1 == 0 { mag } else { -mag })
    }
}

/// A byte row in 8-byte-aligned storage, so `bytemuck` casts to blocks
/// succeed and the SIMD path (not the misaligned fallback) runs.
struct Row {
    words: Vec<u64>,
    len: usize,
}

impl Row {
    fn zeroed(len: usize) -> Row {
        Row {
            words: vec![0; len.div_ceil(8)],
            len,
        }
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.len]
    }
}

/// Offsets of the f16 fields of a weight block (to be made finite).
fn f16_fields(t: GgmlType) -> &'static [usize] {
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

/// `n` gaussians quantized to `t` by the scalar reference.
fn quantized(rng: &mut Rng, t: GgmlType, n: usize) -> Row {
    let x: Vec<f32> = (0..n).map(|_| rng.gauss()).collect();
    let mut r = Row::zeroed(row_bytes(t, n));
    quantize_row(t, &x, r.bytes_mut()).unwrap();
    r
}

/// Random weight bytes of a quantized type with sane f16 scales.
fn raw_weights(rng: &mut Rng, t: GgmlType, n: usize) -> Row {
    let mut r = Row::zeroed(row_bytes(t, n));
    let bytes = r.bytes_mut();
    bytes.iter_mut().for_each(|b| *b = rng.next() as u8);
    for block in bytes.chunks_exact_mut(t.type_size()) {
        for &off in f16_fields(t) {
            block[off..off + 2].copy_from_slice(&rng.sane_f16().to_le_bytes());
        }
    }
    r
}

/// Random activation blocks over the whole i8 range with consistent sums.
fn raw_activations(rng: &mut Rng, t: GgmlType, n: usize) -> Row {
    let mut r = Row::zeroed(row_bytes(t, n));
    let bytes = r.bytes_mut();
    bytes.iter_mut().for_each(|b| *b = rng.next() as u8);
    for block in bytes.chunks_exact_mut(t.type_size()) {
        match t {
            GgmlType::Q8_0 => block[0..2].copy_from_slice(&rng.sane_f16().to_le_bytes()),
            GgmlType::Q8_1 => {
                let d = rng.sane_f16();
                let sum: i32 = block[4..].iter().map(|&q| q as i8 as i32).sum();
                let s = f16::from_f32(d.to_f32() * sum as f32);
                block[0..2].copy_from_slice(&d.to_le_bytes());
                block[2..4].copy_from_slice(&s.to_le_bytes());
            }
            GgmlType::Q8_K => {
                let d = rng.uniform() * 0.02 + 1e-4;
                block[0..4].copy_from_slice(&d.to_le_bytes());
                for g in 0..16 {
                    let s: i32 = block[4 + 16 * g..20 + 16 * g]
                        .iter()
                        .map(|&q| q as i8 as i32)
                        .sum();
                    let at = 260 + 2 * g;
                    block[at..at + 2].copy_from_slice(&(s as i16).to_le_bytes());
                }
            }
            _ => unreachable!("{t} is not an activation type"),
        }
    }
    r
}

/// Σ|w_i·a_i| of the dequantized rows.
fn magnitude(w: GgmlType, n: usize, wr: &[u8], ar: &[u8]) -> f64 {
    let mut wf = vec![0.0f32; n];
    let mut af = vec![0.0f32; n];
    dequantize_row(w, wr, &mut wf).unwrap();
    dequantize_row(vec_dot_type(w), ar, &mut af).unwrap();
    wf.iter()
        .zip(&af)
        .map(|(&p, &q)| (p as f64 * q as f64).abs())
        .sum()
}

/// Every type with a dot product.
fn dot_types() -> Vec<GgmlType> {
    GgmlType::ALL
        .into_iter()
        .filter(|&t| has_vec_dot(t))
        .collect()
}

/// (weights, activations) rows of `n` elements: quantized gaussians, and
/// for quantized types raw weights with quantized / raw activations.
fn cases(rng: &mut Rng, w: GgmlType, n: usize) -> Vec<(Row, Row)> {
    let a = vec_dot_type(w);
    let mut v = vec![(quantized(rng, w, n), quantized(rng, a, n))];
    if !f16_fields(w).is_empty() {
        v.push((raw_weights(rng, w, n), quantized(rng, a, n)));
        v.push((raw_weights(rng, w, n), raw_activations(rng, a, n)));
    }
    v
}

/// Element counts: 1, 7 and a random number of blocks (floats also cover
/// each loop of the 16 / 8 / tail structure).
fn lengths(rng: &mut Rng, w: GgmlType) -> Vec<usize> {
    let bs = w.block_size();
    let mut v = vec![bs, 7 * bs, (2 + rng.below(40)) * bs];
    if bs == 1 {
        v.extend([8, 16, 23, 64, 100 + rng.below(2000)]);
    }
    v
}

/// `k`'s row dots against `quant::vec_dot` for every type; returns the
/// worst relative error.
fn check_table(k: &Kernels, seed: u64) -> f64 {
    let mut rng = Rng(seed);
    let mut worst = 0.0f64;
    for w in dot_types() {
        let f = k.dot(w).unwrap_or_else(|| panic!("no NEON dot for {w}"));
        for n in lengths(&mut rng, w) {
            for (wr, ar) in cases(&mut rng, w, n) {
                let want = quant::vec_dot(w, n, wr.bytes(), ar.bytes()) as f64;
                let got = f(n, wr.bytes(), ar.bytes()) as f64;
                assert_eq!(got as f32, (k.vec_dot)(w, n, wr.bytes(), ar.bytes()));
                let mag = magnitude(w, n, wr.bytes(), ar.bytes());
                let err = (got - want).abs();
                assert!(
                    err <= 1e-5 * mag + 1e-30,
                    "{w} n={n}: neon {got} vs scalar {want} (|err| {err:e} > 1e-5 * {mag:e})"
                );
                worst = worst.max(err / mag.max(f64::MIN_POSITIVE));
            }
        }
        // No blocks: zero.
        assert_eq!(f(0, &[], &[]), 0.0, "{w}: empty row");
    }
    worst
}

fn have_dotprod() -> bool {
    let ok = has_dotprod();
    if !ok {
        println!("skipped: this CPU has no dot product extension (sdot)");
    }
    ok
}

#[test]
fn baseline_matches_scalar() {
    let worst = check_table(&NEON, 1);
    println!("baseline NEON: worst relative error {worst:e}");
}

#[test]
fn dotprod_matches_scalar() {
    if !have_dotprod() {
        return;
    }
    let worst = check_table(&NEON_DOTPROD, 2);
    println!("NEON sdot: worst relative error {worst:e}");
}

#[test]
fn dotprod_equals_baseline_bit_for_bit() {
    if !have_dotprod() {
        return;
    }
    let mut rng = Rng(3);
    for w in dot_types() {
        let (base, fast) = (NEON.dot(w).unwrap(), NEON_DOTPROD.dot(w).unwrap());
        for n in lengths(&mut rng, w) {
            for (wr, ar) in cases(&mut rng, w, n) {
                let (b, f) = (
                    base(n, wr.bytes(), ar.bytes()),
                    fast(n, wr.bytes(), ar.bytes()),
                );
                assert_eq!(b.to_bits(), f.to_bits(), "{w} n={n}: {b} vs {f}");
            }
        }
    }
}

#[test]
fn misaligned_and_longer_rows_are_fine() {
    let mut rng = Rng(4);
    let tables: Vec<&Kernels> = if has_dotprod() {
        vec![&NEON, &NEON_DOTPROD]
    } else {
        vec![&NEON]
    };
    for k in tables {
        for w in dot_types() {
            let n = 3 * w.block_size();
            for (wr, ar) in cases(&mut rng, w, n) {
                let want = quant::vec_dot(w, n, wr.bytes(), ar.bytes());
                let aligned = k.dot(w).unwrap()(n, wr.bytes(), ar.bytes());
                // Shifted by one byte: the scalar fallback, bit for bit.
                let mut ws = vec![0u8; wr.len + 1];
                ws[1..].copy_from_slice(wr.bytes());
                let mut as_ = vec![0u8; ar.len + 1];
                as_[1..].copy_from_slice(ar.bytes());
                let (ws, as_) = (&ws[1..], &as_[1..]);
                let fallback = quant::vec_dot(w, n, ws, as_);
                assert_eq!(k.dot(w).unwrap()(n, ws, as_).to_bits(), fallback.to_bits());
                let mag = magnitude(w, n, wr.bytes(), ar.bytes());
                assert!((aligned - want).abs() as f64 <= 1e-5 * mag + 1e-30, "{w}");
                // Rows longer than n elements: only the first n count.
                let mut long_w = Row::zeroed(wr.len + 300);
                long_w.bytes_mut().fill(0x55);
                long_w.bytes_mut()[..wr.len].copy_from_slice(wr.bytes());
                let mut long_a = Row::zeroed(ar.len + 300);
                long_a.bytes_mut()[..ar.len].copy_from_slice(ar.bytes());
                let long = k.dot(w).unwrap()(n, long_w.bytes(), long_a.bytes());
                assert_eq!(long.to_bits(), aligned.to_bits(), "{w}");
            }
        }
    }
}

#[test]
fn quantize_row_is_the_reference() {
    let mut rng = Rng(5);
    let x: Vec<f32> = (0..512).map(|_| rng.gauss()).collect();
    for t in [GgmlType::Q8_0, GgmlType::Q8_1, GgmlType::Q8_K] {
        let mut a = Row::zeroed(row_bytes(t, 512));
        let mut b = Row::zeroed(row_bytes(t, 512));
        (NEON.quantize_row)(t, &x, a.bytes_mut()).unwrap();
        quantize_row(t, &x, b.bytes_mut()).unwrap();
        assert_eq!(a.bytes(), b.bytes(), "{t}");
    }
    assert!((NEON.quantize_row)(GgmlType::Q8_0, &x[..31], &mut [0u8; 34]).is_err());
}

#[test]
fn neon_is_detected_and_selected() {
    assert!(Isa::Neon.detected());
    let k = crate::arch::table(Isa::Neon).expect("NEON table on aarch64");
    assert_eq!(k.isa, Isa::Neon);
    let var = std::env::var("WASM_CHORD_NEON_SDOT").ok();
    let sdot = has_dotprod() && sdot_allowed(var.as_deref());
    let want: *const Kernels = if sdot { &NEON_DOTPROD } else { &NEON };
    assert_eq!(k as *const Kernels, want);
    assert!(crate::arch::available().contains(&Isa::Neon));
    // The best table unless WASM_CHORD_ISA forces another.
    if std::env::var("WASM_CHORD_ISA").is_err() {
        assert_eq!(crate::arch::select().isa, Isa::Neon);
    }
    for isa in [Isa::Avx2, Isa::Avx512, Isa::Simd128] {
        assert!(!isa.detected() && crate::arch::table(isa).is_none());
    }
}

#[test]
fn sdot_switch() {
    assert!(sdot_allowed(None));
    assert!(sdot_allowed(Some("1")));
    assert!(!sdot_allowed(Some("0")));
    assert!(!sdot_allowed(Some(" 0 ")));
}
