//! Multi-row decode kernels of Q4_K and Q6_K for the default AVX-512 table:
//! the AVX2 row dots (`avx2::kquant`, llama.cpp's x86 order) for two rows
//! per 512-bit register, bit for bit.
//!
//! Row A lives in the low 256 bits and row B in the high 256 bits of every
//! register, so each half's 8 i32 lanes hold exactly the integers of the
//! AVX2 kernel's lanes for that row (the same `maddubs` pairs, the same
//! sub-block scales; `vpdpwssd` fuses the AVX2 `madd` + `add`, exact in
//! i32), and each half's 8 f32 lanes see exactly the AVX2 kernel's float
//! operations: one FMA per super-block with `d`, then the same horizontal
//! sum (plus the 4-lane min accumulator of Q4_K, two rows in one `__m256`).
//! The Q8_K activation is loaded once per block and broadcast to both
//! halves; `P` pairs run in one loop for independent chains.

use std::arch::x86_64::*;

use super::rows::{hsum_pair, pair_ps, pair_u8x32, pick16, prefetch, Pairs};
use crate::arch::x86::avx2::kquant::{at, d_only, hsum_ps128, load_bsums};
use crate::blocks::{BlockQ4K, BlockQ6K, BlockQ8K};

/// 32 Q8_K quants broadcast to both 256-bit halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn bcast_i8x32(q: &[i8; 32]) -> __m512i {
    // SAFETY: `q` is 32 readable bytes; `loadu` has no alignment requirement.
    _mm512_broadcast_i64x4(unsafe { _mm256_loadu_si256(q.as_ptr().cast()) })
}

/// `_mm512_dpwssd_epi32` as one instruction: LLVM splits the intrinsic
/// into `vpmaddwd` + `vpaddd` for CPUs it does not know to fuse it well
/// (the generic x86-64 target), which costs the multi-token kernels a
/// uop per use. The same exact i32 result either way.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn dpwssd(acc: __m512i, a: __m512i, b: __m512i) -> __m512i {
    let mut acc = acc;
    // SAFETY: one register-only AVX-512 VNNI instruction (the CPU has
    // VNNI: this function's target features), no memory or stack access.
    unsafe {
        std::arch::asm!(
            "vpdpwssd {acc}, {a}, {b}",
            acc = inout(zmm_reg) acc,
            a = in(zmm_reg) a,
            b = in(zmm_reg) b,
            options(pure, nomem, nostack),
        );
    }
    acc
}

/// `shuffle_epi8` control putting i16 scale `i` (of eight per 128-bit lane)
/// in every i16 lane.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn one_scale(s: __m512i, i: usize) -> __m512i {
    _mm512_shuffle_epi8(s, _mm512_set1_epi16(pick16(i)))
}

/// Scale `2k` in the low 128-bit lane of each half, `2k + 1` in the high one.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn pair_scales(s: __m512i, k: usize) -> __m512i {
    let ctl = _mm256_set_m128i(
        _mm_set1_epi16(pick16(2 * k + 1)),
        _mm_set1_epi16(pick16(2 * k)),
    );
    _mm512_shuffle_epi8(s, _mm512_broadcast_i64x4(ctl))
}

/// The first 16 bytes of two Q4_K blocks, row A's in the low 128 bits:
/// per 128-bit lane the u32 words `[d | dmin << 16, w0, w1, w2]`, where
/// w0..w2 are the packed 6-bit scales and mins (`quant::kscales`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q4_k_heads(a: &BlockQ4K, b: &BlockQ4K) -> __m256i {
    let bytes = |x: &BlockQ4K| -> __m128i {
        let head: &[u8; 16] = bytemuck::bytes_of(x)[..16].try_into().expect("16 bytes");
        // SAFETY: `head` is 16 readable bytes; `loadu` has no alignment requirement.
        unsafe { _mm_loadu_si128(head.as_ptr().cast()) }
    };
    _mm256_set_m128i(bytes(b), bytes(a))
}

/// The scales and mins of two Q4_K blocks as i16, in 128-bit lanes
/// `[A.sc | A.m | B.sc | B.m]` (the AVX2 `k4_scales_mins` of each row).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q4_k_scales_mins(h: __m256i) -> __m512i {
    // per lane [_, w0, w1, w2]:
    // sc_lo = w0 & 0x3f.., m_lo = w1 & 0x3f..,
    // sc_hi = (w2 & 0x0f..) | (w0 >> 2 & 0x30..), m_hi = (w2 >> 4 & 0x0f..) | (w1 >> 2 & 0x30..)
    let lo = _mm256_shuffle_epi32::<0b00_00_10_01>(_mm256_and_si256(h, _mm256_set1_epi8(0x3f)));
    let w2 = _mm256_srlv_epi32(
        _mm256_shuffle_epi32::<0b11_11_11_11>(h),
        _mm256_setr_epi32(0, 4, 0, 4, 0, 4, 0, 4),
    );
    let w01 = _mm256_srli_epi32::<2>(_mm256_shuffle_epi32::<0b00_00_10_01>(h));
    let hi = _mm256_or_si256(
        _mm256_and_si256(w2, _mm256_set1_epi8(0x0f)),
        _mm256_and_si256(w01, _mm256_set1_epi8(0x30)),
    );
    // [sc_lo, sc_hi, m_lo, m_hi] per lane
    _mm512_cvtepu8_epi16(_mm256_unpacklo_epi32(lo, hi))
}

/// What every Q4_K block pair needs of one Q8_K block: its sums
/// (`Q8KSums`) and its quants broadcast to both 256-bit halves.
pub(super) struct Q8KAct {
    sums: Q8KSums,
    q8: [__m512i; 8],
}

/// The pairwise sums of a Q8_K block's 16 bsums (one per 32-element
/// sub-block, in both 128-bit lanes) and its `d`.
pub(super) struct Q8KSums {
    bs_pairs: __m256i,
    yd: f32,
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q8_k_act(by: &BlockQ8K) -> Q8KAct {
    Q8KAct {
        sums: q8_k_sums(by),
        q8: q8_k_quants(by),
    }
}

#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q8_k_sums(by: &BlockQ8K) -> Q8KSums {
    let bs = load_bsums(&by.bsums);
    let bs_pairs = _mm_hadd_epi16(
        _mm256_castsi256_si128(bs),
        _mm256_extracti128_si256::<1>(bs),
    );
    Q8KSums {
        bs_pairs: _mm256_broadcastsi128_si256(bs_pairs),
        yd: by.d,
    }
}

/// The Q8_K block's 256 quants, 32 at a time, in both 256-bit halves.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
fn q8_k_quants(by: &BlockQ8K) -> [__m512i; 8] {
    std::array::from_fn(|k| bcast_i8x32(at(&by.qs, 32 * k)))
}

/// One Q4_K block of two rows against one Q8_K block, accumulated into
/// `acc` (the `d`-scaled sums, a row per 256-bit half) and `acc_m` (the
/// `dmin`-scaled min terms, a row per 128-bit half): the AVX2 row dot's
/// operations for each row. `heads` holds `[A.d, A.dmin, B.d, B.dmin]` as
/// f16 in its low 64 bits, `sm` the scales and mins as i16 in 128-bit
/// lanes `[A.sc | A.m | B.sc | B.m]`, and `q4[c]` the packed quants
/// `qs[32c..32c + 32]` of row A (low half) and B (high half).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_pair_block(
    heads: __m128i,
    sm: __m512i,
    q4: [__m512i; 4],
    y: &Q8KAct,
    acc: &mut __m512,
    acc_m: &mut __m256,
) {
    q4_k_pair_dot(&q4_k_pair_unpack(heads, sm, q4), y, acc, acc_m);
}

/// A Q4_K block pair unpacked (the operands of `q4_k_pair_block` that do
/// not depend on the activation), to run against several tokens.
pub(super) struct Q4KPair {
    head: Q4KHead,
    /// Per 32-byte chunk c: `q4_k_chunk`.
    chunks: [[__m512i; 4]; 4],
}

/// The per-block operands of a Q4_K block pair's float steps.
pub(super) struct Q4KHead {
    /// `A.d` as f32 in the low 8 lanes, `B.d` in the high 8.
    d: __m512,
    /// `A.dmin` as f32 in the low 4 lanes, `B.dmin` in the high 4.
    dmin: __m256,
    /// The mins as i16: A's in the low 128 bits, B's in the high.
    mins: __m256i,
}

/// The head of a block pair from `heads` (`[A.d, A.dmin, B.d, B.dmin]`
/// as f16) and `sm` (the scales and mins as i16, `[A.sc | A.m | B.sc |
/// B.m]`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_pair_head(heads: __m128i, sm: __m512i) -> Q4KHead {
    let d_idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    let dmin_idx = _mm256_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3);
    let heads = _mm_cvtph_ps(heads);
    Q4KHead {
        d: _mm512_permutexvar_ps(d_idx, _mm512_castps128_ps512(heads)),
        dmin: _mm256_permutevar8x32_ps(_mm256_castps128_ps256(heads), dmin_idx),
        mins: _mm512_castsi512_si256(_mm512_shuffle_i64x2::<0b11_01_11_01>(sm, sm)),
    }
}

/// The scales of `sm` (as `q4_k_pair_head` takes it) as `q4_k_chunk`
/// takes them: `[A.sc | A.sc | B.sc | B.sc]` in 128-bit lanes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_scales(sm: __m512i) -> __m512i {
    _mm512_shuffle_i64x2::<0b10_10_00_00>(sm, sm)
}

/// Chunk c of a block pair, `q4` = `qs[32c..32c + 32]` of row A (low
/// half) and B (high half): its low nibbles (elements 64c..), high
/// nibbles (64c + 32..), and the scales of those two sub-blocks (from
/// `q4_k_scales`).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_chunk(scales: __m512i, q4: __m512i, c: usize) -> [__m512i; 4] {
    let m4 = _mm512_set1_epi8(0x0F);
    [
        _mm512_and_si512(q4, m4),
        _mm512_and_si512(_mm512_srli_epi16::<4>(q4), m4),
        one_scale(scales, 2 * c),
        one_scale(scales, 2 * c + 1),
    ]
}

/// A chunk's scaled integer sums against the activation's quants of its
/// two sub-blocks (`q8`: elements 64c.. and 64c + 32.., in both halves).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_chunk_dot(w: &[__m512i; 4], q8: [__m512i; 2]) -> __m512i {
    let p_lo = _mm512_maddubs_epi16(w[0], q8[0]);
    let p_hi = _mm512_maddubs_epi16(w[1], q8[1]);
    dpwssd(_mm512_madd_epi16(p_lo, w[2]), p_hi, w[3])
}

/// `q4_k_pair_block`'s operands unpacked.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_pair_unpack(heads: __m128i, sm: __m512i, q4: [__m512i; 4]) -> Q4KPair {
    let scales = q4_k_scales(sm);
    Q4KPair {
        head: q4_k_pair_head(heads, sm),
        chunks: std::array::from_fn(|c| q4_k_chunk(scales, q4[c], c)),
    }
}

/// `q4_k_pair_block` on an unpacked block pair.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_pair_dot(w: &Q4KPair, y: &Q8KAct, acc: &mut __m512, acc_m: &mut __m256) {
    // Four short chains (exact i32 sums in any order), not one long one.
    let part: [__m512i; 4] =
        std::array::from_fn(|c| q4_k_chunk_dot(&w.chunks[c], [y.q8[2 * c], y.q8[2 * c + 1]]));
    let sumi = _mm512_add_epi32(
        _mm512_add_epi32(part[0], part[1]),
        _mm512_add_epi32(part[2], part[3]),
    );
    q4_k_pair_finish(&w.head, &y.sums, sumi, acc, acc_m);
}

/// A block pair's float steps, the AVX2 row dot's for each row, given its
/// integer sums `sumi` against the activation block whose sums are `y`.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_pair_finish(
    h: &Q4KHead,
    y: &Q8KSums,
    sumi: __m512i,
    acc: &mut __m512,
    acc_m: &mut __m256,
) {
    // the AVX2 `d_dmin` products (A.d, A.dmin, B.d, B.dmin) * y.d, spread
    let d = _mm512_mul_ps(h.d, _mm512_set1_ps(y.yd));
    let dmin = _mm256_mul_ps(h.dmin, _mm256_set1_ps(y.yd));
    // min term: sum over sub-blocks j of m[j] * (bsums[2j] + bsums[2j+1])
    let mins = _mm256_madd_epi16(h.mins, y.bs_pairs);
    // -(dmin * mins) + acc_m: the AVX2 FMA with the negated dmin
    *acc_m = _mm256_fnmadd_ps(dmin, _mm256_cvtepi32_ps(mins), *acc_m);
    *acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), *acc);
}

/// The two rows' dot products from `q4_k_pair_block`'s accumulators.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q4_k_pair_sums(acc: __m512, acc_m: __m256) -> [f32; 2] {
    let [a, b] = hsum_pair(acc);
    let ma = hsum_ps128(_mm256_castps256_ps128(acc_m));
    let mb = hsum_ps128(_mm256_extractf128_ps::<1>(acc_m));
    [a + ma, b + mb]
}

/// x: `P` pairs of rows of nb Q4_K blocks, y: [nb] Q8_K blocks -> the 2P dot products
/// (`ahead`: prefetch distance in bytes past each weight block)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn q4_k<const P: usize>(
    x: Pairs<'_, BlockQ4K, P>,
    y: &[BlockQ8K],
    ahead: usize,
) -> [[f32; 2]; P] {
    let mut acc = [_mm512_setzero_ps(); P];
    let mut acc_m = [_mm256_setzero_ps(); P];
    for (i, by) in y.iter().enumerate() {
        let act = q8_k_act(by);
        for p in 0..P {
            let (a, b) = (&x[p][0][i], &x[p][1][i]);
            prefetch(a, ahead);
            prefetch(b, ahead);
            let h = q4_k_heads(a, b);
            let heads =
                _mm_unpacklo_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256::<1>(h));
            let q4 = std::array::from_fn(|c| pair_u8x32(at(&a.qs, 32 * c), at(&b.qs, 32 * c)));
            let (acc, acc_m) = (&mut acc[p], &mut acc_m[p]);
            q4_k_pair_block(heads, q4_k_scales_mins(h), q4, &act, acc, acc_m);
        }
    }
    std::array::from_fn(|p| q4_k_pair_sums(acc[p], acc_m[p]))
}

/// One Q6_K block of two rows against one Q8_K block (`bsums`: its bsums
/// in both 256-bit halves, `q8`: its quants in both halves), accumulated
/// into `acc` (a row per 256-bit half): the AVX2 row dot's operations for
/// each row. `d` holds `y.d * A.d` in the low half and `y.d * B.d` in the
/// high one, `sc` the sub-block scales as i16 (A's 16 low, B's 16 high),
/// and `ql[n]`, `qh[n]` (n = 0, 1) the low-bit chunks `ql[64n..64n + 32]`,
/// `ql[64n + 32..64n + 64]` and high-bit chunk `qh[32n..32n + 32]` of row A
/// (low half) and B (high half).
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q6_k_pair_block(
    d: __m512,
    sc: __m512i,
    ql: [[__m512i; 2]; 2],
    qh: [__m512i; 2],
    bsums: __m512i,
    q8: &[__m512i; 8],
    acc: &mut __m512,
) {
    q6_k_pair_dot(&q6_k_pair_unpack(sc, ql, qh), d, bsums, q8, acc);
}

/// A Q6_K block pair unpacked (the operands of `q6_k_pair_block` that do
/// not depend on the activation), to run against several tokens.
pub(super) struct Q6KPair {
    /// The sub-block scales as i16 (A's 16 low, B's 16 high).
    sc: __m512i,
    /// Per `n` (0, 1) the four 6-bit quant vectors.
    q: [[__m512i; 4]; 2],
    /// Per `n` the scale of each quant vector's sub-blocks.
    s: [[__m512i; 4]; 2],
}

/// `q6_k_pair_block`'s weight operands unpacked.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q6_k_pair_unpack(sc: __m512i, ql: [[__m512i; 2]; 2], qh: [__m512i; 2]) -> Q6KPair {
    let m4 = _mm512_set1_epi8(0x0F);
    let quants = |n: usize| {
        let [ql0, ql1] = ql[n];
        let hbits = |mask: u8| _mm512_and_si512(qh[n], _mm512_set1_epi8(mask as i8));
        [
            _mm512_or_si512(
                _mm512_and_si512(ql0, m4),
                _mm512_slli_epi16::<4>(hbits(0x03)),
            ),
            _mm512_or_si512(
                _mm512_and_si512(ql1, m4),
                _mm512_slli_epi16::<2>(hbits(0x0C)),
            ),
            _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16::<4>(ql0), m4),
                hbits(0x30),
            ),
            _mm512_or_si512(
                _mm512_and_si512(_mm512_srli_epi16::<4>(ql1), m4),
                _mm512_srli_epi16::<2>(hbits(0xC0)),
            ),
        ]
    };
    let s0 = _mm512_permutex_epi64::<0b01_00_01_00>(sc);
    let s1 = _mm512_permutex_epi64::<0b11_10_11_10>(sc);
    Q6KPair {
        sc,
        q: [quants(0), quants(1)],
        s: [
            std::array::from_fn(|k| pair_scales(s0, k)),
            std::array::from_fn(|k| pair_scales(s1, k)),
        ],
    }
}

/// `q6_k_pair_block` on an unpacked block pair.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q6_k_pair_dot(
    w: &Q6KPair,
    d: __m512,
    bsums: __m512i,
    q8: &[__m512i; 8],
    acc: &mut __m512,
) {
    // sum (q - 32) * q8 * sc = sum q * q8 * sc - 32 * sum_j sc[j] * bsums[j]
    let offset = _mm512_slli_epi32::<5>(_mm512_madd_epi16(w.sc, bsums));
    // Four short chains (exact i32 sums in any order).
    let part: [__m512i; 4] = std::array::from_fn(|k| {
        let p0 = _mm512_maddubs_epi16(w.q[0][k], q8[k]);
        let p1 = _mm512_maddubs_epi16(w.q[1][k], q8[4 + k]);
        let t = _mm512_madd_epi16(p0, w.s[0][k]);
        dpwssd(t, p1, w.s[1][k])
    });
    let sumi = _mm512_add_epi32(
        _mm512_add_epi32(part[0], part[1]),
        _mm512_add_epi32(part[2], part[3]),
    );
    let sumi = _mm512_sub_epi32(sumi, offset);
    *acc = _mm512_fmadd_ps(d, _mm512_cvtepi32_ps(sumi), *acc);
}

/// The Q8_K block's bsums and quants as `q6_k_pair_block` takes them.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) fn q6_k_act(by: &BlockQ8K) -> (__m512i, [__m512i; 8]) {
    let bsums = _mm512_broadcast_i64x4(load_bsums(&by.bsums));
    (bsums, q8_k_quants(by))
}

/// x: `P` pairs of rows of nb Q6_K blocks, y: [nb] Q8_K blocks -> the 2P dot products
/// (`ahead`: prefetch distance in bytes past each weight block)
///
/// # Safety
/// The CPU must support AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni,avx2,fma,f16c")]
pub(super) unsafe fn q6_k<const P: usize>(
    x: Pairs<'_, BlockQ6K, P>,
    y: &[BlockQ8K],
    ahead: usize,
) -> [[f32; 2]; P] {
    let mut acc = [_mm512_setzero_ps(); P];
    for (i, by) in y.iter().enumerate() {
        let (bsums, q8) = q6_k_act(by);
        for p in 0..P {
            let (a, b) = (&x[p][0][i], &x[p][1][i]);
            prefetch(a, ahead);
            prefetch(b, ahead);
            let d = pair_ps(d_only(by.d, a.d), d_only(by.d, b.d));
            // SAFETY: each `scales` is 16 readable bytes; no alignment needed.
            let (sa, sb) = unsafe {
                (
                    _mm_loadu_si128(a.scales.as_ptr().cast()),
                    _mm_loadu_si128(b.scales.as_ptr().cast()),
                )
            };
            let sc = _mm512_cvtepi8_epi16(_mm256_set_m128i(sb, sa));
            let pair = |r: usize| {
                let lo = pair_u8x32(at(&a.ql, 64 * r), at(&b.ql, 64 * r));
                let hi = pair_u8x32(at(&a.ql, 64 * r + 32), at(&b.ql, 64 * r + 32));
                [lo, hi]
            };
            let ql = [pair(0), pair(1)];
            let qh = [0, 1].map(|r| pair_u8x32(at(&a.qh, 32 * r), at(&b.qh, 32 * r)));
            q6_k_pair_block(d, sc, ql, qh, bsums, &q8, &mut acc[p]);
        }
    }
    std::array::from_fn(|p| hsum_pair(acc[p]))
}
