//! ggml's check of quantized data before it is written: every f16 scale (or
//! every value of a float type) must be finite. Non-finite input gives
//! non-finite scales, and llama-quantize refuses to write them.

use gguf::GgmlType;

/// Offsets of the f16 scale fields within one block.
fn scale_offsets(t: GgmlType) -> &'static [usize] {
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

/// Whether `bytes` (whole blocks of `t`) hold only finite values / scales.
pub(crate) fn is_finite(t: GgmlType, bytes: &[u8]) -> bool {
    let u16_at = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    match t {
        GgmlType::F32 => bytes
            .chunks_exact(4)
            .all(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]).is_finite()),
        GgmlType::F16 => bytes
            .chunks_exact(2)
            .all(|b| u16_at(b, 0) & 0x7c00 != 0x7c00),
        GgmlType::BF16 => bytes
            .chunks_exact(2)
            .all(|b| u16_at(b, 0) & 0x7f80 != 0x7f80),
        _ => {
            let offsets = scale_offsets(t);
            bytes
                .chunks_exact(t.type_size())
                .all(|b| offsets.iter().all(|&o| u16_at(b, o) & 0x7c00 != 0x7c00))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_non_finite_scales() {
        let x: Vec<f32> = (0..256).map(|i| i as f32 - 100.0).collect();
        for t in [GgmlType::Q4_0, GgmlType::Q2_K, GgmlType::F16] {
            let mut q = vec![0u8; t.row_bytes(256).unwrap() as usize];
            kernels::quant::quantize_row(t, &x, &mut q).unwrap();
            assert!(is_finite(t, &q), "{t}");
            let mut bad = x.clone();
            bad[7] = f32::INFINITY;
            kernels::quant::quantize_row(t, &bad, &mut q).unwrap();
            assert!(!is_finite(t, &q), "{t} with an infinity");
        }
    }
}
