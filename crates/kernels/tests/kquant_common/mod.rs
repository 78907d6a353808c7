//! Shared helpers of the k-quant integration tests: fixture loading, a tiny
//! deterministic RNG, and a uniform view of the six k-quant types.
#![allow(dead_code)]

use bytemuck::{Pod, Zeroable};
use half::f16;
use kernels::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K, QK_K};
use kernels::quant::{q2_k, q3_k, q4_k, q5_k, q6_k, q8_k};
use kernels::GgmlType;
use std::path::PathBuf;

pub fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/quant")
        .join(name)
}

pub fn read_fixture(name: &str) -> Vec<u8> {
    let p = fixture_path(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("reading fixture {}: {e}", p.display()))
}

pub fn read_f32(name: &str) -> Vec<f32> {
    let bytes = read_fixture(name);
    assert_eq!(bytes.len() % 4, 0, "{name}: not whole f32s");
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Copies bytes into properly aligned blocks.
pub fn read_blocks<B: Pod>(bytes: &[u8]) -> Vec<B> {
    let size = std::mem::size_of::<B>();
    assert_eq!(bytes.len() % size, 0, "not whole blocks of {size} bytes");
    bytes
        .chunks_exact(size)
        .map(bytemuck::pod_read_unaligned)
        .collect()
}

/// SplitMix64: deterministic, dependency-free.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn gaussian_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.gauss()).collect()
    }
    /// A finite f16 of magnitude 2^-12 .. 2^0, random sign.
    pub fn sane_f16(&mut self) -> f16 {
        let mag = (2.0f64).powf(-12.0 + 12.0 * self.uniform());
        let sign = if self.next_u64() & 1 == 0 { 1.0 } else { -1.0 };
        f16::from_f64(sign * mag)
    }
    pub fn fill_bytes(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next_u64() as u8;
        }
    }
}

/// One k-quant weight type with its reference functions, for table-driven tests.
pub struct KType {
    pub name: &'static str,
    pub ty: GgmlType,
    pub block_bytes: usize,
    /// Byte offsets of the f16 scale fields in a block.
    pub f16_fields: &'static [usize],
    pub dequantize: fn(&[u8], &mut [f32]),
    pub quantize: fn(&[f32]) -> Vec<u8>,
    pub vec_dot: fn(&[u8], &[BlockQ8K]) -> f32,
}

fn deq<B: Pod>(bytes: &[u8], y: &mut [f32], f: fn(&[B], &mut [f32])) {
    f(&read_blocks::<B>(bytes), y)
}

fn qua<B: Pod + Zeroable>(x: &[f32], f: fn(&[f32], &mut [B])) -> Vec<u8> {
    let mut blocks = vec![B::zeroed(); x.len() / QK_K];
    f(x, &mut blocks);
    bytemuck::cast_slice(&blocks).to_vec()
}

fn dot<B: Pod>(bytes: &[u8], a: &[BlockQ8K], f: fn(&[B], &[BlockQ8K]) -> f32) -> f32 {
    f(&read_blocks::<B>(bytes), a)
}

pub const KTYPES: [KType; 5] = [
    KType {
        name: "q2_k",
        ty: GgmlType::Q2_K,
        block_bytes: 84,
        f16_fields: &[80, 82],
        dequantize: |b, y| deq::<BlockQ2K>(b, y, q2_k::dequantize),
        quantize: |x| qua::<BlockQ2K>(x, q2_k::quantize),
        vec_dot: |b, a| dot::<BlockQ2K>(b, a, q2_k::vec_dot_q2_k_q8_k),
    },
    KType {
        name: "q3_k",
        ty: GgmlType::Q3_K,
        block_bytes: 110,
        f16_fields: &[108],
        dequantize: |b, y| deq::<BlockQ3K>(b, y, q3_k::dequantize),
        quantize: |x| qua::<BlockQ3K>(x, q3_k::quantize),
        vec_dot: |b, a| dot::<BlockQ3K>(b, a, q3_k::vec_dot_q3_k_q8_k),
    },
    KType {
        name: "q4_k",
        ty: GgmlType::Q4_K,
        block_bytes: 144,
        f16_fields: &[0, 2],
        dequantize: |b, y| deq::<BlockQ4K>(b, y, q4_k::dequantize),
        quantize: |x| qua::<BlockQ4K>(x, q4_k::quantize),
        vec_dot: |b, a| dot::<BlockQ4K>(b, a, q4_k::vec_dot_q4_k_q8_k),
    },
    KType {
        name: "q5_k",
        ty: GgmlType::Q5_K,
        block_bytes: 176,
        f16_fields: &[0, 2],
        dequantize: |b, y| deq::<BlockQ5K>(b, y, q5_k::dequantize),
        quantize: |x| qua::<BlockQ5K>(x, q5_k::quantize),
        vec_dot: |b, a| dot::<BlockQ5K>(b, a, q5_k::vec_dot_q5_k_q8_k),
    },
    KType {
        name: "q6_k",
        ty: GgmlType::Q6_K,
        block_bytes: 210,
        f16_fields: &[208],
        dequantize: |b, y| deq::<BlockQ6K>(b, y, q6_k::dequantize),
        quantize: |x| qua::<BlockQ6K>(x, q6_k::quantize),
        vec_dot: |b, a| dot::<BlockQ6K>(b, a, q6_k::vec_dot_q6_k_q8_k),
    },
];

pub fn quantize_q8_k(x: &[f32]) -> Vec<BlockQ8K> {
    let mut blocks = vec![BlockQ8K::zeroed(); x.len() / QK_K];
    q8_k::quantize(x, &mut blocks);
    blocks
}

pub fn dequantize_q8_k(a: &[BlockQ8K]) -> Vec<f32> {
    let mut y = vec![0.0; a.len() * QK_K];
    q8_k::dequantize(a, &mut y);
    y
}

/// `n` random blocks of `t`: random bytes with every f16 scale field sane.
pub fn random_blocks(t: &KType, n: usize, rng: &mut Rng) -> Vec<u8> {
    let mut bytes = vec![0u8; n * t.block_bytes];
    rng.fill_bytes(&mut bytes);
    for block in bytes.chunks_exact_mut(t.block_bytes) {
        for &off in t.f16_fields {
            block[off..off + 2].copy_from_slice(&rng.sane_f16().to_le_bytes());
        }
    }
    bytes
}

pub fn rmse(a: &[f32], b: &[f32]) -> f64 {
    let s: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| ((x - y) as f64).powi(2))
        .sum();
    (s / a.len() as f64).sqrt()
}
