// Decode matvec, k-quants with Q8_K activations (bindings and helpers:
// matvec_common.wgsl).

// Byte k of the 12 packed scale bytes of the Q4_K block at word `wo`.
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

// A Q4_K / Q5_K chunk's share of the block: sub-blocks 2c and 2c + 1 with
// integer dots lo and hi, (d_w·d_x)·Σ sc·dot − (dmin_w·d_x)·Σ m·bsums.
fn kquant_scaled(wo: u32, b: u32, c: u32, lo: i32, hi: i32, dm: vec2<f32>) -> f32 {
    let s0 = scale_min_k4(wo, 2u * c);
    let s1 = scale_min_k4(wo, 2u * c + 1u);
    let bs = 16u * b + 4u * c; // bsums of sub-blocks 2c, 2c+1
    let isc = i32(s0.x) * lo + i32(s1.x) * hi;
    let imin = i32(s0.y) * (bsums[tb + bs] + bsums[tb + bs + 1u])
        + i32(s1.y) * (bsums[tb + bs + 2u] + bsums[tb + bs + 3u]);
    let dx = bitcast<f32>(ad[td + b]);
    return (dm.x * dx) * f32(isc) - (dm.y * dx) * f32(imin);
}

// Q4_K · Q8_K: one invocation per (block, 64-element chunk c): sub-blocks
// 2c (low nibbles) and 2c+1 (high nibbles). Per block the CPU computes
// (d_w·d_x) · Σ sc·(q·a) − (dmin_w·d_x) · Σ m·bsums; so does this, per chunk.
@compute @workgroup_size(64)
fn matvec_q4_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 64u);
    let lane = li % LANES;
    var s = 0.0;
    for (var it = lane; it < 4u * p.nb; it = it + LANES) {
        let b = it / 4u;
        let c = it % 4u;
        let wo = (r * p.row_bytes + 144u * b) / 4u;
        let dm = unpack2x16float(w[wo]);
        var lo = 0;
        var hi = 0;
        for (var k = 0u; k < 8u; k = k + 1u) {
            let q = w[wo + 4u + 8u * c + k];
            lo = lo + idot4(q & 0x0f0f0f0fu, aq[ta + 64u * b + 16u * c + k]);
            hi = hi + idot4((q >> 4u) & 0x0f0f0f0fu, aq[ta + 64u * b + 16u * c + 8u + k]);
        }
        s = s + kquant_scaled(wo, b, c, lo, hi, dm);
    }
    finish(li, r, s);
}

// Q5_K · Q8_K (176-byte blocks: d, dmin, scales [12], qh [32], qs [128]):
// Q4_K's nibbles with a fifth bit, bit 2c (low nibbles) or 2c + 1 (high)
// of qh[l] for chunk c; scaled as Q4_K.
@compute @workgroup_size(64)
fn matvec_q5_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 64u);
    let lane = li % LANES;
    var s = 0.0;
    for (var it = lane; it < 4u * p.nb; it = it + LANES) {
        let b = it / 4u;
        let c = it % 4u;
        let wo = (r * p.row_bytes + 176u * b) / 4u;
        let dm = unpack2x16float(w[wo]);
        var lo = 0;
        var hi = 0;
        for (var k = 0u; k < 8u; k = k + 1u) {
            let q = w[wo + 12u + 8u * c + k];
            let h = w[wo + 4u + k];
            let q0 = (q & 0x0f0f0f0fu) | (((h >> (2u * c)) & 0x01010101u) << 4u);
            let q1 = ((q >> 4u) & 0x0f0f0f0fu) | (((h >> (2u * c + 1u)) & 0x01010101u) << 4u);
            lo = lo + idot4(q0, aq[ta + 64u * b + 16u * c + k]);
            hi = hi + idot4(q1, aq[ta + 64u * b + 16u * c + 8u + k]);
        }
        s = s + kquant_scaled(wo, b, c, lo, hi, dm);
    }
    finish(li, r, s);
}

// Q6_K · Q8_K (210-byte blocks: ql [128], qh [64], i8 scales [16], d).
// One invocation per (block, sub-block j of 16): element 128n + 32k + l
// has its low 4 bits in ql[64n + 32(k & 1) + l] (high nibble for k >= 2)
// and bits 2k..2k+2 of qh[32n + l] on top; q − 32 (taken off as
// 32 · bsums[j]). The CPU computes (d_w · d_x) · Σ_j sc_j · Σ (q − 32)·a.
@compute @workgroup_size(64)
fn matvec_q6_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 64u);
    let lane = li % LANES;
    var s = 0.0;
    for (var it = lane; it < 16u * p.nb; it = it + LANES) {
        let b = it / 16u;
        let j = it % 16u;
        let off = r * p.row_bytes + 210u * b;
        let n = j / 8u;
        let k = (j % 8u) / 2u;
        let l0 = (j % 2u) * 16u;
        var dot = 0;
        for (var t = 0u; t < 4u; t = t + 1u) {
            let l = l0 + 4u * t;
            let lw = w_word(off + 64u * n + 32u * (k & 1u) + l);
            let hw = w_word(off + 128u + 32u * n + l);
            let lo = (lw >> (4u * (k / 2u))) & 0x0f0f0f0fu;
            let q = lo | (((hw >> (2u * k)) & 0x03030303u) << 4u);
            dot = dot + idot4(q, aq[ta + 64u * b + 4u * j + t]);
        }
        let isum = dot - 32 * bsums[tb + 16u * b + j];
        let sc = bitcast<i32>(w_word(off + 192u + (j & ~3u)) << (24u - 8u * (j & 3u))) >> 24u;
        let dx = bitcast<f32>(ad[td + b]);
        s = s + (f16_bits_to_f32(w_half(off + 208u)) * dx) * f32(sc * isum);
    }
    finish(li, r, s);
}
