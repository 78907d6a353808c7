// Weight rows in GGUF block layout (bound as u32 words) and what the
// decode matvec (matvec_*.wgsl) and the prefill matmul (matmul_*.wgsl)
// share: the unpacking of each type's quants into packed i8 words for
// `idot4`, and the scaling of a block's exact integer sums, written once so
// that both kernels compute every block's f32 term with the same expression
// (as the CPU reference does, per type).

@group(0) @binding(1) var<storage, read> w: array<u32>;

// Four weight bytes from an even byte offset.
fn w_word(off: u32) -> u32 {
    let i = off >> 2u;
    if ((off & 2u) == 0u) {
        return w[i];
    }
    return (w[i] >> 16u) | (w[i + 1u] << 16u);
}

fn w_half(off: u32) -> u32 {
    return (w[off >> 2u] >> ((off & 2u) * 8u)) & 0xffffu;
}

// Σ of the four i8 lanes of an activation word (the offsets of Q4_0's
// q − 8 and Q5_0's q − 16 are taken off as offset · Σa).
fn lane_sum(a: u32) -> i32 {
    return idot4(0x01010101u, a);
}

// Bits 0..3 of `h` to bit 4 of each byte.
fn spread4(h: u32) -> u32 {
    return ((h & 1u) << 4u) | ((h & 2u) << 11u) | ((h & 4u) << 18u) | ((h & 8u) << 25u);
}

// Q5_0 / Q5_1 quants of nibble word k (elements 4k..4k+3: low nibbles with
// bits 4k.. of qh; elements 16+4k..: high nibbles with bits 16+4k.. of qh).
fn q5_lo(q: u32, qh: u32, k: u32) -> u32 {
    return (q & 0x0f0f0f0fu) | spread4(qh >> (4u * k));
}

fn q5_hi(q: u32, qh: u32, k: u32) -> u32 {
    return ((q >> 4u) & 0x0f0f0f0fu) | spread4(qh >> (16u + 4u * k));
}

// Byte k of the 12 packed scale bytes of the Q4_K / Q5_K block at word `wo`.
fn kscale_byte(wo: u32, k: u32) -> u32 {
    return (w[wo + 1u + k / 4u] >> (8u * (k % 4u))) & 0xffu;
}

// (scale, min) of sub-block j (kernels::quant::kscales::get_scale_min_k4).
fn scale_min_k4(wo: u32, j: u32) -> vec2<u32> {
    if (j < 4u) {
        return vec2<u32>(kscale_byte(wo, j) & 63u, kscale_byte(wo, j + 4u) & 63u);
    }
    let sc = (kscale_byte(wo, j + 4u) & 0xfu) | ((kscale_byte(wo, j - 4u) >> 6u) << 4u);
    let m = (kscale_byte(wo, j + 4u) >> 4u) | ((kscale_byte(wo, j) >> 6u) << 4u);
    return vec2<u32>(sc, m);
}

// Q5_K quants of chunk c: nibbles q with bit 2c (low) or 2c + 1 (high) of
// the qh word h on top.
fn q5k_lo(q: u32, h: u32, c: u32) -> u32 {
    return (q & 0x0f0f0f0fu) | (((h >> (2u * c)) & 0x01010101u) << 4u);
}

fn q5k_hi(q: u32, h: u32, c: u32) -> u32 {
    return ((q >> 4u) & 0x0f0f0f0fu) | (((h >> (2u * c + 1u)) & 0x01010101u) << 4u);
}

// Q6_K quants 4t..4t+3 of sub-block j of 16 of the block at byte `off`:
// element 128n + 32k + l has its low 4 bits in ql[64n + 32(k & 1) + l]
// (high nibble for k >= 2) and bits 2k..2k+2 of qh[32n + l] on top.
fn q6k_word(off: u32, j: u32, t: u32) -> u32 {
    let n = j / 8u;
    let k = (j % 8u) / 2u;
    let l = (j % 2u) * 16u + 4u * t;
    let lw = w_word(off + 64u * n + 32u * (k & 1u) + l);
    let hw = w_word(off + 128u + 32u * n + l);
    return ((lw >> (4u * (k / 2u))) & 0x0f0f0f0fu) | (((hw >> (2u * k)) & 0x03030303u) << 4u);
}

// The i8 scale of sub-block j of the Q6_K block at byte `off`.
fn q6k_scale(off: u32, j: u32) -> i32 {
    return bitcast<i32>(w_word(off + 192u + (j & ~3u)) << (24u - 8u * (j & 3u))) >> 24u;
}

// 32-element block types, passed as constants (each entry point's calls
// specialize): Q8_0, Q4_0, Q5_0 (Q8_0 activations), Q4_1, Q5_1 (Q8_1).
const KIND_Q8_0: u32 = 0u;
const KIND_Q4_0: u32 = 1u;
const KIND_Q5_0: u32 = 2u;
const KIND_Q4_1: u32 = 3u;
const KIND_Q5_1: u32 = 4u;

// Bytes of a block: Q8_0 (d, 32 i8), Q4_0 (d, 16 bytes of nibbles),
// Q5_0 (d, qh, nibbles), Q4_1 (d, m, nibbles), Q5_1 (d, m, qh, nibbles).
fn legacy_bytes(kind: u32) -> u32 {
    var bytes = array<u32, 5>(34u, 18u, 22u, 20u, 24u);
    return bytes[kind];
}

// The 32 quants of the block at byte `off` as 8 words in the activations'
// order (word k: elements 4k..4k+3). Nibble types: element j < 16 the low
// nibble of byte j, element 16 + j the high one (Q5: with a fifth bit).
fn legacy_words(kind: u32, off: u32) -> array<u32, 8> {
    var q: array<u32, 8>;
    if (kind == KIND_Q8_0) {
        for (var k = 0u; k < 8u; k = k + 1u) {
            q[k] = w_word(off + 2u + 4u * k);
        }
        return q;
    }
    // nibbles after d (Q4_0), d and m (Q4_1), then qh for the Q5 types
    let five = kind == KIND_Q5_0 || kind == KIND_Q5_1;
    let head = select(2u, 4u, kind == KIND_Q4_1 || kind == KIND_Q5_1);
    let qh = w_word(off + head);
    let at = off + head + select(0u, 4u, five);
    for (var k = 0u; k < 4u; k = k + 1u) {
        let v = w_word(at + 4u * k);
        if (five) {
            q[k] = q5_lo(v, qh, k);
            q[4u + k] = q5_hi(v, qh, k);
        } else {
            q[k] = v & 0x0f0f0f0fu;
            q[4u + k] = (v >> 4u) & 0x0f0f0f0fu;
        }
    }
    return q;
}

// What each quant is offset by (Q4_0: q − 8, Q5_0: q − 16; taken off a
// block's sum as offset · Σa), 0 for the types with a min.
fn legacy_offset(kind: u32) -> i32 {
    return select(select(0, 16, kind == KIND_Q5_0), 8, kind == KIND_Q4_0);
}

// A block's term from its exact integer sum, in each CPU reference's order
// (dm: the weights' d and, for Q4_1 / Q5_1, m; ds: the activations' d
// and, for Q8_1, s).
fn legacy_term(kind: u32, sumi: i32, dm: vec2<f32>, ds: vec2<f32>) -> f32 {
    if (kind == KIND_Q8_0) {
        return f32(sumi) * (dm.x * ds.x);
    }
    if (kind == KIND_Q4_0) {
        return f32(sumi) * dm.x * ds.x;
    }
    if (kind == KIND_Q5_0) {
        return (dm.x * ds.x) * f32(sumi);
    }
    return (dm.x * ds.x) * f32(sumi) + dm.y * ds.y;
}

// k-quant types: Q4_K, Q5_K (176-byte blocks: d, dmin, scales [12],
// qh [32], qs [128]; Q4_K has no qh).
const KIND_Q4_K: u32 = 0u;
const KIND_Q5_K: u32 = 1u;

// The quants of chunk c (64 elements: sub-blocks 2c and 2c + 1) of the
// Q4_K / Q5_K block at word `wo`, as 16 words in the activations' order
// (words 16c .. 16c + 16 of the block's).
fn kquant_words(kind: u32, wo: u32, c: u32) -> array<u32, 16> {
    var q: array<u32, 16>;
    for (var k = 0u; k < 8u; k = k + 1u) {
        if (kind == KIND_Q4_K) {
            let v = w[wo + 4u + 8u * c + k];
            q[k] = v & 0x0f0f0f0fu;
            q[8u + k] = (v >> 4u) & 0x0f0f0f0fu;
        } else {
            let v = w[wo + 12u + 8u * c + k];
            let h = w[wo + 4u + k];
            q[k] = q5k_lo(v, h, c);
            q[8u + k] = q5k_hi(v, h, c);
        }
    }
    return q;
}

// (scale, min) of sub-blocks 2c and 2c + 1 of the Q4_K / Q5_K block at
// word `wo` (chunk c of 64 elements).
fn kquant_scales(wo: u32, c: u32) -> vec4<i32> {
    let s0 = scale_min_k4(wo, 2u * c);
    let s1 = scale_min_k4(wo, 2u * c + 1u);
    return vec4<i32>(i32(s0.x), i32(s0.y), i32(s1.x), i32(s1.y));
}

// A Q4_K / Q5_K chunk (sm: its `kquant_scales`; lo, hi: the integer dots
// of its two sub-blocks; bs: the activations' four bsums of them):
// (d_w·d_x)·Σ sc·dot − (dmin_w·d_x)·Σ m·bsums.
fn scaled_kquant(sm: vec4<i32>, lo: i32, hi: i32, bs: vec4<i32>, dm: vec2<f32>, dx: f32) -> f32 {
    let isc = sm.x * lo + sm.z * hi;
    let imin = sm.y * (bs.x + bs.y) + sm.w * (bs.z + bs.w);
    return (dm.x * dx) * f32(isc) - (dm.y * dx) * f32(imin);
}

// Q6_K · Q8_K, sub-block j: (d_w · d_x) · (sc_j · Σ (q − 32)·a).
fn scaled_q6_k(sc: i32, isum: i32, dw: f32, dx: f32) -> f32 {
    return (dw * dx) * f32(sc * isum);
}
