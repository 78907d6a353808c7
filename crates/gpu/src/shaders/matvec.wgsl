// Decode matvec of quantized weights with activations quantized on the GPU
// (quantize.wgsl's layout): y[y_offset + r] = w[r] · x for the rows of one
// part of a weight tensor (GGUF block layout as u32 words). One workgroup
// of 64 per row; `idot4` (idot_packed / idot_plain) gives exact integer
// sums per block, scaled per block as the CPU reference does.
//
// Summation order: each invocation sums its blocks' scaled sums in f32,
// then a tree over the workgroup; the CPU sums blocks in order (Q4_K: in 8
// lanes of element index mod 8). Integer sums are exact on both; only the
// f32 rounding of the block sums differs.

struct Params { rows: u32, nb: u32, row_bytes: u32, y_offset: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> aq: array<u32>;
@group(0) @binding(3) var<storage, read> ad: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// Q8_K activations only: the sums of each 16 quants.
@group(0) @binding(5) var<storage, read> bsums: array<i32>;

var<workgroup> part: array<f32, 64>;

// y[y_offset + r] = the workgroup's sum (li 0 writes).
fn finish(li: u32, r: u32, s: f32) {
    part[li] = s;
    workgroupBarrier();
    for (var k = 32u; k > 0u; k = k >> 1u) {
        if (li < k) {
            part[li] = part[li] + part[li + k];
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        y[p.y_offset + r] = part[0];
    }
}

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

// Q8_0 · Q8_0: per block sumi * (d_w * d_x).
@compute @workgroup_size(64)
fn matvec_q8_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = flat_group(wg, nw);
    if (r >= p.rows) {
        return;
    }
    var s = 0.0;
    for (var b = li; b < p.nb; b = b + 64u) {
        let off = r * p.row_bytes + 34u * b;
        var sumi = 0;
        for (var k = 0u; k < 8u; k = k + 1u) {
            sumi = sumi + idot4(w_word(off + 2u + 4u * k), aq[8u * b + k]);
        }
        s = s + f32(sumi) * (f16_bits_to_f32(w_half(off)) * f16_bits_to_f32(ad[b]));
    }
    finish(li, r, s);
}

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

// Q4_K · Q8_K: one invocation per (block, 64-element chunk c): sub-blocks
// 2c (low nibbles) and 2c+1 (high nibbles). Per block the CPU computes
// (d_w·d_x) · Σ sc·(q·a) − (dmin_w·d_x) · Σ m·bsums; so does this, per chunk.
@compute @workgroup_size(64)
fn matvec_q4_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = flat_group(wg, nw);
    if (r >= p.rows) {
        return;
    }
    var s = 0.0;
    for (var it = li; it < 4u * p.nb; it = it + 64u) {
        let b = it / 4u;
        let c = it % 4u;
        let wo = (r * p.row_bytes + 144u * b) / 4u;
        let dm = unpack2x16float(w[wo]);
        var lo = 0;
        var hi = 0;
        for (var k = 0u; k < 8u; k = k + 1u) {
            let q = w[wo + 4u + 8u * c + k];
            lo = lo + idot4(q & 0x0f0f0f0fu, aq[64u * b + 16u * c + k]);
            hi = hi + idot4((q >> 4u) & 0x0f0f0f0fu, aq[64u * b + 16u * c + 8u + k]);
        }
        let s0 = scale_min_k4(wo, 2u * c);
        let s1 = scale_min_k4(wo, 2u * c + 1u);
        let bs = 16u * b + 4u * c; // bsums of sub-blocks 2c, 2c+1
        let isc = i32(s0.x) * lo + i32(s1.x) * hi;
        let imin = i32(s0.y) * (bsums[bs] + bsums[bs + 1u])
            + i32(s1.y) * (bsums[bs + 2u] + bsums[bs + 3u]);
        let dx = bitcast<f32>(ad[b]);
        s = s + (dm.x * dx) * f32(isc) - (dm.y * dx) * f32(imin);
    }
    finish(li, r, s);
}
