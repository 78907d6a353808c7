// Embedding rows: out[t] = dequantize(table[ids[t]]) for the ids that fall
// in this part of the table (rows part_start .. part_start + part_rows;
// a split table is gathered with one dispatch per part).
// table: [part_rows, cols] of `ty` as u32 words (ty 0: F32, 1: F16,
// 2: Q8_0, 3: Q4_K, 4: Q6_K), ids: [n_tok] -> out: [n_tok, cols] f32.
// Values are computed in the CPU dequantizers' order (Q8_0: q * d;
// Q4_K: (d * sc) * q - dmin * m; Q6_K: (d * sc) * q).

struct Params { n_tok: u32, cols: u32, ty: u32, row_bytes: u32, part_start: u32, part_rows: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> table: array<u32>;
@group(0) @binding(2) var<storage, read> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn byte_at(off: u32) -> u32 {
    return (table[off >> 2u] >> ((off & 3u) * 8u)) & 0xffu;
}

fn half_at(off: u32) -> u32 { // off even
    return (table[off >> 2u] >> ((off & 2u) * 8u)) & 0xffffu;
}

@compute @workgroup_size(256)
fn get_rows(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 256u + li;
    if (i >= p.n_tok * p.cols) {
        return;
    }
    let t = i / p.cols;
    let c = i % p.cols;
    let id = ids[t];
    if (id < p.part_start || id - p.part_start >= p.part_rows) {
        return;
    }
    let base = (id - p.part_start) * p.row_bytes;
    var v = 0.0;
    if (p.ty == 0u) {
        v = bitcast<f32>(table[(base >> 2u) + c]);
    } else if (p.ty == 1u) {
        v = f16_bits_to_f32(half_at(base + 2u * c));
    } else if (p.ty == 2u) {
        let blk = base + (c / 32u) * 34u;
        let d = f16_bits_to_f32(half_at(blk));
        let q = i32(byte_at(blk + 2u + c % 32u) << 24u) >> 24u;
        v = f32(q) * d;
    } else if (p.ty == 3u) {
        v = q4_k_at(base + (c / 256u) * 144u, c % 256u);
    } else {
        v = q6_k_at(base + (c / 256u) * 210u, c % 256u);
    }
    out[i] = v;
}

// Element e of the Q4_K block at byte blk: d, dmin, scales[12], qs[128].
fn q4_k_at(blk: u32, e: u32) -> f32 {
    let d = f16_bits_to_f32(half_at(blk));
    let dmin = f16_bits_to_f32(half_at(blk + 2u));
    let c = e / 64u;
    let hi = (e % 64u) / 32u;
    let j = 2u * c + hi; // sub-block (kscales::get_scale_min_k4)
    let s = blk + 4u;
    var sc = 0u;
    var m = 0u;
    if (j < 4u) {
        sc = byte_at(s + j) & 63u;
        m = byte_at(s + j + 4u) & 63u;
    } else {
        sc = (byte_at(s + j + 4u) & 0xfu) | ((byte_at(s + j - 4u) >> 6u) << 4u);
        m = (byte_at(s + j + 4u) >> 4u) | ((byte_at(s + j) >> 6u) << 4u);
    }
    let q = (byte_at(blk + 16u + 32u * c + e % 32u) >> (4u * hi)) & 0xfu;
    return (d * f32(sc)) * f32(q) - dmin * f32(m);
}

// Element e of the Q6_K block at byte blk: ql[128], qh[64], scales[16]
// (i8), d. Quarter qq of half n holds elements 128n + 32qq + l.
fn q6_k_at(blk: u32, e: u32) -> f32 {
    let n = e / 128u;
    let qq = (e % 128u) / 32u;
    let l = e % 32u;
    let lo = (byte_at(blk + 64u * n + l + 32u * (qq & 1u)) >> (4u * (qq >> 1u))) & 0xfu;
    let hi = (byte_at(blk + 128u + 32u * n + l) >> (2u * qq)) & 3u;
    let q = i32(lo | (hi << 4u)) - 32;
    let sc = i32(byte_at(blk + 192u + e / 16u) << 24u) >> 24;
    let d = f16_bits_to_f32(half_at(blk + 208u));
    return (d * f32(sc)) * f32(q);
}
