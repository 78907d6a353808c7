//! Small simd128 helpers shared by the kernel families: loads of fixed-size
//! arrays, horizontal sums, byte products and f16 -> f32 conversion.
//!
//! wasm has no run-time feature detection: this module is compiled only when
//! the build enables `simd128`, and then every instruction here is valid.
//! The intrinsics are safe functions; only the loads take raw pointers.

use core::arch::wasm32::*;

/// `s[off..off + N]` as an array reference (constant offsets after
/// unrolling, so the bounds check folds away).
#[inline(always)]
pub(crate) fn at<T, const N: usize>(s: &[T], off: usize) -> &[T; N] {
    s[off..off + N].try_into().expect("sub-array in bounds")
}

/// 16 bytes as a vector.
#[inline(always)]
pub(super) fn load_u8(b: &[u8; 16]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 16 signed bytes as a vector.
#[inline(always)]
pub(super) fn load_i8(b: &[i8; 16]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 8 i16 as a vector.
#[inline(always)]
pub(super) fn load_i16(b: &[i16; 8]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// 8 u16 (f16 / bf16 bits) as a vector.
#[inline(always)]
pub(crate) fn load_u16(b: &[u16; 8]) -> v128 {
    // SAFETY: `b` is 16 readable bytes; `v128_load` has no alignment requirement.
    unsafe { v128_load(b.as_ptr().cast()) }
}

/// Four f16 (or any u16) from four places as the low halves of four u32
/// lanes (one lane insert from memory each).
#[inline(always)]
pub(super) fn gather_u16x4(h: [&u16; 4]) -> v128 {
    let v = u16x8_splat(0);
    // SAFETY: each pointer comes from a reference to 2 readable bytes;
    // `v128_load16_lane` has no alignment requirement.
    let v = unsafe {
        let v = v128_load16_lane::<0>(v, h[0]);
        let v = v128_load16_lane::<1>(v, h[1]);
        let v = v128_load16_lane::<2>(v, h[2]);
        v128_load16_lane::<3>(v, h[3])
    };
    u32x4_extend_low_u16x8(v)
}

/// Sum of the 4 f32 lanes, as `(l0 + l2) + (l1 + l3)`.
#[inline(always)]
pub(crate) fn hsum_f32(v: v128) -> f32 {
    let s = f32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    f32x4_extract_lane::<0>(s) + f32x4_extract_lane::<1>(s)
}

/// 16 products of signed bytes, summed in pairs to 8 i16 (lane l: products
/// l and l + 8). Exact while |a| <= 127 for any i8 `b`; callers with small
/// weights (|a| <= 63) add two or four of these in i16 and stay exact.
#[inline(always)]
pub(super) fn mul_i8_pairs(a: v128, b: v128) -> v128 {
    i16x8_add(i16x8_extmul_low_i8x16(a, b), i16x8_extmul_high_i8x16(a, b))
}

/// The 16 signed bytes of `v` as i16: (even bytes, odd bytes).
#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
pub(super) fn even_odd_i8(v: v128) -> (v128, v128) {
    (i16x8_shr(i16x8_shl(v, 8), 8), i16x8_shr(v, 8))
}

/// Lane r of the result is the sum of the 4 i32 lanes of `s[r]`. Only
/// unpacks (one x64 instruction each in V8), no general shuffles.
#[inline(always)]
pub(super) fn hsum4_i32(s: [v128; 4]) -> v128 {
    // [x0 + x2, y0 + y2, x1 + x3, y1 + y3]
    let half = |x, y| {
        i32x4_add(
            i32x4_shuffle::<0, 4, 1, 5>(x, y),
            i32x4_shuffle::<2, 6, 3, 7>(x, y),
        )
    };
    let (u, v) = (half(s[0], s[1]), half(s[2], s[3]));
    i32x4_add(i64x2_shuffle::<0, 2>(u, v), i64x2_shuffle::<1, 3>(u, v))
}

/// The sum of the 4 i32 lanes.
#[inline(always)]
pub(super) fn hsum_i32(v: v128) -> i32 {
    let v = i32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    i32x4_extract_lane::<0>(v).wrapping_add(i32x4_extract_lane::<1>(v))
}

/// `v`, opaque to LLVM: a constant passed through it is computed once,
/// outside the hot loops, and then stays in a register or stack slot. V8
/// rematerializes a `v128.const` at each use inside a loop instead (a
/// 64-bit immediate, a move and an unpack: three instructions).
#[inline(always)]
pub(super) fn opaque(v: v128) -> v128 {
    core::hint::black_box(v)
}

/// 2^112 (as f32): rescales an f16 exponent placed in an f32's exponent bits.
const F16_REBIAS: f32 = f32::from_bits((127 + 112) << 23);

/// f16 bits -> f32, exactly as `half::f16::to_f32` for every non-NaN value
/// (NaN stays NaN). The 15 magnitude bits shifted into an f32 read as the
/// value times 2^-112 (subnormals included), so one exact multiply rebiases;
/// an all-ones exponent (inf / NaN) is set directly.
#[inline(always)]
pub(crate) fn f16_to_f32(h: half::f16) -> f32 {
    let h = h.to_bits() as u32;
    let sign = (h & 0x8000) << 16;
    let em = h & 0x7fff;
    let mag = if em >= 0x7c00 {
        0x7f80_0000 | (em & 0x03ff) << 13
    } else {
        (f32::from_bits(em << 13) * F16_REBIAS).to_bits()
    };
    f32::from_bits(sign | mag)
}

/// Four f16 (bits in the low 16 of each u32 lane) -> four f32, as `f16_to_f32`.
#[inline(always)]
pub(crate) fn f16x4_to_f32(h: v128) -> v128 {
    F16Consts::inline().widen(h)
}

/// The constants of the f16 -> f32 widening; `opaque()` ones for loops.
#[derive(Clone, Copy)]
pub(super) struct F16Consts {
    sign: v128,
    magnitude: v128,
    rebias: v128,
    top: v128,
    exponent: v128,
}

impl F16Consts {
    /// As `v128.const`s (for code outside loops).
    #[inline(always)]
    pub(super) fn inline() -> F16Consts {
        F16Consts {
            sign: u32x4_splat(0x8000),
            magnitude: u32x4_splat(0x7fff),
            rebias: f32x4_splat(F16_REBIAS),
            top: f32x4_splat(65536.0),
            exponent: u32x4_splat(0x7f80_0000),
        }
    }

    /// Opaque to LLVM (see `opaque`).
    #[inline(always)]
    pub(super) fn opaque() -> F16Consts {
        let k = F16Consts::inline();
        F16Consts {
            sign: opaque(k.sign),
            magnitude: opaque(k.magnitude),
            rebias: opaque(k.rebias),
            top: opaque(k.top),
            exponent: opaque(k.exponent),
        }
    }

    /// Four f16 (bits in the low 16 of each u32 lane) -> four f32, as
    /// `f16_to_f32`: the magnitude rebiased by one exact multiply; an
    /// all-ones f16 exponent (inf / NaN) lands at 2^16 or above, where no
    /// finite f16 does, and gets the all-ones f32 exponent.
    #[inline(always)]
    pub(super) fn widen(&self, h: v128) -> v128 {
        let sign = i32x4_shl(v128_and(h, self.sign), 16);
        let finite = f32x4_mul(i32x4_shl(v128_and(h, self.magnitude), 13), self.rebias);
        let special = v128_and(f32x4_ge(finite, self.top), self.exponent);
        v128_or(v128_or(finite, special), sign)
    }
}
