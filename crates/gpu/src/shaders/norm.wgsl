// RMSNorm of rows: y = x / sqrt(mean(x²) + eps) * w.
// x: [rows, n], w: [n] -> y: [rows, n]; one workgroup of 256 per row.
// `rmsnorm_in_place` normalizes y itself (bindings 0, 2 and 3 only).
//
// Summation order: each invocation sums the squares of its strided
// elements in f32, then a tree over the workgroup (the CPU sums f32
// squares in f64, in element order); equal within the NMSE bound.

struct Params { n: u32, rows: u32, eps: f32, _pad: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

var<workgroup> part: array<f32, 256>;

// 1 / sqrt(mean of squares + eps) of a row, from each invocation's sum
// of squares `s` (a tree over the workgroup; uniform control flow).
fn inv_rms(li: u32, s: f32) -> f32 {
    part[li] = s;
    workgroupBarrier();
    for (var k = 128u; k > 0u; k = k >> 1u) {
        if (li < k) {
            part[li] = part[li] + part[li + k];
        }
        workgroupBarrier();
    }
    return 1.0 / sqrt(part[0] / f32(p.n) + p.eps);
}

@compute @workgroup_size(256)
fn rmsnorm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let row = flat_group(wg, nw);
    if (row >= p.rows) {
        return; // uniform per workgroup: the barriers below stay uniform
    }
    let base = row * p.n;
    var s = 0.0;
    for (var i = li; i < p.n; i = i + 256u) {
        let v = x[base + i];
        s = s + v * v;
    }
    let scale = inv_rms(li, s);
    for (var i = li; i < p.n; i = i + 256u) {
        y[base + i] = x[base + i] * scale * w[i];
    }
}

// Each invocation writes only the elements it read.
@compute @workgroup_size(256)
fn rmsnorm_in_place(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                    @builtin(local_invocation_index) li: u32) {
    let row = flat_group(wg, nw);
    if (row >= p.rows) {
        return;
    }
    let base = row * p.n;
    var s = 0.0;
    for (var i = li; i < p.n; i = i + 256u) {
        let v = y[base + i];
        s = s + v * v;
    }
    let scale = inv_rms(li, s);
    for (var i = li; i < p.n; i = i + 256u) {
        y[base + i] = y[base + i] * scale * w[i];
    }
}
