//! simd128 Q4_0, Q5_0 and Q8_0 weights against Q8_0 activations: one row
//! (the table's row dots) or four rows at a time (the decode kernels of
//! `rows`), each activation block prepared once for the four.
//!
//! The four-row kernels take activation blocks prepared once per matrix
//! (`Prepared`, made by `rows`), not once per group of rows. Both take the
//! scalar reference's steps (`quant::q*_0`): each block's
//! integer dot is exact, then converted to f32, scaled in the reference's
//! order and added to the row's sum in block order, so every result equals
//! `quant::vec_dot` bit for bit. Four rows keep one f32x4 lane each: their
//! block sums are reduced across lanes by unpacks, their f16 scales widened
//! together.
//!
//! Integer dots: Q4_0 / Q5_0 weights are unpacked as unsigned codes
//! (nibble, nibble | fifth bit << 4) and the offset (8, 16) comes from the
//! activation sum. simd128 multiplies i16 pairs (`i32x4.dot_i16x8_s`, x64
//! `pmaddwd`): the even and odd bytes of weights and activations are split
//! into i16 lanes (the activation's once per block); relaxed-simd builds
//! take the codes (below 128) straight to `i32x4.relaxed_dot_i8x16_i7x16_add`,
//! deterministic in that range. Q8_0 weights (any i8) cannot be that
//! operand, so relaxed-simd builds split the activation instead: a = r - 128 s
//! with r = a & 0x7f and s = a's sign bit (both below 128, prepared once per
//! block), and the weights' dots with r and s (two relaxed dots each) give
//! dot(w, a) = dot(w, r) - 128 dot(w, s) exactly, for every i8 a and w;
//! simd128 builds take i16 pairs.

use core::arch::wasm32::*;

use super::legacy::{fifth_bits, nibbles, q8, Masks};
#[cfg(not(target_feature = "relaxed-simd"))]
use super::simd::even_odd_i8;
use super::simd::{f16_to_f32, gather_u16x4, hsum4_i32, hsum_i32, F16Consts};
use crate::blocks::{BlockQ4_0, BlockQ5_0, BlockQ8_0};

/// One Q8_0 activation block, prepared once for every weight row that
/// meets it.
#[derive(Clone, Copy)]
pub(super) struct ActQ8 {
    /// The quants 0..16 and 16..32.
    #[cfg(target_feature = "relaxed-simd")]
    q: [v128; 2],
    /// The same as i16: even and odd bytes of `q[0]`, then of `q[1]`.
    #[cfg(not(target_feature = "relaxed-simd"))]
    wide: [v128; 4],
    /// The low 7 bits of `q[0]`, `q[1]`, then their sign bits (as 0 / 1).
    #[cfg(target_feature = "relaxed-simd")]
    split: [v128; 4],
    /// The scale as f32.
    d: f32,
}

impl ActQ8 {
    #[inline(always)]
    fn new(b: &BlockQ8_0, k: &Masks) -> ActQ8 {
        let (q0, q1) = q8(&b.qs);
        ActQ8 {
            #[cfg(target_feature = "relaxed-simd")]
            q: [q0, q1],
            #[cfg(not(target_feature = "relaxed-simd"))]
            wide: {
                let _ = k;
                let (e0, o0) = even_odd_i8(q0);
                let (e1, o1) = even_odd_i8(q1);
                [e0, o0, e1, o1]
            },
            #[cfg(target_feature = "relaxed-simd")]
            split: {
                let low7 = |v| v128_and(v, k.low7);
                let sign = |v| v128_and(i8x16_lt(v, i8x16_splat(0)), k.one);
                [low7(q0), low7(q1), sign(q0), sign(q1)]
            },
            d: f16_to_f32(b.d),
        }
    }

    /// Lanes summing to `-offset * sum(q)`.
    #[inline(always)]
    fn bias(&self, offset: i8) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        {
            let o = i8x16_splat(offset);
            let s = i32x4_relaxed_dot_i8x16_i7x16_add(self.q[0], o, i32x4_splat(0));
            i32x4_neg(i32x4_relaxed_dot_i8x16_i7x16_add(self.q[1], o, s))
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            let w = &self.wide;
            let sum16 = i16x8_add(i16x8_add(w[0], w[1]), i16x8_add(w[2], w[3]));
            i32x4_dot_i16x8(sum16, i16x8_splat(-(offset as i16)))
        }
    }

    /// `acc` plus the dot of 32 weight codes (the bytes of `c`, unsigned,
    /// below 128) with the quants, as 4 i32 lanes (exact).
    #[inline(always)]
    fn dot_codes(&self, c: (v128, v128), k: &Masks, acc: v128) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        {
            let _ = k;
            let acc = i32x4_relaxed_dot_i8x16_i7x16_add(self.q[0], c.0, acc);
            i32x4_relaxed_dot_i8x16_i7x16_add(self.q[1], c.1, acc)
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            let split = |v| (v128_and(v, k.low8), u16x8_shr(v, 8));
            let (e0, o0) = split(c.0);
            let (e1, o1) = split(c.1);
            self.dot_wide([e0, o0, e1, o1], acc)
        }
    }

    /// `acc` plus the dot of 32 signed weight quants with the quants.
    #[inline(always)]
    fn dot_signed(&self, q: (v128, v128), acc: v128) -> v128 {
        #[cfg(target_feature = "relaxed-simd")]
        {
            // dot(q, a) = dot(q, a & 0x7f) - 128 dot(q, sign bits of a)
            let s = &self.split;
            let low = i32x4_relaxed_dot_i8x16_i7x16_add(q.0, s[0], acc);
            let low = i32x4_relaxed_dot_i8x16_i7x16_add(q.1, s[1], low);
            let neg = i32x4_relaxed_dot_i8x16_i7x16_add(q.0, s[2], i32x4_splat(0));
            let neg = i32x4_relaxed_dot_i8x16_i7x16_add(q.1, s[3], neg);
            i32x4_sub(low, i32x4_shl(neg, 7))
        }
        #[cfg(not(target_feature = "relaxed-simd"))]
        {
            let (e0, o0) = even_odd_i8(q.0);
            let (e1, o1) = even_odd_i8(q.1);
            self.dot_wide([e0, o0, e1, o1], acc)
        }
    }

    /// `acc` plus the dot of 32 weights widened as `wide` with the quants.
    #[cfg(not(target_feature = "relaxed-simd"))]
    #[inline(always)]
    fn dot_wide(&self, w: [v128; 4], acc: v128) -> v128 {
        let a = &self.wide;
        let p0 = i32x4_add(i32x4_dot_i16x8(w[0], a[0]), i32x4_dot_i16x8(w[1], a[1]));
        let p1 = i32x4_add(i32x4_dot_i16x8(w[2], a[2]), i32x4_dot_i16x8(w[3], a[3]));
        i32x4_add(acc, i32x4_add(p0, p1))
    }
}

/// An activation block prepared for weights of type `W` (`ActQ8` and the
/// lanes of `W`'s offset term), as the multi-row kernels keep them for a
/// whole chunk of blocks: made once per matrix, not once per row group.
#[derive(Clone, Copy)]
pub(super) struct Prepared {
    a: ActQ8,
    bias: v128,
}

impl Prepared {
    /// A placeholder (all zero) for arrays filled by `new`.
    pub(super) const ZERO: Prepared = Prepared {
        a: ActQ8 {
            #[cfg(target_feature = "relaxed-simd")]
            q: [i64x2(0, 0); 2],
            #[cfg(not(target_feature = "relaxed-simd"))]
            wide: [i64x2(0, 0); 4],
            #[cfg(target_feature = "relaxed-simd")]
            split: [i64x2(0, 0); 4],
            d: 0.0,
        },
        bias: i64x2(0, 0),
    };

    #[inline(always)]
    pub(super) fn new<W: Q8Weights>(b: &BlockQ8_0, k: &Masks) -> Prepared {
        let a = ActQ8::new(b, k);
        Prepared {
            a,
            bias: W::bias(&a),
        }
    }
}

/// The order of a reference's f32 steps for one block: `sum += ...`.
#[derive(PartialEq, Eq)]
pub(super) enum Order {
    /// `(dw * da) * sumi`
    ScalesFirst,
    /// `(sumi * dw) * da`
    SumFirst,
}

/// A weight block type dotted with Q8_0 activations: its exact integer
/// dot and its reference's f32 order.
pub(super) trait Q8Weights: bytemuck::Pod {
    const ORDER: Order;
    /// The block's scale.
    fn d(&self) -> &half::f16;
    /// The lanes a row's block sum starts from (a constant offset's term).
    fn bias(a: &ActQ8) -> v128;
    /// `acc` plus the block's exact dot with `a`'s quants (4 i32 lanes).
    fn dot(&self, a: &ActQ8, k: &Masks, acc: v128) -> v128;
}

impl Q8Weights for BlockQ8_0 {
    const ORDER: Order = Order::ScalesFirst;
    #[inline(always)]
    fn d(&self) -> &half::f16 {
        &self.d
    }
    #[inline(always)]
    fn bias(_: &ActQ8) -> v128 {
        i32x4_splat(0)
    }
    #[inline(always)]
    fn dot(&self, a: &ActQ8, _: &Masks, acc: v128) -> v128 {
        a.dot_signed(q8(&self.qs), acc)
    }
}

impl Q8Weights for BlockQ4_0 {
    const ORDER: Order = Order::SumFirst;
    #[inline(always)]
    fn d(&self) -> &half::f16 {
        &self.d
    }
    #[inline(always)]
    fn bias(a: &ActQ8) -> v128 {
        a.bias(8)
    }
    #[inline(always)]
    fn dot(&self, a: &ActQ8, k: &Masks, acc: v128) -> v128 {
        // q = nibble - 8
        a.dot_codes(nibbles(&self.qs, k), k, acc)
    }
}

impl Q8Weights for BlockQ5_0 {
    const ORDER: Order = Order::ScalesFirst;
    #[inline(always)]
    fn d(&self) -> &half::f16 {
        &self.d
    }
    #[inline(always)]
    fn bias(a: &ActQ8) -> v128 {
        a.bias(16)
    }
    #[inline(always)]
    fn dot(&self, a: &ActQ8, k: &Masks, acc: v128) -> v128 {
        // q = (nibble | fifth bit << 4) - 16
        let (lo, hi) = nibbles(&self.qs, k);
        let (h0, h1) = fifth_bits(self.qh, k);
        a.dot_codes((v128_or(lo, h0), v128_or(hi, h1)), k, acc)
    }
}

/// `acc` plus the dots of 4 weight rows with the prepared activation
/// blocks `y`, block by block in the reference's order: lane r is row r's.
// x: 4 rows of [nb] blocks, y: [nb] prepared Q8_0 blocks, acc: f32x4 -> f32x4
#[inline(always)]
pub(super) fn dot_rows4<W: Q8Weights>(x: [&[W]; 4], y: &[Prepared], mut acc: v128) -> v128 {
    let (k, f) = (Masks::new(), F16Consts::opaque());
    let nb = y.len();
    let [x0, x1, x2, x3] = x.map(|r| &r[..nb]);
    for i in 0..nb {
        let Prepared { ref a, bias } = y[i];
        let (b0, b1, b2, b3) = (&x0[i], &x1[i], &x2[i], &x3[i]);
        let sumi = hsum4_i32([
            b0.dot(a, &k, bias),
            b1.dot(a, &k, bias),
            b2.dot(a, &k, bias),
            b3.dot(a, &k, bias),
        ]);
        let dw = f.widen(gather_u16x4(
            [b0, b1, b2, b3].map(|b| bytemuck::cast_ref(b.d())),
        ));
        let (da, s) = (f32x4_splat(a.d), f32x4_convert_i32x4(sumi));
        let t = match W::ORDER {
            Order::ScalesFirst => f32x4_mul(f32x4_mul(dw, da), s),
            Order::SumFirst => f32x4_mul(f32x4_mul(s, dw), da),
        };
        acc = f32x4_add(acc, t);
    }
    acc
}

/// The dot of one weight row with one activation row.
// x: [nb] blocks, y: [nb] Q8_0 blocks -> f32
#[inline(always)]
fn dot_row<W: Q8Weights>(x: &[W], y: &[BlockQ8_0]) -> f32 {
    debug_assert_eq!(x.len(), y.len());
    let k = Masks::new();
    let mut sum = 0.0f32;
    for (b, by) in x.iter().zip(y) {
        let a = ActQ8::new(by, &k);
        let s = hsum_i32(b.dot(&a, &k, W::bias(&a))) as f32;
        let dw = f16_to_f32(*b.d());
        sum += match W::ORDER {
            Order::ScalesFirst => (dw * a.d) * s,
            Order::SumFirst => (s * dw) * a.d,
        };
    }
    sum
}

/// x: [nb] Q8_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
pub(super) fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    dot_row(x, y)
}

/// x: [nb] Q4_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
pub(super) fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    dot_row(x, y)
}

/// x: [nb] Q5_0 blocks (one weight row), y: [nb] Q8_0 blocks (the activation) -> dot product
pub(super) fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    dot_row(x, y)
}
