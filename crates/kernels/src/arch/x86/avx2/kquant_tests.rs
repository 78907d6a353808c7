//! The AVX2 k-quant kernels against the scalar references in `quant::q*_k`,
//! at 1, 7 and random block counts on random data.
//!
//! Dots: the integer sums are exact in both, only the f32 summation order
//! differs, so we allow 1e-5 · Σ|w_i·a_i| (Σ over the dequantized products).
//! The Q8_K quantizer must write identical bytes.
//!
//! Tests print a message and pass if this CPU lacks AVX2, FMA or F16C.

use super::*;
use crate::arch::Isa;
use crate::quant::{q2_k, q3_k, q4_k, q5_k, q6_k, q8_k};
use bytemuck::{Pod, Zeroable};
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
    fn gaussian(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.gauss()).collect()
    }
    /// A finite f16 of magnitude 2^-12 .. 2^0, random sign.
    fn sane_f16(&mut self) -> f16 {
        let mag = 2f32.powf(-12.0 + 12.0 * self.uniform());
        f16::from_f32(if self.next() & 1 == 0 { mag } else { -mag })
    }
    /// Blocks of random bytes with every f16 field replaced by a sane value.
    fn blocks<B: Pod>(&mut self, nb: usize, f16_fields: &[usize]) -> Vec<B> {
        let mut v = vec![B::zeroed(); nb];
        for b in &mut v {
            let bytes = bytemuck::bytes_of_mut(b);
            bytes.iter_mut().for_each(|x| *x = self.next() as u8);
            for &off in f16_fields {
                bytes[off..off + 2].copy_from_slice(&self.sane_f16().to_le_bytes());
            }
        }
        v
    }
}

fn have_avx2() -> bool {
    let ok = Isa::Avx2.detected();
    if !ok {
        println!("skipped: this CPU lacks AVX2/FMA/F16C");
    }
    ok
}

/// Activations: scalar-quantized gaussians, or raw random Q8_K blocks with
/// quants over the whole i8 range (-128 included) and consistent bsums.
fn activations(rng: &mut Rng, nb: usize, raw: bool) -> Vec<BlockQ8K> {
    let mut y = vec![BlockQ8K::zeroed(); nb];
    if raw {
        for b in &mut y {
            b.d = rng.uniform() * 0.02 + 1e-4;
            b.qs.iter_mut().for_each(|q| *q = rng.next() as i8);
            for (s, g) in b.bsums.iter_mut().zip(b.qs.chunks_exact(16)) {
                *s = g.iter().map(|&q| q as i16).sum();
            }
        }
    } else {
        q8_k::quantize(&rng.gaussian(nb * QK_K), &mut y);
    }
    y
}

/// Σ|w_i·a_i| of the dequantized rows.
fn magnitude(w: &[f32], y: &[BlockQ8K]) -> f64 {
    let mut a = vec![0.0; y.len() * QK_K];
    q8_k::dequantize(y, &mut a);
    w.iter()
        .zip(&a)
        .map(|(&p, &q)| (p as f64 * q as f64).abs())
        .sum()
}

struct Case<B> {
    name: &'static str,
    f16_fields: &'static [usize],
    quantize: fn(&[f32], &mut [B]),
    dequantize: fn(&[B], &mut [f32]),
    reference: fn(&[B], &[BlockQ8K]) -> f32,
    simd: unsafe fn(&[B], &[BlockQ8K]) -> f32,
}

fn check_dot<B: Pod>(c: &Case<B>, seed: u64) {
    if !have_avx2() {
        return;
    }
    let mut rng = Rng(seed);
    let random_nb = 2 + rng.below(40);
    let mut worst = 0.0f64;
    for nb in [1, 7, random_nb] {
        for (raw_w, raw_a) in [(true, false), (false, false), (true, true)] {
            let w: Vec<B> = if raw_w {
                rng.blocks(nb, c.f16_fields)
            } else {
                let mut w = vec![B::zeroed(); nb];
                (c.quantize)(&rng.gaussian(nb * QK_K), &mut w);
                w
            };
            let y = activations(&mut rng, nb, raw_a);
            let mut wf = vec![0.0; nb * QK_K];
            (c.dequantize)(&w, &mut wf);
            let mag = magnitude(&wf, &y);
            let want = (c.reference)(&w, &y) as f64;
            // SAFETY: AVX2, FMA and F16C were detected above.
            let got = unsafe { (c.simd)(&w, &y) } as f64;
            let err = (got - want).abs();
            assert!(
                err <= 1e-5 * mag,
                "{} nb={nb} raw weights {raw_w} raw acts {raw_a}: avx2 {got} vs scalar {want} \
                 (|err| {err:e} > 1e-5 * {mag:e})",
                c.name
            );
            worst = worst.max(err / mag.max(f64::MIN_POSITIVE));
        }
    }
    // No blocks: zero.
    // SAFETY: AVX2, FMA and F16C were detected above.
    assert_eq!(unsafe { (c.simd)(&[], &[]) }, 0.0);
    println!(
        "{}: worst relative error {worst:.2e} (blocks 1, 7, {random_nb})",
        c.name
    );
}

#[test]
fn q4_k_matches_reference() {
    check_dot(
        &Case {
            name: "q4_k",
            f16_fields: &[0, 2],
            quantize: q4_k::quantize,
            dequantize: q4_k::dequantize,
            reference: q4_k::vec_dot_q4_k_q8_k,
            simd: vec_dot_q4_k_q8_k,
        },
        0x4444,
    );
}

#[test]
fn q5_k_matches_reference() {
    check_dot(
        &Case {
            name: "q5_k",
            f16_fields: &[0, 2],
            quantize: q5_k::quantize,
            dequantize: q5_k::dequantize,
            reference: q5_k::vec_dot_q5_k_q8_k,
            simd: vec_dot_q5_k_q8_k,
        },
        0x5555,
    );
}

#[test]
fn q6_k_matches_reference() {
    check_dot(
        &Case {
            name: "q6_k",
            f16_fields: &[208],
            quantize: q6_k::quantize,
            dequantize: q6_k::dequantize,
            reference: q6_k::vec_dot_q6_k_q8_k,
            simd: vec_dot_q6_k_q8_k,
        },
        0x6666,
    );
}

#[test]
fn q3_k_matches_reference() {
    check_dot(
        &Case {
            name: "q3_k",
            f16_fields: &[108],
            quantize: q3_k::quantize,
            dequantize: q3_k::dequantize,
            reference: q3_k::vec_dot_q3_k_q8_k,
            simd: vec_dot_q3_k_q8_k,
        },
        0x3333,
    );
}

#[test]
fn q2_k_matches_reference() {
    check_dot(
        &Case {
            name: "q2_k",
            f16_fields: &[80, 82],
            quantize: q2_k::quantize,
            dequantize: q2_k::dequantize,
            reference: q2_k::vec_dot_q2_k_q8_k,
            simd: vec_dot_q2_k_q8_k,
        },
        0x2222,
    );
}

/// Extreme quants: every weight quant at its maximum against activations of
/// -128 / 127, where a saturating i16 step would show.
#[test]
fn extreme_quants_are_exact() {
    if !have_avx2() {
        return;
    }
    for q8 in [-128i8, 127] {
        let mut y = [BlockQ8K::zeroed()];
        y[0].d = 1.0;
        y[0].qs = [q8; QK_K];
        y[0].bsums = [16 * q8 as i16; 16];
        let one = f16::from_f32(1.0);

        let mut b4 = BlockQ4K::zeroed();
        (b4.d, b4.dmin) = (one, one);
        b4.scales = [0xFF; 12];
        b4.qs = [0xFF; 128];
        let mut b5 = BlockQ5K::zeroed();
        (b5.d, b5.dmin) = (one, one);
        b5.scales = [0xFF; 12];
        b5.qs = [0xFF; 128];
        b5.qh = [0xFF; 32];
        let mut b6 = BlockQ6K::zeroed();
        b6.d = one;
        b6.scales = [-128; 16];
        let mut b3 = BlockQ3K::zeroed(); // all quants -4, scales -32
        b3.d = one;
        let mut b2 = BlockQ2K::zeroed();
        (b2.d, b2.dmin) = (one, one);
        b2.scales = [0xFF; 16];
        b2.qs = [0xFF; 64];

        // SAFETY: AVX2, FMA and F16C were detected above.
        unsafe {
            assert_eq!(
                vec_dot_q4_k_q8_k(&[b4], &y),
                q4_k::vec_dot_q4_k_q8_k(&[b4], &y)
            );
            assert_eq!(
                vec_dot_q5_k_q8_k(&[b5], &y),
                q5_k::vec_dot_q5_k_q8_k(&[b5], &y)
            );
            assert_eq!(
                vec_dot_q6_k_q8_k(&[b6], &y),
                q6_k::vec_dot_q6_k_q8_k(&[b6], &y)
            );
            assert_eq!(
                vec_dot_q3_k_q8_k(&[b3], &y),
                q3_k::vec_dot_q3_k_q8_k(&[b3], &y)
            );
            assert_eq!(
                vec_dot_q2_k_q8_k(&[b2], &y),
                q2_k::vec_dot_q2_k_q8_k(&[b2], &y)
            );
        }
        // Spot-check one against the formula: Q6_K q = 0 -> (0 - 32) * -128 * q8 per element.
        let want = 256.0 * -32.0 * -128.0 * q8 as f32;
        assert_eq!(q6_k::vec_dot_q6_k_q8_k(&[b6], &y), want);
    }
}

fn assert_q8_k_identical(x: &[f32], what: &str) {
    let nb = x.len() / QK_K;
    let mut want = vec![BlockQ8K::zeroed(); nb];
    let mut got = vec![BlockQ8K::zeroed(); nb];
    // Garbage in the output, to see that every byte is written.
    bytemuck::cast_slice_mut::<BlockQ8K, u8>(&mut got).fill(0xA5);
    q8_k::quantize(x, &mut want);
    // SAFETY: callers checked AVX2, FMA and F16C.
    unsafe { quantize_row_q8_k(x, &mut got) };
    let (w, g): (&[u8], &[u8]) = (bytemuck::cast_slice(&want), bytemuck::cast_slice(&got));
    if let Some(i) = (0..w.len()).find(|&i| w[i] != g[i]) {
        panic!(
            "q8_k quantize {what}: byte {i} (block {}) avx2 {:#04x} vs scalar {:#04x}",
            i / 292,
            g[i],
            w[i]
        );
    }
}

#[test]
fn q8_k_quantize_bytes_identical() {
    if !have_avx2() {
        return;
    }
    let mut rng = Rng(0x8888);
    let random_nb = 2 + rng.below(60);
    for nb in [1, 7, random_nb] {
        for scale in [1.0f32, 1e-3, 37.0, 1e-30] {
            let x: Vec<f32> = rng.gaussian(nb * QK_K).iter().map(|v| v * scale).collect();
            assert_q8_k_identical(&x, &format!("gaussian*{scale} nb={nb}"));
        }
    }
    assert_q8_k_identical(&[], "empty");
}

#[test]
fn q8_k_quantize_edge_cases_identical() {
    if !have_avx2() {
        return;
    }
    let mut rng = Rng(0x8889);
    let mut blocks: Vec<(String, Vec<f32>)> = Vec::new();
    blocks.push(("zeros".into(), vec![0.0; QK_K]));
    blocks.push(("negative zeros".into(), vec![-0.0; QK_K]));
    // iscale = 1 exactly: every quant is a tie to round to even.
    let mut ties: Vec<f32> = (0..QK_K).map(|i| (i as f32 - 128.0) / 2.0).collect();
    ties[200] = -127.0;
    blocks.push(("ties".into(), ties));
    // Equal magnitudes, both signs: the first one sets the sign of d.
    for first_sign in [1.0f32, -1.0] {
        let mut x = rng.gaussian(QK_K);
        x[33] = 5.0 * first_sign;
        x[34] = -5.0 * first_sign;
        x[250] = 5.0;
        blocks.push((format!("tied max, sign {first_sign}"), x));
    }
    // Maximum in the last lane of the last vector.
    let mut x = rng.gaussian(QK_K);
    x[255] = -9.0;
    blocks.push(("max last".into(), x));
    // Non-finite values: the reference skips NaN when searching the maximum.
    let mut x = rng.gaussian(QK_K);
    x[3] = f32::NAN;
    x[100] = -f32::NAN;
    blocks.push(("nan".into(), x));
    let mut x = rng.gaussian(QK_K);
    x[17] = f32::NEG_INFINITY;
    blocks.push(("inf".into(), x));
    let mut x = vec![0.0; QK_K];
    x[5] = f32::NAN;
    blocks.push(("nan and zeros".into(), x));
    // Subnormals only.
    let x: Vec<f32> = (0..QK_K)
        .map(|i| f32::from_bits(1 + i as u32 * 7))
        .collect();
    blocks.push(("subnormal".into(), x));
    for (what, x) in &blocks {
        assert_q8_k_identical(x, what);
    }
    // All of them in one row too.
    let row: Vec<f32> = blocks.iter().flat_map(|(_, x)| x.iter().copied()).collect();
    assert_q8_k_identical(&row, "all edge blocks in one row");
}
