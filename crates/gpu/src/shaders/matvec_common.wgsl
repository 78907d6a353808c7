// Decode matvec of quantized weights with activations quantized on the GPU
// (quantize.wgsl's layout): y[t][y_offset + r] = w[r] · x[t] for the rows
// of one part of a weight tensor (GGUF block layout as u32 words) and the
// tokens t = workgroup z. A workgroup of 64 takes ROWS rows, LANES
// invocations each (many small workgroups are what software devices
// run slowest); `idot4` (idot_packed / idot_plain) gives exact integer
// sums per block, scaled per block as the CPU reference does.
// This file: bindings and helpers shared by matvec_q.wgsl (32-element
// blocks, Q8_0 activations), matvec_k.wgsl (k-quants, Q8_K) and
// matvec_f.wgsl; the weights' helpers are weights.wgsl's.
//
// Summation order: each invocation sums its blocks' scaled sums in f32,
// then a tree over the workgroup; the CPU sums blocks in order (Q4_K: in 8
// lanes of element index mod 8). Integer sums are exact on both; only the
// f32 rounding of the block sums differs.

struct Params { rows: u32, nb: u32, row_bytes: u32, y_offset: u32, y_stride: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
// binding 1: the weights (weights.wgsl)
@group(0) @binding(2) var<storage, read> aq: array<u32>;
@group(0) @binding(3) var<storage, read> ad: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// Q8_K activations only: the sums of each 16 quants.
@group(0) @binding(5) var<storage, read> bsums: array<i32>;

var<workgroup> part: array<f32, 64>;

// Rows per workgroup and invocations per row (ROWS * LANES = 64).
const ROWS: u32 = 16u;
const LANES: u32 = 4u;

// Whether this invocation's row exists (the last workgroup may overhang).
var<private> row_ok: bool;

// The row of invocation li, clamped to the last one (`row_ok` says whether
// it is real: every invocation reaches the barriers of `finish`).
fn row_of(wg: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 {
    let r = flat_group(wg, nw) * ROWS + li / LANES;
    row_ok = r < p.rows;
    return min(r, p.rows - 1u);
}

// Token wg.z of a multi-token call: where its activations and outputs
// start (set by `token` at entry; the weights are read once per token).
var<private> ta: u32; // in aq
var<private> td: u32; // in ad
var<private> tb: u32; // in bsums
var<private> ty: u32; // in y

// `aqw`: activation words per block (Q8_0/Q8_1: 8, Q8_K: 64, floats: 1).
fn token(t: u32, aqw: u32) {
    ta = t * p.nb * aqw;
    td = t * p.nb;
    tb = t * p.nb * 16u;
    ty = t * p.y_stride;
}

// y[token · y_stride + y_offset + r] = the sum of the row's LANES
// invocations (a tree; lane 0 writes).
fn finish(li: u32, r: u32, s: f32) {
    part[li] = s;
    workgroupBarrier();
    let lane = li % LANES;
    for (var k = LANES / 2u; k > 0u; k = k >> 1u) {
        if (lane < k) {
            part[li] = part[li] + part[li + k];
        }
        workgroupBarrier();
    }
    if (lane == 0u && row_ok) {
        y[ty + p.y_offset + r] = part[li];
    }
}
