// Prefill matmul, 32-element blocks (Q8_0, Q4_0, Q5_0 with Q8_0
// activations; Q4_1, Q5_1 with Q8_1): steps of 16 blocks, each lane a
// block of four of the step, as the matvec's lanes (matmul_common.wgsl,
// weights.wgsl).

fn legacy_matmul(kind: u32, wg: vec3<u32>, nw: vec3<u32>, li: u32) {
    let r = tile_row(wg, nw, li);
    let lane = li % LANES;
    let bytes = legacy_bytes(kind);
    for (var s0 = 0u; s0 < p.nb; s0 = s0 + 16u) {
        stage_qs(8u * s0, 8u * p.nb, li);
        stage_d(s0, 16u, li);
        workgroupBarrier();
        for (var bi = lane; bi < 16u && s0 + bi < p.nb; bi = bi + LANES) {
            let off = r * p.row_bytes + bytes * (s0 + bi);
            // the block decoded once for the tile's tokens
            var q = legacy_words(kind, off);
            let dm = unpack2x16float(w_word(off));
            for (var t = 0u; t < TOK; t = t + 1u) {
                let a = STEP * t + 8u * bi;
                var sumi = 0;
                for (var k = 0u; k < 8u; k = k + 1u) {
                    sumi = sumi + idot4(q[k], sq[a + k]);
                }
                if (legacy_offset(kind) != 0) {
                    var asum = 0;
                    for (var k = 0u; k < 8u; k = k + 1u) {
                        asum = asum + lane_sum(sq[a + k]);
                    }
                    sumi = sumi - legacy_offset(kind) * asum;
                }
                acc[t] = acc[t] + legacy_term(kind, sumi, dm, unpack2x16float(sd[16u * t + bi]));
            }
        }
        workgroupBarrier();
    }
    finish_tile(li, r);
}

@compute @workgroup_size(64)
fn matmul_q8_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matmul(KIND_Q8_0, wg, nw, li);
}

@compute @workgroup_size(64)
fn matmul_q4_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matmul(KIND_Q4_0, wg, nw, li);
}

@compute @workgroup_size(64)
fn matmul_q5_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matmul(KIND_Q5_0, wg, nw, li);
}

@compute @workgroup_size(64)
fn matmul_q4_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matmul(KIND_Q4_1, wg, nw, li);
}

@compute @workgroup_size(64)
fn matmul_q5_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matmul(KIND_Q5_1, wg, nw, li);
}
