// KV write: rows src_row0 + t of new keys or values into a cache, at
// cache row base + (row0 + t) % n_rows for token t (n_rows: the region's
// rows; a ring for sliding-window layers).
// src: [src_row0 + n_tok, width] f32 -> cache: [base + n_rows, width]
// as f32 words or, f16 = 1, f16 pairs (width even; rounded to nearest
// even, as the CPU's f16 cache).

struct Params { n_tok: u32, width: u32, row0: u32, n_rows: u32, f16: u32, src_row0: u32, base: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> cache: array<u32>;

@compute @workgroup_size(256)
fn kv_write(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 256u + li;
    let per_row = select(p.width, p.width / 2u, p.f16 == 1u);
    if (i >= p.n_tok * per_row) {
        return;
    }
    let t = i / per_row;
    let c = i % per_row;
    let row = p.base + (p.row0 + t) % p.n_rows;
    let s = (p.src_row0 + t) * p.width;
    if (p.f16 == 1u) {
        let a = src[s + 2u * c];
        let b = src[s + 2u * c + 1u];
        cache[row * per_row + c] = f32_to_f16_bits(a) | (f32_to_f16_bits(b) << 16u);
    } else {
        cache[row * per_row + c] = bitcast<u32>(src[s + c]);
    }
}
