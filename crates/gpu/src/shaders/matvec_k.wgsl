// Decode matvec, k-quants with Q8_K activations (bindings and helpers:
// matvec_common.wgsl; the unpacking and scaling of each type, shared with
// the prefill matmul: weights.wgsl).

// Q4_K / Q5_K · Q8_K: one invocation per (block, 64-element chunk c):
// sub-blocks 2c (low nibbles) and 2c+1 (high nibbles). Per block the CPU
// computes (d_w·d_x) · Σ sc·(q·a) − (dmin_w·d_x) · Σ m·bsums; so does
// this, per chunk.
fn kquant_matvec(kind: u32, wg: vec3<u32>, nw: vec3<u32>, li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 64u);
    let lane = li % LANES;
    let bytes = select(176u, 144u, kind == KIND_Q4_K);
    var s = 0.0;
    for (var it = lane; it < 4u * p.nb; it = it + LANES) {
        let b = it / 4u;
        let c = it % 4u;
        let wo = (r * p.row_bytes + bytes * b) / 4u;
        var q = kquant_words(kind, wo, c);
        let a = ta + 64u * b + 16u * c;
        var lo = 0;
        var hi = 0;
        for (var k = 0u; k < 8u; k = k + 1u) {
            lo = lo + idot4(q[k], aq[a + k]);
            hi = hi + idot4(q[8u + k], aq[a + 8u + k]);
        }
        let i = tb + 16u * b + 4u * c;
        let bs = vec4<i32>(bsums[i], bsums[i + 1u], bsums[i + 2u], bsums[i + 3u]);
        let dx = bitcast<f32>(ad[td + b]);
        s = s + scaled_kquant(kquant_scales(wo, c), lo, hi, bs, unpack2x16float(w[wo]), dx);
    }
    finish(li, r, s);
}

@compute @workgroup_size(64)
fn matvec_q4_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    kquant_matvec(KIND_Q4_K, wg, nw, li);
}

@compute @workgroup_size(64)
fn matvec_q5_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    kquant_matvec(KIND_Q5_K, wg, nw, li);
}

// Q6_K · Q8_K (210-byte blocks: ql [128], qh [64], i8 scales [16], d).
// One invocation per (block, sub-block j of 16), quants `q6k_word`, q − 32
// (taken off as 32 · bsums[j]). The CPU computes
// (d_w · d_x) · Σ_j sc_j · Σ (q − 32)·a.
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
        var dot = 0;
        for (var t = 0u; t < 4u; t = t + 1u) {
            dot = dot + idot4(q6k_word(off, j, t), aq[ta + 64u * b + 4u * j + t]);
        }
        let isum = dot - 32 * bsums[tb + 16u * b + j];
        let dx = bitcast<f32>(ad[td + b]);
        s = s + scaled_q6_k(q6k_scale(off, j), isum, f16_bits_to_f32(w_half(off + 208u)), dx);
    }
    finish(li, r, s);
}
