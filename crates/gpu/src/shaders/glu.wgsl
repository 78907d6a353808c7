// Gated activations in place: g = act(g) * u. g, u: [n].
// act 0: SiLU, g / (1 + exp(-g)). act 1: GELU (tanh form) as the CPU
// computes it: the input rounded to f16, the result rounded to f16 (ggml's
// f16 table), exact past ±10.

struct Params { n: u32, act: u32, _p0: u32, _p1: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> g: array<f32>;
@group(0) @binding(2) var<storage, read> u: array<f32>;

fn gelu_f16(v: f32) -> f32 {
    if (v <= -10.0) {
        return 0.0;
    }
    if (v >= 10.0) {
        return v;
    }
    let x = f16_bits_to_f32(f32_to_f16_bits(v));
    let inner = fma(0.044715 * x, x, 1.0);
    let r = 0.5 * x * (1.0 + tanh(0.7978846 * x * inner));
    return f16_bits_to_f32(f32_to_f16_bits(r));
}

@compute @workgroup_size(256)
fn glu(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
       @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 256u + li;
    if (i >= p.n) {
        return;
    }
    let v = g[i];
    if (p.act == 0u) {
        g[i] = v / (1.0 + exp(-v)) * u[i];
    } else {
        g[i] = gelu_f16(v) * u[i];
    }
}
