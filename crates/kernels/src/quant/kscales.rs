//! Packed k-quant sub-block scales, written once.
//!
//! Q4_K and Q5_K store eight 6-bit scales and eight 6-bit mins in 12 bytes:
//! ```text
//! byte 0..4 : scale[0..4]  (bits 0..6) | scale[4..8] high 2 bits (bits 6..8)
//! byte 4..8 : min[0..4]    (bits 0..6) | min[4..8]   high 2 bits (bits 6..8)
//! byte 8..12: scale[4..8] low 4 bits (bits 0..4) | min[4..8] low 4 bits (bits 4..8)
//! ```
//! Q3_K stores sixteen 6-bit scales (biased by 32) in 12 bytes:
//! ```text
//! byte 0..8 : scale[0..8] low 4 bits (bits 0..4) | scale[8..16] low 4 bits (bits 4..8)
//! byte 8..12: byte 8+k holds the high 2 bits of scale[k], [k+4], [k+8], [k+12]
//!             at bits 0..2, 2..4, 4..6, 6..8
//! ```

use crate::blocks::K_SCALE_SIZE;

/// Scale and min of sub-block `j` (0..8) of a Q4_K / Q5_K block, both 0..64.
#[inline]
pub fn get_scale_min_k4(j: usize, q: &[u8; K_SCALE_SIZE]) -> (u8, u8) {
    if j < 4 {
        (q[j] & 63, q[j + 4] & 63)
    } else {
        let sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        let m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        (sc, m)
    }
}

/// All eight (scales, mins) of a Q4_K / Q5_K block.
#[inline]
pub fn unpack_scales_mins_k4(q: &[u8; K_SCALE_SIZE]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut m = [0u8; 8];
    for j in 0..8 {
        (sc[j], m[j]) = get_scale_min_k4(j, q);
    }
    (sc, m)
}

/// Packs eight scales and eight mins (each 0..64; higher bits are dropped)
/// into the Q4_K / Q5_K layout. Inverse of [`unpack_scales_mins_k4`].
pub fn pack_scales_mins_k4(sc: &[u8; 8], m: &[u8; 8]) -> [u8; K_SCALE_SIZE] {
    let mut q = [0u8; K_SCALE_SIZE];
    for j in 0..8 {
        let (ls, lm) = (sc[j] & 63, m[j] & 63);
        if j < 4 {
            q[j] = ls;
            q[j + 4] = lm;
        } else {
            q[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            q[j - 4] |= (ls >> 4) << 6;
            q[j] |= (lm >> 4) << 6;
        }
    }
    q
}

/// The sixteen raw 6-bit scales (0..64, still biased by 32) of a Q3_K block.
#[inline]
pub fn unpack_q3_k_scales(q: &[u8; K_SCALE_SIZE]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (j, o) in out.iter_mut().enumerate() {
        let low = if j < 8 { q[j] & 0xF } else { q[j - 8] >> 4 };
        let high = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
        *o = low | (high << 4);
    }
    out
}

/// Packs sixteen raw 6-bit scales (0..64; higher bits are dropped) into the
/// Q3_K layout. Inverse of [`unpack_q3_k_scales`].
pub fn pack_q3_k_scales(sc: &[u8; 16]) -> [u8; K_SCALE_SIZE] {
    let mut q = [0u8; K_SCALE_SIZE];
    for (j, &s) in sc.iter().enumerate() {
        let l = s & 63;
        if j < 8 {
            q[j] |= l & 0xF;
        } else {
            q[j - 8] |= (l & 0xF) << 4;
        }
        q[8 + j % 4] |= (l >> 4) << (2 * (j / 4));
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(state: &mut u64) -> u8 {
        *state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*state >> 33) as u8
    }

    #[test]
    fn k4_pack_unpack_round_trip() {
        let mut s = 7u64;
        for _ in 0..200 {
            let sc: [u8; 8] = std::array::from_fn(|_| lcg(&mut s) & 63);
            let m: [u8; 8] = std::array::from_fn(|_| lcg(&mut s) & 63);
            let packed = pack_scales_mins_k4(&sc, &m);
            assert_eq!(unpack_scales_mins_k4(&packed), (sc, m));
        }
    }

    #[test]
    fn k4_unpack_matches_bit_layout() {
        // scale[5] = 0b10_1101 (45): low nibble in byte 9 bits 0..4, high bits in byte 1 bits 6..8.
        // min[5]   = 0b01_0011 (19): low nibble in byte 9 bits 4..8, high bits in byte 5 bits 6..8.
        let mut q = [0u8; 12];
        q[9] = 0b0011_1101;
        q[1] = 0b10 << 6;
        q[5] = 0b01 << 6;
        assert_eq!(get_scale_min_k4(5, &q), (45, 19));
        assert_eq!(get_scale_min_k4(1, &q), (0, 0));
        q[1] |= 17;
        q[5] |= 33;
        assert_eq!(get_scale_min_k4(1, &q), (17, 33));
    }

    #[test]
    fn q3_pack_unpack_round_trip() {
        let mut s = 11u64;
        for _ in 0..200 {
            let sc: [u8; 16] = std::array::from_fn(|_| lcg(&mut s) & 63);
            assert_eq!(unpack_q3_k_scales(&pack_q3_k_scales(&sc)), sc);
        }
    }

    #[test]
    fn q3_unpack_matches_bit_layout() {
        // scale[13] = 0b11_0110: low nibble = high nibble of byte 5, high bits = byte 9 bits 6..8.
        let mut q = [0u8; 12];
        q[5] = 0x60;
        q[9] = 0b11 << 6;
        let sc = unpack_q3_k_scales(&q);
        assert_eq!(sc[13], 0b11_0110);
        assert_eq!(sc.iter().filter(|&&v| v != 0).count(), 1);
    }
}
