//! Rows of every block type for the kernel tests: quantized from normal
//! values, raw random bytes (quants over their whole range, sane or
//! extreme scales), or unit-scaled so that every dot product is an exact
//! integer.

use super::rng::Rng;
use crate::blocks::BlockQ8K;
use crate::quant::{self, row_bytes, vec_dot_type};
use gguf::GgmlType::{self, *};
use half::{bf16, f16};

/// Every type with a dot product (weights), in a fixed order.
pub const DOT_TYPES: [GgmlType; 13] = [
    Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, F32, F16, BF16,
];

/// Bytes in u64 storage, so casts to any block type are aligned.
pub struct Row(Vec<u64>, usize);

impl Row {
    pub fn zeroed(len: usize) -> Row {
        Row(vec![0; len.div_ceil(8)], len)
    }
    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.0)[..self.1]
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.0)[..self.1]
    }
}

/// Byte offsets of the f16 fields of a block of type `t` (the Q8_1 sum
/// included).
pub fn f16_fields(t: GgmlType) -> &'static [usize] {
    match t {
        Q4_0 | Q5_0 | Q8_0 => &[0],
        Q4_1 | Q5_1 | Q8_1 | Q4_K | Q5_K => &[0, 2],
        Q2_K => &[80, 82],
        Q3_K => &[108],
        Q6_K => &[208],
        _ => &[],
    }
}

/// What a generated row holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Data {
    /// Normal values (one in 64 an outlier) through the scalar quantizer.
    Quantized,
    /// Random bytes, scales of magnitude 2^-12 .. 1.
    Raw,
    /// Random bytes, scales at the ends of their range (±65504, f16
    /// subnormals; Q8_K d of 1e-30 and 1e30); floats times 1e4.
    Extreme,
    /// Random quants with every scale 1 and activation quants in -2..=2
    /// (floats: integers in -8..=8): every dot product of up to 7
    /// super-blocks is an integer below 2^24, so every kernel must give it
    /// exactly.
    Unit,
}

/// One weight row of `n` elements of type `t` (raw Q8_0 weights over the
/// whole i8 range).
pub fn row(rng: &mut Rng, t: GgmlType, n: usize, data: Data) -> Row {
    fill(rng, t, n, data, false)
}

/// One activation row of `n` elements of type `t` (Q8_0, Q8_1, Q8_K or a
/// float type), stored sums consistent with the quants. Raw Q8_0 / Q8_1
/// quants stay in -127..=127, as every quantizer writes them: ggml's AVX2
/// legacy dots (and ours, in its order) take the sign of the weight onto
/// the activation with `sign_epi8`, which cannot negate -128.
pub fn act_row(rng: &mut Rng, t: GgmlType, n: usize, data: Data) -> Row {
    fill(rng, t, n, data, true)
}

fn fill(rng: &mut Rng, t: GgmlType, n: usize, data: Data, act: bool) -> Row {
    let mut r = Row::zeroed(row_bytes(t, n));
    if matches!(t, F32 | F16 | BF16) {
        let x: Vec<f32> = (0..n)
            .map(|_| match data {
                Data::Unit => rng.below(17) as f32 - 8.0,
                Data::Extreme => 1e4 * rng.gauss(),
                _ => rng.value(),
            })
            .collect();
        write_floats(t, &x, r.bytes_mut());
        return r;
    }
    if data == Data::Quantized {
        let x: Vec<f32> = (0..n).map(|_| rng.value()).collect();
        quant::quantize_row(t, &x, r.bytes_mut()).unwrap();
        return r;
    }
    let symmetric = act && matches!(t, Q8_0 | Q8_1);
    for b in r.bytes_mut() {
        *b = match rng.next() as u8 {
            _ if data == Data::Unit && act => (rng.below(5) as i8 - 2) as u8,
            0x80 if symmetric => 0x81,
            v => v,
        };
    }
    for block in r.bytes_mut().chunks_exact_mut(t.type_size()) {
        match t {
            Q8_1 => {
                let d = scale(rng, data);
                let sum: i32 = block[4..].iter().map(|&q| q as i8 as i32).sum();
                let s = f16::from_f32(d.to_f32() * sum as f32);
                block[0..2].copy_from_slice(&d.to_le_bytes());
                block[2..4].copy_from_slice(&s.to_le_bytes());
            }
            Q8_K => {
                let q8k: &mut BlockQ8K = bytemuck::from_bytes_mut(block);
                q8k.d = match data {
                    Data::Extreme => [1e-30, 1e30, 1.0][rng.below(3)],
                    Data::Unit => 1.0,
                    _ => rng.unit() * 0.02 + 1e-4,
                };
                for (s, g) in q8k.bsums.iter_mut().zip(q8k.qs.chunks_exact(16)) {
                    *s = g.iter().map(|&q| q as i16).sum();
                }
            }
            _ => {
                for &off in f16_fields(t) {
                    let h = scale(rng, data);
                    block[off..off + 2].copy_from_slice(&h.to_le_bytes());
                }
            }
        }
    }
    r
}

/// A block scale for `data`.
fn scale(rng: &mut Rng, data: Data) -> f16 {
    let mag = match data {
        Data::Extreme => [65504.0, 6.0e-8, 3.0e-5, 1.0][rng.below(4)],
        Data::Unit => 1.0,
        _ => 2f32.powf(-12.0 + 12.0 * rng.unit()),
    };
    f16::from_f32(rng.signed(mag))
}

/// `x` stored as F32, F16 or BF16 bytes.
pub fn write_floats(t: GgmlType, x: &[f32], out: &mut [u8]) {
    match t {
        F32 => out.copy_from_slice(bytemuck::cast_slice(x)),
        F16 => {
            let h: Vec<f16> = x.iter().map(|&v| f16::from_f32(v)).collect();
            out.copy_from_slice(bytemuck::cast_slice(&h));
        }
        BF16 => {
            let h: Vec<bf16> = x.iter().map(|&v| bf16::from_f32(v)).collect();
            out.copy_from_slice(bytemuck::cast_slice(&h));
        }
        _ => panic!("{t} is not a float type"),
    }
}

/// The `n` values of a row of type `t`.
pub fn dequantize(t: GgmlType, q: &[u8], n: usize) -> Vec<f32> {
    let mut y = vec![0f32; n];
    quant::dequantize_row(t, q, &mut y).unwrap();
    y
}

/// Σ|w_i·a_i| over the dequantized rows: the scale of a dot product's
/// rounding error.
pub fn magnitude(w: GgmlType, n: usize, wr: &[u8], ar: &[u8]) -> f64 {
    dequantize(w, wr, n)
        .iter()
        .zip(dequantize(vec_dot_type(w), ar, n))
        .map(|(&p, q)| (p as f64 * q as f64).abs())
        .sum()
}

/// Sets every f16 field of every block of `r` (type `t`) to 1.
pub fn unit_scales(r: &mut Row, t: GgmlType) {
    let one = f16::ONE.to_le_bytes();
    for block in r.bytes_mut().chunks_exact_mut(t.type_size()) {
        for &off in f16_fields(t) {
            block[off..off + 2].copy_from_slice(&one);
        }
    }
}

/// An activation row of `n` elements of type `at`, every quant `q8`, unit
/// scales (and the matching Q8_K `bsums`).
pub fn constant_acts(at: GgmlType, n: usize, q8: i8) -> Row {
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
        if at == Q8_1 {
            let s = f16::from_f32(32.0 * q8 as f32).to_le_bytes();
            for block in a.bytes_mut().chunks_exact_mut(at.type_size()) {
                block[2..4].copy_from_slice(&s);
            }
        }
    }
    a
}
