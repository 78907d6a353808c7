//! F32, F16 and BF16: "blocks" of one element each.
//!
//! Conversions round to nearest, ties to even (as ggml's `ggml_fp32_to_fp16`
//! and `ggml_compute_fp32_to_bf16`). The reference dot products accumulate
//! each product in f64, as ggml's generic `ggml_vec_dot_{f32,f16,bf16}` do
//! (their `ggml_float` is `double`).

use half::{bf16, f16};

// x: [n] f32 -> y: [n] f32
pub fn dequantize_f32(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "f32 copy: length mismatch");
    y.copy_from_slice(x);
}

// x: [n] f32 -> y: [n] f32
pub fn quantize_f32(x: &[f32], y: &mut [f32]) {
    dequantize_f32(x, y);
}

// x: [n] f16 -> y: [n] f32
pub fn dequantize_f16(x: &[f16], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "f16 dequantize: length mismatch");
    for (o, v) in y.iter_mut().zip(x) {
        *o = v.to_f32();
    }
}

// x: [n] f32 -> y: [n] f16 (round to nearest even; overflow to ±inf)
pub fn quantize_f16(x: &[f32], y: &mut [f16]) {
    assert_eq!(x.len(), y.len(), "f16 quantize: length mismatch");
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f16::from_f32(v);
    }
}

/// bf16 -> f32 is exact: the bf16 bits are the f32's upper half.
pub fn bf16_to_f32(v: bf16) -> f32 {
    f32::from_bits((v.to_bits() as u32) << 16)
}

/// f32 -> bf16, round to nearest even; NaNs stay NaN (forced quiet).
pub fn f32_to_bf16(v: f32) -> bf16 {
    let u = v.to_bits();
    if u & 0x7fff_ffff > 0x7f80_0000 {
        return bf16::from_bits(((u >> 16) | 0x40) as u16);
    }
    let rounded = (u as u64 + 0x7fff + ((u >> 16) & 1) as u64) >> 16;
    bf16::from_bits(rounded as u16)
}

// x: [n] bf16 -> y: [n] f32
pub fn dequantize_bf16(x: &[bf16], y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "bf16 dequantize: length mismatch");
    for (o, &v) in y.iter_mut().zip(x) {
        *o = bf16_to_f32(v);
    }
}

// x: [n] f32 -> y: [n] bf16
pub fn quantize_bf16(x: &[f32], y: &mut [bf16]) {
    assert_eq!(x.len(), y.len(), "bf16 quantize: length mismatch");
    for (o, &v) in y.iter_mut().zip(x) {
        *o = f32_to_bf16(v);
    }
}

/// Sums f32 products in f64 and rounds once at the end (ggml's generic
/// float dot products).
pub(crate) fn sum_products(products: impl Iterator<Item = f32>) -> f32 {
    let mut sum = 0.0f64;
    for p in products {
        sum += p as f64;
    }
    sum as f32
}

// x: [n] f32, y: [n] f32 -> sum(x * y), each product in f32, summed in f64
pub fn vec_dot_f32_f32(x: &[f32], y: &[f32]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    sum_products(x.iter().zip(y).map(|(&a, &b)| a * b))
}

// x: [n] f16, y: [n] f16 -> sum(x * y), each product in f32, summed in f64
pub fn vec_dot_f16_f16(x: &[f16], y: &[f16]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    sum_products(x.iter().zip(y).map(|(a, b)| a.to_f32() * b.to_f32()))
}

// x: [n] bf16, y: [n] bf16 -> sum(x * y), each product in f32, summed in f64
pub fn vec_dot_bf16_bf16(x: &[bf16], y: &[bf16]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    sum_products(
        x.iter()
            .zip(y)
            .map(|(&a, &b)| bf16_to_f32(a) * bf16_to_f32(b)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even() {
        // 1.0 + 2^-8 is exactly halfway between two bf16 values: ties to even (1.0).
        assert_eq!(f32_to_bf16(1.0 + 1.0 / 256.0).to_bits(), 0x3f80);
        // 1.0 + 3 * 2^-8 is halfway too: ties to even (1.0 + 2^-6).
        assert_eq!(f32_to_bf16(1.0 + 3.0 / 256.0).to_bits(), 0x3f82);
        // Just above halfway rounds up.
        assert_eq!(f32_to_bf16(f32::from_bits(0x3f80_8001)).to_bits(), 0x3f81);
        assert!(bf16_to_f32(f32_to_bf16(f32::NAN)).is_nan());
        assert_eq!(f32_to_bf16(f32::INFINITY).to_bits(), 0x7f80);
        assert_eq!(f32_to_bf16(-2.5).to_bits(), 0xc020);
    }

    #[test]
    fn f16_round_trip_and_dot() {
        let x = [1.0f32, -2.0, 0.5, 65504.0];
        let mut h = [f16::ZERO; 4];
        quantize_f16(&x, &mut h);
        let mut back = [0.0f32; 4];
        dequantize_f16(&h, &mut back);
        assert_eq!(back, x);
        let y = [f16::from_f32(2.0); 4];
        assert_eq!(vec_dot_f16_f16(&h, &y), 2.0 * (1.0 - 2.0 + 0.5 + 65504.0));
    }

    #[test]
    fn f32_dot_accumulates_in_f64() {
        // In f32, 1e8 + 1 - 1e8 loses the 1; in f64 it does not.
        let x = [1e8f32, 1.0, -1e8];
        let y = [1.0f32; 3];
        assert_eq!(vec_dot_f32_f32(&x, &y), 1.0);
    }
}
