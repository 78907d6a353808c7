//! The AVX2 table's legacy and float kernels against the scalar reference.
//!
//! Dots: equal to `arch::scalar()` within 1e-5 * sum |w * a| (plus 1e-30)
//! at 1, 7 and random block counts, on Gaussian data, on data with outliers
//! and on extreme quants (Q8_0 weights of -128, activations of ±127).
//! Quantizers (Q8_0, Q8_1, Q8_K): identical bytes to the scalar reference,
//! including ties, zeros, NaN, ±inf, subnormal and huge blocks; same errors.
//! Every test prints a message and passes if the CPU lacks AVX2/FMA/F16C.

mod common;

use common::{misaligned_copy, Rng};
use kernels::arch::{self, Isa, Kernels};
use kernels::quant::{self, row_bytes, vec_dot_type};
use kernels::GgmlType::{self, *};

const DOT_TYPES: [GgmlType; 8] = [Q8_0, Q5_0, Q4_0, Q4_1, Q5_1, F32, F16, BF16];
const Q8_TYPES: [GgmlType; 3] = [Q8_0, Q8_1, Q8_K];

fn avx2() -> Option<&'static Kernels> {
    let k = arch::table(Isa::Avx2);
    if k.is_none() {
        println!("skipping: this CPU has no AVX2+FMA+F16C (or not x86_64)");
    }
    k
}

/// Bytes in a u64-aligned buffer (every block type's alignment is <= 8).
struct Aligned(Vec<u64>, usize);

impl Aligned {
    fn zeroed(len: usize) -> Aligned {
        Aligned(vec![0; len.div_ceil(8)], len)
    }
    fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.0)[..self.1]
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.0)[..self.1]
    }
}

fn quantize(k: &Kernels, t: GgmlType, x: &[f32]) -> Aligned {
    let mut q = Aligned::zeroed(row_bytes(t, x.len()));
    (k.quantize_row)(t, x, q.bytes_mut()).unwrap();
    q
}

fn dequantize(t: GgmlType, q: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n];
    quant::dequantize_row(t, q, &mut y).unwrap();
    y
}

/// Gaussian values with a few large outliers (as real activations have).
fn data(rng: &mut Rng, n: usize) -> Vec<f32> {
    let mut x = rng.gaussians(n, 1.0);
    for _ in 0..n / 50 {
        let i = rng.range(0, n - 1);
        x[i] *= 20.0;
    }
    x
}

/// Checks the AVX2 dot of one weight row against the scalar one, through
/// `vec_dot`, `dot(ty)` and misaligned copies.
fn check_dot(k: &Kernels, t: GgmlType, n: usize, w: &[u8], a: &[u8], what: &str) {
    let at = vec_dot_type(t);
    let want = (arch::scalar().vec_dot)(t, n, w, a);
    let got = (k.vec_dot)(t, n, w, a);
    let by_type = k.dot(t).unwrap()(n, w, a);
    let mag: f64 = dequantize(t, &w[..row_bytes(t, n)], n)
        .iter()
        .zip(dequantize(at, &a[..row_bytes(at, n)], n))
        .map(|(&p, q)| (p as f64 * q as f64).abs())
        .sum();
    let tol = 1e-5 * mag + 1e-30;
    assert!(
        ((got - want) as f64).abs() <= tol,
        "{t} {what} n={n}: avx2 {got} vs scalar {want} (tol {tol:e})"
    );
    assert_eq!(
        got.to_bits(),
        by_type.to_bits(),
        "{t} {what}: vec_dot vs dot(ty)"
    );
    // Misaligned rows take the scalar path: same value as the reference.
    let (wb, wo) = misaligned_copy(w);
    let (ab, ao) = misaligned_copy(a);
    let mis = (k.vec_dot)(t, n, &wb[wo..wo + w.len()], &ab[ao..ao + a.len()]);
    assert!(
        ((mis - want) as f64).abs() <= tol,
        "{t} {what} misaligned: {mis} vs {want}"
    );
}

#[test]
fn dots_match_scalar_at_1_7_and_random_block_counts() {
    let Some(k) = avx2() else { return };
    let mut rng = Rng::new(0xa7_02);
    for t in DOT_TYPES {
        let mut counts = vec![1, 7, 8, 64];
        counts.extend((0..6).map(|_| rng.range(2, 300)));
        for nb in counts {
            let n = nb * 32;
            let w = quantize(arch::scalar(), t, &data(&mut rng, n));
            let a = quantize(arch::scalar(), vec_dot_type(t), &data(&mut rng, n));
            check_dot(k, t, n, w.bytes(), a.bytes(), "gaussian");
            // The first n elements of longer rows.
            if nb > 1 {
                let m = n - 32;
                check_dot(k, t, m, w.bytes(), a.bytes(), "prefix");
            }
        }
    }
}

#[test]
fn float_dots_with_odd_lengths() {
    let Some(k) = avx2() else { return };
    let mut rng = Rng::new(5);
    for t in [F32, F16, BF16] {
        for n in [1, 3, 8, 31, 33, 100, 1001] {
            let w = quantize(arch::scalar(), t, &data(&mut rng, n));
            let a = quantize(arch::scalar(), t, &data(&mut rng, n));
            check_dot(k, t, n, w.bytes(), a.bytes(), "odd length");
        }
    }
}

#[test]
fn extreme_quants_do_not_saturate() {
    let Some(k) = avx2() else { return };
    let nb = 9;
    let n = nb * 32;
    // Activations of all +127 / all -127 / alternating.
    let acts: [Vec<f32>; 3] = [
        vec![1.0; n],
        vec![-1.0; n],
        (0..n)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect(),
    ];
    for t in [Q8_0, Q5_0, Q4_0, Q4_1, Q5_1] {
        let bs = t.type_size();
        // Raw weight bytes: every quant byte 0x80 (Q8_0: -128; 4/5-bit:
        // nibbles 0 and 8) or 0xff (Q8_0: -1; nibbles 15), all fifth bits
        // set or clear; scales 1.0 (f16 0x3c00) and mins 0.5.
        for fill in [0x80u8, 0xff, 0x00] {
            let mut w = Aligned::zeroed(nb * bs);
            for b in w.bytes_mut().chunks_exact_mut(bs) {
                b.fill(fill);
                b[0..2].copy_from_slice(&0x3c00u16.to_le_bytes());
                if matches!(t, Q4_1 | Q5_1) {
                    b[2..4].copy_from_slice(&0x3800u16.to_le_bytes());
                }
            }
            for x in &acts {
                let a = quantize(arch::scalar(), vec_dot_type(t), x);
                check_dot(k, t, n, w.bytes(), a.bytes(), &format!("fill {fill:#x}"));
            }
        }
    }
}

/// Blocks of 32 (and 256 for Q8_K) exercising the quantizers' edge cases.
fn edge_blocks(rng: &mut Rng) -> Vec<Vec<f32>> {
    let mut blocks = Vec::new();
    // absmax 127 makes d = 1: k + 0.5 values are exact ties.
    let mut ties: Vec<f32> = (0..32).map(|i| i as f32 - 16.5).collect();
    ties[31] = 127.0;
    ties[30] = -0.5;
    blocks.push(ties);
    blocks.push(vec![0.0; 32]);
    blocks.push(vec![-0.0; 32]);
    let mut neg = data(rng, 32);
    neg[7] = -1000.0;
    blocks.push(neg);
    let mut nan = data(rng, 32);
    nan[3] = f32::NAN;
    nan[20] = -f32::NAN;
    blocks.push(nan);
    let mut inf = data(rng, 32);
    inf[9] = f32::INFINITY;
    blocks.push(inf);
    let mut ninf = data(rng, 32);
    ninf[0] = f32::NEG_INFINITY;
    ninf[1] = f32::INFINITY;
    blocks.push(ninf);
    blocks.push(data(rng, 32).iter().map(|v| v * 1e-39).collect()); // subnormal
    blocks.push(data(rng, 32).iter().map(|v| v * 1e-30).collect());
    blocks.push(data(rng, 32).iter().map(|v| v * 1e37).collect());
    blocks.push(data(rng, 32).iter().map(|v| v * 1e7).collect()); // d overflows f16
    blocks.push(
        (0..32)
            .map(|i| (i as f32 * 0.25).sin() * 3.0 + 1.0)
            .collect(),
    );
    blocks
}

fn check_quantizer(k: &Kernels, t: GgmlType, x: &[f32], what: &str) {
    let want = quantize(arch::scalar(), t, x);
    let got = quantize(k, t, x);
    assert_eq!(
        got.bytes(),
        want.bytes(),
        "{t} {what}: bytes differ (n={})",
        x.len()
    );
    // Misaligned output buffers (scalar path) give the same bytes too.
    let (mut buf, off) = misaligned_copy(want.bytes());
    buf[off..off + want.1].fill(0);
    (k.quantize_row)(t, x, &mut buf[off..off + want.1]).unwrap();
    assert_eq!(
        &buf[off..off + want.1],
        want.bytes(),
        "{t} {what}: misaligned"
    );
}

#[test]
fn q8_quantizers_write_identical_bytes() {
    let Some(k) = avx2() else { return };
    let mut rng = Rng::new(0x8);
    for t in Q8_TYPES {
        let bs = t.block_size();
        let mut counts = vec![1, 7];
        counts.extend((0..5).map(|_| rng.range(2, 64)));
        for nb in counts {
            check_quantizer(k, t, &data(&mut rng, nb * bs), "gaussian");
        }
        // Edge blocks, one row each (tiled to the block size).
        for (i, b) in edge_blocks(&mut rng).into_iter().enumerate() {
            let row: Vec<f32> = b.iter().cycle().take(bs * 2).copied().collect();
            check_quantizer(k, t, &row, &format!("edge block {i}"));
        }
    }
}

#[test]
fn quantizer_errors_match_scalar() {
    let Some(k) = avx2() else { return };
    for t in Q8_TYPES {
        let bs = t.block_size();
        let x = vec![1.0f32; bs + 1];
        let mut out = vec![0u8; row_bytes(t, bs) + t.type_size()];
        let want = (arch::scalar().quantize_row)(t, &x, &mut out);
        let got = (k.quantize_row)(t, &x, &mut out);
        assert!(got.is_err());
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{t} partial block");
        let x = vec![1.0f32; bs];
        let want = (arch::scalar().quantize_row)(t, &x, &mut out);
        let got = (k.quantize_row)(t, &x, &mut out);
        assert!(got.is_err());
        assert_eq!(format!("{got:?}"), format!("{want:?}"), "{t} wrong length");
    }
    // Types without an AVX2 quantizer go to the reference.
    let mut rng = Rng::new(3);
    for t in [F16, BF16, Q4_0, Q5_0, Q4_K, Q6_K] {
        check_quantizer(k, t, &data(&mut rng, 512), "reference passthrough");
    }
}

#[test]
fn avx2_is_selected_by_default_on_this_cpu() {
    let Some(k) = avx2() else { return };
    assert_eq!(k.isa, Isa::Avx2);
    assert!(arch::available().contains(&Isa::Avx2));
    // Unless forced otherwise, the best table is at least AVX2.
    if std::env::var("WASM_CHORD_ISA").is_err() {
        assert_ne!(arch::select().isa, Isa::Scalar);
    }
}
