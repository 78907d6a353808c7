// Activation quantizers, each writing what the CPU reference writes
// (`kernels::reference::quantize_acts`), in a GPU layout of whole words:
//   Q8_0: qs [n/32 * 8] u32 (4 quants a word, little-endian), d [n/32]
//         (f16 bits in the low half);
//   Q8_1: as Q8_0, d's high half the f16 sum s;
//   Q8_K: qs [n/256 * 64] u32, d [n/256] (f32 bits), bsums [n/256 * 16]
//         (i32).
// Scales are divided exactly (`div_rn`), f16 rounded to nearest even,
// quants rounded half to even, as the CPU. x: [n] -> blocks of 32 / 256.
// One invocation per block.

struct Params { n_blocks: u32, _p0: u32, _p1: u32, _p2: u32 }
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> qs: array<u32>;
@group(0) @binding(3) var<storage, read_write> d: array<u32>;
@group(0) @binding(4) var<storage, read_write> bsums: array<i32>;

// llama.cpp's x86 activation quantizer for block `b` of 32: d = amax / 127,
// id = 127 / amax, q = round(x * id) (ties to even) into qs; returns
// (d, Σq).
fn q8_32(b: u32) -> vec2<f32> {
    var amax = 0.0;
    for (var i = 0u; i < 32u; i = i + 1u) {
        amax = max(amax, abs(x[32u * b + i]));
    }
    var dv = 0.0;
    var id = 0.0;
    if (amax != 0.0) {
        dv = div_rn(amax, 127.0);
        id = div_rn(127.0, amax);
    }
    var sum = 0;
    for (var w = 0u; w < 8u; w = w + 1u) {
        var word = 0u;
        for (var k = 0u; k < 4u; k = k + 1u) {
            let q = i32(round(x[32u * b + 4u * w + k] * id));
            sum = sum + q;
            word = word | ((u32(q) & 0xffu) << (8u * k));
        }
        qs[8u * b + w] = word;
    }
    return vec2<f32>(dv, f32(sum));
}

@compute @workgroup_size(64)
fn quantize_q8_0(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let b = flat_group(wg, nw) * 64u + li;
    if (b >= p.n_blocks) {
        return;
    }
    d[b] = f32_to_f16_bits(q8_32(b).x);
}

// Q8_1: d in the low half of the word, s = d · Σq (d unrounded, as the
// CPU) in the high half: the block's first four bytes.
@compute @workgroup_size(64)
fn quantize_q8_1(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let b = flat_group(wg, nw) * 64u + li;
    if (b >= p.n_blocks) {
        return;
    }
    let r = q8_32(b);
    d[b] = f32_to_f16_bits(r.x) | (f32_to_f16_bits(r.x * r.y) << 16u);
}

// ggml's quantize_row_q8_K_ref: the element of largest magnitude (the
// first of equals) sets iscale = -127 / max, q = min(round(iscale * x), 127),
// d = 1 / iscale, bsums over groups of 16.
@compute @workgroup_size(64)
fn quantize_q8_k(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
                 @builtin(local_invocation_index) li: u32) {
    let b = flat_group(wg, nw) * 64u + li;
    if (b >= p.n_blocks) {
        return;
    }
    var amax = 0.0;
    var mx = 0.0;
    for (var i = 0u; i < 256u; i = i + 1u) {
        let v = x[256u * b + i];
        if (abs(v) > amax) {
            amax = abs(v);
            mx = v;
        }
    }
    if (amax == 0.0) {
        for (var w = 0u; w < 64u; w = w + 1u) {
            qs[64u * b + w] = 0u;
        }
        for (var j = 0u; j < 16u; j = j + 1u) {
            bsums[16u * b + j] = 0;
        }
        d[b] = 0u;
        return;
    }
    // iscale = -127 / mx, |iscale| = 127 / amax
    let mag = div_rn(127.0, amax);
    let iscale = select(mag, -mag, mx > 0.0);
    for (var j = 0u; j < 16u; j = j + 1u) {
        var sum = 0;
        for (var w = 0u; w < 4u; w = w + 1u) {
            var word = 0u;
            for (var k = 0u; k < 4u; k = k + 1u) {
                let i = 16u * j + 4u * w + k;
                let q = min(i32(round(iscale * x[256u * b + i])), 127);
                sum = sum + q;
                word = word | ((u32(q) & 0xffu) << (8u * k));
            }
            qs[64u * b + 4u * j + w] = word;
        }
        bsums[16u * b + j] = sum;
    }
    let inv = div_rn(1.0, mag);
    d[b] = bitcast<u32>(select(inv, -inv, mx > 0.0));
}

// F16 activations (F16 weights; the CPU rounds x to f16): qs[i] = the f32
// bits of x[i] rounded to f16 (nearest even), one invocation per value
// (n_blocks = n).
@compute @workgroup_size(64)
fn round_f16(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let i = flat_group(wg, nw) * 64u + li;
    if (i < p.n_blocks) {
        qs[i] = bitcast<u32>(f16_bits_to_f32(f32_to_f16_bits(x[i])));
    }
}
