// Decode matvec, 32-element blocks with Q8_0 activations (Q8_0, Q4_0,
// Q5_0) or Q8_1 ones (Q4_1, Q5_1; `ad` holds d | s << 16). Bindings and
// helpers: matvec_common.wgsl.

// Q8_0 · Q8_0: per block sumi * (d_w * d_x).
@compute @workgroup_size(64)
fn matvec_q8_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 8u);
    let lane = li % LANES;
    var s = 0.0;
    for (var b = lane; b < p.nb; b = b + LANES) {
        let off = r * p.row_bytes + 34u * b;
        var sumi = 0;
        for (var k = 0u; k < 8u; k = k + 1u) {
            sumi = sumi + idot4(w_word(off + 2u + 4u * k), aq[ta + 8u * b + k]);
        }
        s = s + f32(sumi) * (f16_bits_to_f32(w_half(off)) * f16_bits_to_f32(ad[td + b]));
    }
    finish(li, r, s);
}

// Q4_0 · Q8_0 (18-byte blocks: d, 16 bytes of nibbles; element j < 16 the
// low nibble of byte j, element 16 + j the high one, both q − 8). The CPU
// scales as (sumi · d_w) · d_x.
@compute @workgroup_size(64)
fn matvec_q4_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 8u);
    let lane = li % LANES;
    var s = 0.0;
    for (var b = lane; b < p.nb; b = b + LANES) {
        let off = r * p.row_bytes + 18u * b;
        var sumi = 0;
        var asum = 0;
        for (var k = 0u; k < 4u; k = k + 1u) {
            let q = w_word(off + 2u + 4u * k);
            let a0 = aq[ta + 8u * b + k];
            let a1 = aq[ta + 8u * b + 4u + k];
            sumi = sumi + idot4(q & 0x0f0f0f0fu, a0) + idot4((q >> 4u) & 0x0f0f0f0fu, a1);
            asum = asum + lane_sum(a0) + lane_sum(a1);
        }
        sumi = sumi - 8 * asum;
        s = s + f32(sumi) * f16_bits_to_f32(w_half(off)) * f16_bits_to_f32(ad[td + b]);
    }
    finish(li, r, s);
}

// Bits 0..3 of `h` to bit 4 of each byte.
fn spread4(h: u32) -> u32 {
    return ((h & 1u) << 4u) | ((h & 2u) << 11u) | ((h & 4u) << 18u) | ((h & 8u) << 25u);
}

// Q5_0 · Q8_0 (22-byte blocks: d, qh (32 high bits), 16 bytes of nibbles;
// element j: low nibble of byte j | bit j of qh << 4, element 16 + j: high
// nibble | bit 16 + j; both q − 16). The CPU scales as (d_w · d_x) · sumi.
@compute @workgroup_size(64)
fn matvec_q5_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 8u);
    let lane = li % LANES;
    var s = 0.0;
    for (var b = lane; b < p.nb; b = b + LANES) {
        let off = r * p.row_bytes + 22u * b;
        let qh = w_word(off + 2u);
        var sumi = 0;
        var asum = 0;
        for (var k = 0u; k < 4u; k = k + 1u) {
            let q = w_word(off + 6u + 4u * k);
            let a0 = aq[ta + 8u * b + k];
            let a1 = aq[ta + 8u * b + 4u + k];
            let q0 = (q & 0x0f0f0f0fu) | spread4(qh >> (4u * k));
            let q1 = ((q >> 4u) & 0x0f0f0f0fu) | spread4(qh >> (16u + 4u * k));
            sumi = sumi + idot4(q0, a0) + idot4(q1, a1);
            asum = asum + lane_sum(a0) + lane_sum(a1);
        }
        sumi = sumi - 16 * asum;
        s = s + (f16_bits_to_f32(w_half(off)) * f16_bits_to_f32(ad[td + b])) * f32(sumi);
    }
    finish(li, r, s);
}

// Q4_1 · Q8_1 (20-byte blocks: d, m, 16 bytes of nibbles, q in 0..16):
// per block (d_w · d_x) · sumi + m_w · s_x, as the CPU.
@compute @workgroup_size(64)
fn matvec_q4_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 8u);
    let lane = li % LANES;
    var s = 0.0;
    for (var b = lane; b < p.nb; b = b + LANES) {
        let wo = (r * p.row_bytes + 20u * b) / 4u;
        var sumi = 0;
        for (var k = 0u; k < 4u; k = k + 1u) {
            let q = w[wo + 1u + k];
            sumi = sumi + idot4(q & 0x0f0f0f0fu, aq[ta + 8u * b + k])
                + idot4((q >> 4u) & 0x0f0f0f0fu, aq[ta + 8u * b + 4u + k]);
        }
        let dm = unpack2x16float(w[wo]);
        let ds = unpack2x16float(ad[td + b]);
        s = s + ((dm.x * ds.x) * f32(sumi) + dm.y * ds.y);
    }
    finish(li, r, s);
}

// Q5_1 · Q8_1 (24-byte blocks: d, m, qh, 16 bytes of nibbles; the fifth
// bits as Q5_0's, q in 0..32): (d_w · d_x) · sumi + m_w · s_x.
@compute @workgroup_size(64)
fn matvec_q5_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
    let r = row_of(wg, nw, li);
    token(wg.z, 8u);
    let lane = li % LANES;
    var s = 0.0;
    for (var b = lane; b < p.nb; b = b + LANES) {
        let wo = (r * p.row_bytes + 24u * b) / 4u;
        let qh = w[wo + 1u];
        var sumi = 0;
        for (var k = 0u; k < 4u; k = k + 1u) {
            let q = w[wo + 2u + k];
            let q0 = (q & 0x0f0f0f0fu) | spread4(qh >> (4u * k));
            let q1 = ((q >> 4u) & 0x0f0f0f0fu) | spread4(qh >> (16u + 4u * k));
            sumi = sumi + idot4(q0, aq[ta + 8u * b + k]) + idot4(q1, aq[ta + 8u * b + 4u + k]);
        }
        let dm = unpack2x16float(w[wo]);
        let ds = unpack2x16float(ad[td + b]);
        s = s + ((dm.x * ds.x) * f32(sumi) + dm.y * ds.y);
    }
    finish(li, r, s);
}
