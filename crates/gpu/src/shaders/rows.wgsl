// Embedding rows: out[t] = dequantize(table[ids[t]]) for the ids that fall
// in this part of the table (rows part_start .. part_start + part_rows;
// a split table is gathered with one dispatch per part).
// table: [part_rows, cols] of `ty` as u32 words (ty 0: F32, 1: F16,
// 2: Q8_0), ids: [n_tok] -> out: [n_tok, cols] f32. Q8_0 values are
// q * d in f32, as the CPU's dequantization (bit for bit).

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
    } else {
        let blk = base + (c / 32u) * 34u;
        let d = f16_bits_to_f32(half_at(blk));
        let q = i32(byte_at(blk + 2u + c % 32u) << 24u) >> 24u;
        v = f32(q) * d;
    }
    out[i] = v;
}
