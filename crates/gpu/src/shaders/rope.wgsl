// RoPE with a host-computed cos/sin cache (`kernels::ops::rope_cache`:
// the CPU's angles bit for bit, frequency factors included; WGSL's
// cos/sin are only specified to 2^-11 absolute error).
// x: [n_tok, n_heads, head_dim] in place, cache: [n_tok, n_dims] of
// interleaved (cos, sin) from element c_off. mode 0: pairs (2i, 2i+1); mode 1 (NeoX): pairs
// (i, i + n_dims/2). One invocation per (token, head, pair).

struct Params { n_tok: u32, n_heads: u32, head_dim: u32, n_dims: u32, mode: u32, c_off: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> cache: array<f32>;

@compute @workgroup_size(64)
fn rope(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
        @builtin(local_invocation_index) li: u32) {
    let half = p.n_dims / 2u;
    let id = flat_group(wg, nw) * 64u + li;
    if (id >= p.n_tok * p.n_heads * half) {
        return;
    }
    let i = id % half;
    let head = id / half; // token * n_heads + head
    let tok = head / p.n_heads;
    let base = head * p.head_dim;
    var a = base + 2u * i;
    var b = a + 1u;
    if (p.mode == 1u) {
        a = base + i;
        b = a + half;
    }
    let c = cache[p.c_off + tok * p.n_dims + 2u * i];
    let s = cache[p.c_off + tok * p.n_dims + 2u * i + 1u];
    let x0 = x[a];
    let x1 = x[b];
    x[a] = fma(x0, c, -(x1 * s));
    x[b] = fma(x0, s, x1 * c);
}
