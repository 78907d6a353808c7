// Decode matvec, float weights (bindings and helpers: matvec_common.wgsl;
// here `p.nb` is the row length and `aq` holds f32 activations: x itself
// for F32 weights, x rounded to f16 for F16 weights, as the CPU). Each
// product is exact in f32 for F16·F16; the sums run in f32 per invocation,
// then the workgroup tree (the CPU sums products in f64, in order).

@compute @workgroup_size(64)
fn matvec_f32(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 1u);
    let lane = li % LANES;
    let base = r * p.row_bytes / 4u;
    var s = 0.0;
    for (var i = lane; i < p.nb; i = i + LANES) {
        s = s + bitcast<f32>(w[base + i]) * bitcast<f32>(aq[ta + i]);
    }
    finish(li, r, s);
}

@compute @workgroup_size(64)
fn matvec_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
              @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 1u);
    let lane = li % LANES;
    let base = r * p.row_bytes;
    var s = 0.0;
    for (var i = lane; i < p.nb; i = i + LANES) {
        s = s + f16_bits_to_f32(w_half(base + 2u * i)) * bitcast<f32>(aq[ta + i]);
    }
    finish(li, r, s);
}
