// Prefill matmul, k-quants with Q8_K activations: steps of 2 blocks
// (matmul_common.wgsl, weights.wgsl). Each lane takes the matvec's items:
// Q4_K / Q5_K chunk c = lane of each block, Q6_K sub-blocks lane,
// lane + 4, ... of each block.

fn kquant_matmul(kind: u32, wg: vec3<u32>, nw: vec3<u32>, li: u32) {
    let r = tile_row(wg, nw, li);
    let c = li % LANES;
    let bytes = select(176u, 144u, kind == KIND_Q4_K);
    for (var s0 = 0u; s0 < p.nb; s0 = s0 + 2u) {
        stage_qs(64u * s0, 64u * p.nb, li);
        stage_d(s0, 2u, li);
        stage_bsums(s0, li);
        workgroupBarrier();
        for (var bi = 0u; bi < 2u && s0 + bi < p.nb; bi = bi + 1u) {
            let wo = (r * p.row_bytes + bytes * (s0 + bi)) / 4u;
            var q = kquant_words(kind, wo, c);
            let sm = kquant_scales(wo, c);
            let dm = unpack2x16float(w[wo]);
            for (var t = 0u; t < TOK; t = t + 1u) {
                let a = STEP * t + 64u * bi + 16u * c;
                var lo = 0;
                var hi = 0;
                for (var k = 0u; k < 8u; k = k + 1u) {
                    lo = lo + idot4(q[k], sq[a + k]);
                    hi = hi + idot4(q[8u + k], sq[a + 8u + k]);
                }
                let i = 32u * t + 16u * bi + 4u * c;
                let bs = vec4<i32>(sb[i], sb[i + 1u], sb[i + 2u], sb[i + 3u]);
                let dx = bitcast<f32>(sd[16u * t + bi]);
                acc[t] = acc[t] + scaled_kquant(sm, lo, hi, bs, dm, dx);
            }
        }
        workgroupBarrier();
    }
    finish_tile(li, r);
}

@compute @workgroup_size(64)
fn matmul_q4_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    kquant_matmul(KIND_Q4_K, wg, nw, li);
}

@compute @workgroup_size(64)
fn matmul_q5_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    kquant_matmul(KIND_Q5_K, wg, nw, li);
}

@compute @workgroup_size(64)
fn matmul_q6_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = tile_row(wg, nw, li);
    let lane = li % LANES;
    for (var s0 = 0u; s0 < p.nb; s0 = s0 + 2u) {
        stage_qs(64u * s0, 64u * p.nb, li);
        stage_d(s0, 2u, li);
        stage_bsums(s0, li);
        workgroupBarrier();
        for (var it = lane; it < 32u && s0 + it / 16u < p.nb; it = it + LANES) {
            let bi = it / 16u;
            let j = it % 16u;
            let off = r * p.row_bytes + 210u * (s0 + bi);
            var q: array<u32, 4>;
            for (var k = 0u; k < 4u; k = k + 1u) {
                q[k] = q6k_word(off, j, k);
            }
            let sc = q6k_scale(off, j);
            let dw = f16_bits_to_f32(w_half(off + 208u));
            for (var t = 0u; t < TOK; t = t + 1u) {
                let a = STEP * t + 64u * bi + 4u * j;
                var dot = 0;
                for (var k = 0u; k < 4u; k = k + 1u) {
                    dot = dot + idot4(q[k], sq[a + k]);
                }
                let isum = dot - 32 * sb[32u * t + 16u * bi + j];
                let dx = bitcast<f32>(sd[16u * t + bi]);
                acc[t] = acc[t] + scaled_q6_k(sc, isum, dw, dx);
            }
        }
        workgroupBarrier();
    }
    finish_tile(li, r);
}
