// The k largest values of each row, largest first, the lower id first on
// ties, NaN never taken (as `model::backend::top_k`; k = 1 is argmax).
// x: [rows, n] -> ids, vals: [rows, k]; one workgroup of 256 per row.
// Round j finds the best element after the (j−1)-th in that total order:
// k passes over the row, no sort, exact for any k. Slots past the number
// of non-NaN values get id 0xffffffff.

struct Params { n: u32, k: u32, rows: u32, _p: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> vals: array<f32>;

const NONE: u32 = 0xffffffffu;

var<workgroup> bv: array<f32, 256>;
var<workgroup> bi: array<u32, 256>;

// (v, i) before (cv, ci) in the order; nothing (ci == NONE) is last.
fn better(v: f32, i: u32, cv: f32, ci: u32) -> bool {
    return ci == NONE || v > cv || (v == cv && i < ci);
}

@compute @workgroup_size(256)
fn top_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let row = flat_group(wg, nw);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.n;
    var pv = 0.0;
    var pi = NONE; // the previous round's pick
    for (var j = 0u; j < p.k; j = j + 1u) {
        var cv = 0.0;
        var ci = NONE;
        for (var i = li; i < p.n; i = i + 256u) {
            let v = x[base + i];
            if (v != v) {
                continue;
            }
            let after = pi == NONE || v < pv || (v == pv && i > pi);
            if ((j == 0u || (after && pi != NONE)) && better(v, i, cv, ci)) {
                cv = v;
                ci = i;
            }
        }
        bv[li] = cv;
        bi[li] = ci;
        workgroupBarrier();
        for (var s = 128u; s > 0u; s = s >> 1u) {
            if (li < s && better(bv[li + s], bi[li + s], bv[li], bi[li]) && bi[li + s] != NONE) {
                bv[li] = bv[li + s];
                bi[li] = bi[li + s];
            }
            workgroupBarrier();
        }
        pv = bv[0];
        pi = bi[0];
        if (li == 0u) {
            ids[row * p.k + j] = pi;
            vals[row * p.k + j] = pv;
        }
        workgroupBarrier();
    }
}
