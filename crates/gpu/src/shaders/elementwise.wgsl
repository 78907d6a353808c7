// Element-wise ops in place over [n]: add (x += y), add_bias (x[i] +=
// y[i % m]: a bias [m] on every row), scale (x *= s),
// softcap (x = tanh(x * inv) * s with s = cap and inv = 1/cap from the
// host, as the CPU; the argument clamped to ±15, where f32 tanh is ±1
// already, so no implementation can overflow into NaN).

struct Params { n: u32, m: u32, s: f32, inv: f32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> y: array<f32>;

@compute @workgroup_size(256)
fn add(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 256u + li;
    if (i < p.n) {
        x[i] = x[i] + y[i];
    }
}

@compute @workgroup_size(256)
fn add_bias(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
            @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 256u + li;
    if (i < p.n) {
        x[i] = x[i] + y[i % p.m];
    }
}

@compute @workgroup_size(256)
fn scale(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
         @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 256u + li;
    if (i < p.n) {
        x[i] = x[i] * p.s;
    }
}

@compute @workgroup_size(256)
fn softcap(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
           @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 256u + li;
    if (i < p.n) {
        x[i] = tanh(clamp(x[i] * p.inv, -15.0, 15.0)) * p.s;
    }
}
