// Prefill matmul, float weights against f32 activations (x itself for
// F32, x rounded to f16 for F16, as the matvec): steps of STEP values,
// each lane the values lane, lane + 4, ... as the matvec's lanes
// (matmul_common.wgsl; `p.nb` is the row length).

// The weight of row `r`, column `i` (F16 weights when `is_f16`).
fn float_weight(is_f16: bool, r: u32, i: u32) -> f32 {
    if (is_f16) {
        return f16_bits_to_f32(w_half(r * p.row_bytes + 2u * i));
    }
    return bitcast<f32>(w[r * p.row_bytes / 4u + i]);
}

fn float_matmul(is_f16: bool, wg: vec3<u32>, nw: vec3<u32>, li: u32) {
    let r = tile_row(wg, nw, li);
    let lane = li % LANES;
    for (var s0 = 0u; s0 < p.nb; s0 = s0 + STEP) {
        stage_qs(s0, p.nb, li);
        workgroupBarrier();
        for (var i = lane; i < STEP && s0 + i < p.nb; i = i + LANES) {
            let wv = float_weight(is_f16, r, s0 + i);
            for (var t = 0u; t < TOK; t = t + 1u) {
                acc[t] = acc[t] + wv * bitcast<f32>(sq[STEP * t + i]);
            }
        }
        workgroupBarrier();
    }
    finish_tile(li, r);
}

@compute @workgroup_size(64)
fn matmul_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    float_matmul(false, wg, nw, li);
}

@compute @workgroup_size(64)
fn matmul_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    float_matmul(true, wg, nw, li);
}
