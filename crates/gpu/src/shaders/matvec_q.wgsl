// Decode matvec, 32-element blocks with Q8_0 activations (Q8_0, Q4_0,
// Q5_0) or Q8_1 ones (Q4_1, Q5_1; `ad` holds d | s << 16). Bindings and
// helpers: matvec_common.wgsl; the unpacking and scaling of each type
// (shared with the prefill matmul): weights.wgsl.

// One lane of a row: blocks lane, lane + LANES, ... of token wg.z.
fn legacy_matvec(kind: u32, wg: vec3<u32>, nw: vec3<u32>, li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 8u);
    let lane = li % LANES;
    let bytes = legacy_bytes(kind);
    var s = 0.0;
    for (var b = lane; b < p.nb; b = b + LANES) {
        let off = r * p.row_bytes + bytes * b;
        var q = legacy_words(kind, off);
        var sumi = 0;
        for (var k = 0u; k < 8u; k = k + 1u) {
            sumi = sumi + idot4(q[k], aq[ta + 8u * b + k]);
        }
        if (legacy_offset(kind) != 0) {
            var asum = 0;
            for (var k = 0u; k < 8u; k = k + 1u) {
                asum = asum + lane_sum(aq[ta + 8u * b + k]);
            }
            sumi = sumi - legacy_offset(kind) * asum;
        }
        let dm = unpack2x16float(w_word(off));
        s = s + legacy_term(kind, sumi, dm, unpack2x16float(ad[td + b]));
    }
    finish(li, r, s);
}

@compute @workgroup_size(64)
fn matvec_q8_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matvec(KIND_Q8_0, wg, nw, li);
}

@compute @workgroup_size(64)
fn matvec_q4_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matvec(KIND_Q4_0, wg, nw, li);
}

@compute @workgroup_size(64)
fn matvec_q5_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matvec(KIND_Q5_0, wg, nw, li);
}

@compute @workgroup_size(64)
fn matvec_q4_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matvec(KIND_Q4_1, wg, nw, li);
}

@compute @workgroup_size(64)
fn matvec_q5_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    legacy_matvec(KIND_Q5_1, wg, nw, li);
}
