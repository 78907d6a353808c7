//! Building blocks shared by the NEON kernel families: the signed byte dot
//! product in its two forms (`Mull`: baseline NEON, `Sdot`: the ARMv8.2
//! dot-product instruction), unaligned loads and f16 widening.
//!
//! The integer kernels are generic over `I8Dot` and `#[inline(always)]`, so
//! each is compiled twice: with `Mull` into ordinary functions (NEON is part
//! of the aarch64 baseline) and with `Sdot` into `#[target_feature(enable =
//! "dotprod")]` functions (`super::dotprod`), where the `sdot` assembly is
//! legal. Both forms compute exact i32 lane sums; they differ only in which
//! products land in which lane, and every kernel sums all lanes of a
//! sub-block, so the two paths give bit-identical results.

use std::arch::aarch64::*;
use std::arch::asm;

use half::f16;

/// Accumulates signed byte products into four i32 lanes.
pub(super) trait I8Dot {
    /// `acc` plus the 16 products `a[i] * b[i]`, spread over the 4 lanes
    /// (exact for all i8 inputs).
    fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t;
}

/// Baseline NEON: widening multiplies (`smull`, `smull2`) then pairwise
/// widening adds (`sadalp`); each i16 product is at most 128 * 128, so
/// nothing saturates.
pub(super) struct Mull;

impl I8Dot for Mull {
    #[inline(always)]
    fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        mull_dot(acc, a, b)
    }
}

/// `Mull::dot` as a free function (which, unlike a trait method, may call
/// the NEON intrinsics without `unsafe`: NEON is an aarch64 baseline feature).
#[inline(always)]
fn mull_dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
        let hi = vmull_high_s8(a, b);
        vpadalq_s16(vpadalq_s16(acc, lo), hi)
    }
}

/// `sdot`: lane `k` gains `a[4k..4k+4] · b[4k..4k+4]` in one instruction.
/// `vdotq_s32` is not stable yet, hence the assembly. Only usable inside
/// `#[target_feature(enable = "dotprod")]` functions (after run-time
/// detection): the assembler rejects `sdot` anywhere else, so a misuse is a
/// build error, not a wrong instruction.
pub(super) struct Sdot;

impl I8Dot for Sdot {
    #[inline(always)]
    fn dot(acc: int32x4_t, a: int8x16_t, b: int8x16_t) -> int32x4_t {
        let mut acc = acc;
        // SAFETY: `sdot` only reads and writes the three vector registers;
        // this code is only reached from `dotprod` functions, which the
        // kernel table calls after `is_aarch64_feature_detected!("dotprod")`.
        unsafe {
            asm!(
                "sdot {acc:v}.4s, {a:v}.16b, {b:v}.16b",
                acc = inout(vreg) acc,
                a = in(vreg) a,
                b = in(vreg) b,
                options(pure, nomem, nostack, preserves_flags),
            );
        }
        acc
    }
}

/// `acc + a0 · b0 + a1 · b1` (32 byte products).
#[inline(always)]
pub(super) fn dot32<D: I8Dot>(
    acc: int32x4_t,
    a: (int8x16_t, int8x16_t),
    b: (int8x16_t, int8x16_t),
) -> int32x4_t {
    D::dot(D::dot(acc, a.0, b.0), a.1, b.1)
}

/// 16 signed bytes.
#[inline(always)]
pub(super) fn load_i8x16(q: &[i8; 16]) -> int8x16_t {
    // SAFETY: `q` is 16 readable bytes; `ld1` has no alignment requirement.
    unsafe { vld1q_s8(q.as_ptr()) }
}

/// 16 unsigned bytes.
#[inline(always)]
pub(super) fn load_u8x16(q: &[u8; 16]) -> uint8x16_t {
    // SAFETY: `q` is 16 readable bytes; `ld1` has no alignment requirement.
    unsafe { vld1q_u8(q.as_ptr()) }
}

/// 32 signed bytes as two vectors.
#[inline(always)]
pub(super) fn load_i8x32(q: &[i8; 32]) -> (int8x16_t, int8x16_t) {
    (load_i8x16(at(q, 0)), load_i8x16(at(q, 16)))
}

/// 32 unsigned bytes as two vectors.
#[inline(always)]
pub(super) fn load_u8x32(q: &[u8; 32]) -> (uint8x16_t, uint8x16_t) {
    (load_u8x16(at(q, 0)), load_u8x16(at(q, 16)))
}

/// `s[off..off + N]` as an array reference (constant offsets after
/// unrolling, so the bounds check folds away).
#[inline(always)]
pub(super) fn at<T, const N: usize>(s: &[T], off: usize) -> &[T; N] {
    s[off..off + N].try_into().expect("sub-array in bounds")
}

/// Four f16 bit patterns widened to f32 lanes (`fcvtl`, exact: subnormals,
/// infinities and NaNs included).
#[inline(always)]
pub(super) fn widen_f16x4(h: uint16x4_t) -> float32x4_t {
    let out: float32x4_t;
    // SAFETY: `fcvtl` (half to single, baseline AdvSIMD) only reads `h` and
    // writes `out`.
    unsafe {
        asm!(
            "fcvtl {o:v}.4s, {i:v}.4h",
            o = lateout(vreg) out,
            i = in(vreg) h,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    out
}

/// `[a, b, c, d]` widened to f32 (one `fcvtl`; `half`'s own conversion
/// checks for FP16 at run time on every call).
#[inline(always)]
pub(super) fn f16x4(a: f16, b: f16, c: f16, d: f16) -> float32x4_t {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let bits = a.to_bits() as u64
            | (b.to_bits() as u64) << 16
            | (c.to_bits() as u64) << 32
            | (d.to_bits() as u64) << 48;
        widen_f16x4(vcreate_u16(bits))
    }
}

/// One f16 widened to f32.
#[inline(always)]
pub(super) fn f16_to_f32(h: f16) -> f32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe { vgetq_lane_f32::<0>(f16x4(h, f16::ZERO, f16::ZERO, f16::ZERO)) }
}

/// `a * b` of two f16 scales, in f32 (as the references' `a.to_f32() * b.to_f32()`).
#[inline(always)]
pub(super) fn f16_product(a: f16, b: f16) -> f32 {
    // SAFETY: NEON register intrinsics (NEON is an aarch64 baseline feature); no memory access.
    unsafe {
        let v = f16x4(a, b, f16::ZERO, f16::ZERO);
        vgetq_lane_f32::<0>(v) * vgetq_lane_f32::<1>(v)
    }
}
