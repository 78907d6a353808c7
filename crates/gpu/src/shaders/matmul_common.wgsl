// Prefill matmul (tiled): y[t][y_offset + r] = w[r] · x[t] for the rows of
// one part of a weight tensor and a tile of TOK tokens per workgroup
// (workgroup z). A workgroup of 64 takes ROWS rows with LANES invocations
// each, as the decode matvec; the tile's activations are staged, a step of
// the row at a time, in workgroup memory (read there by all ROWS rows),
// and each invocation decodes each of its weight blocks once for the TOK
// tokens of the tile (the matvec decodes it once per token).
//
// The sums are the matvec's, in its order: lane l of a row takes the
// items (blocks, chunks or sub-blocks) the matvec's lane l takes, in the
// same order, each item's term by weights.wgsl's shared expression, then
// the same tree over the lanes. So a token's outputs do not depend on
// whether it ran alone (matvec) or in a batch (this).
// This file: bindings, staging and the tile's sums; matmul_q.wgsl (32-
// element blocks), matmul_k.wgsl (k-quants), matmul_f.wgsl (floats).

struct Params { rows: u32, nb: u32, row_bytes: u32, y_offset: u32, y_stride: u32, n_tok: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
// binding 1: the weights (weights.wgsl)
@group(0) @binding(2) var<storage, read> aq: array<u32>;
@group(0) @binding(3) var<storage, read> ad: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
// Q8_K activations only: the sums of each 16 quants.
@group(0) @binding(5) var<storage, read> bsums: array<i32>;

// Rows per workgroup, invocations per row (ROWS * LANES = 64), tokens per
// tile, and activation words staged per token and step (Q8_0 / Q8_1: 16
// blocks; Q8_K: 2 blocks; floats: 128 values).
const ROWS: u32 = 16u;
const LANES: u32 = 4u;
const TOK: u32 = 8u;
const STEP: u32 = 128u;

// The staged step: quants (or float values) [TOK][STEP], scales
// [TOK][16] (Q8_0 / Q8_1: 16 blocks; Q8_K: 2), Q8_K bsums [TOK][32].
var<workgroup> sq: array<u32, 1024>;
var<workgroup> sd: array<u32, 128>;
var<workgroup> sb: array<i32, 256>;
// The lanes' partial sums of each token, for the tree: [TOK][64].
var<workgroup> part: array<f32, 512>;

// This invocation's running sums, one per token of the tile.
var<private> acc: array<f32, TOK>;
// Whether this invocation's row exists (the last workgroup may overhang).
var<private> row_ok: bool;
// The tile's first token.
var<private> t0: u32;

// The row of invocation li, clamped to the last one (`row_ok` says whether
// it is real: every invocation reaches the barriers), and the tile.
fn tile_row(wg: vec3<u32>, nw: vec3<u32>, li: u32) -> u32 {
    t0 = wg.z * TOK;
    let r = flat_group(wg, nw) * ROWS + li / LANES;
    row_ok = r < p.rows;
    return min(r, p.rows - 1u);
}

// Stages words [first, first + STEP) of each tile token's activations
// (`per_tok` words a token in `aq`); past the row or the tokens: zeros.
fn stage_qs(first: u32, per_tok: u32, li: u32) {
    for (var i = li; i < TOK * STEP; i = i + 64u) {
        let t = i / STEP;
        let k = first + i % STEP;
        var v = 0u;
        if (t0 + t < p.n_tok && k < per_tok) {
            v = aq[(t0 + t) * per_tok + k];
        }
        sq[i] = v;
    }
}

// Stages the scales of blocks [first, first + n) of each tile token
// (n ≤ 16) into sd[t * 16 + i].
fn stage_d(first: u32, n: u32, li: u32) {
    for (var i = li; i < TOK * 16u; i = i + 64u) {
        let t = i / 16u;
        let b = first + i % 16u;
        var v = 0u;
        if (t0 + t < p.n_tok && i % 16u < n && b < p.nb) {
            v = ad[(t0 + t) * p.nb + b];
        }
        sd[i] = v;
    }
}

// Stages the bsums of Q8_K blocks first and first + 1 of each tile token
// into sb[t * 32 + i].
fn stage_bsums(first: u32, li: u32) {
    for (var i = li; i < TOK * 32u; i = i + 64u) {
        let t = i / 32u;
        let k = 16u * first + i % 32u;
        var v = 0;
        if (t0 + t < p.n_tok && k < 16u * p.nb) {
            v = bsums[(t0 + t) * 16u * p.nb + k];
        }
        sb[i] = v;
    }
}

// y[t][y_offset + r] for each real token t of the tile: the sum of the
// row's LANES invocations (the matvec's tree; lane 0 writes).
fn finish_tile(li: u32, r: u32) {
    for (var t = 0u; t < TOK; t = t + 1u) {
        part[64u * t + li] = acc[t];
    }
    workgroupBarrier();
    let lane = li % LANES;
    for (var k = LANES / 2u; k > 0u; k = k >> 1u) {
        if (lane < k) {
            for (var t = 0u; t < TOK; t = t + 1u) {
                part[64u * t + li] = part[64u * t + li] + part[64u * t + li + k];
            }
        }
        workgroupBarrier();
    }
    if (lane == 0u && row_ok) {
        for (var t = 0u; t < TOK && t0 + t < p.n_tok; t = t + 1u) {
            y[(t0 + t) * p.y_stride + p.y_offset + r] = part[64u * t + li];
        }
    }
}
