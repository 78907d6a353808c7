// Causal attention over a KV cache, flash style: one workgroup of 64 per
// (token, query head), keys streamed in tiles of 64 with an online
// softmax (running max m, running sum l, output rescaled by exp(m_old −
// m_new)), so the scratch is O(64 + head_dim) whatever the context.
// GQA: query head h reads KV head h / (n_head / n_kv_head). A sliding
// window (window > 0) shows a query at position p the keys p − window + 1
// ..= p. Cache row of position j: kv_row0 + j − kv_start; query (and
// output) rows from q_row0.
// q: [n_tok, n_head, head_dim] f32; k, v: [rows, n_kv_head, head_dim] as
// f32 words or, kv_f16 = 1, f16 pairs (head_dim even); out like q.
// head_dim <= 256. With an f16 cache the query is rounded to f16, as the
// CPU reference does; its weights are rounded to f16 too, which a single
// pass cannot do (they are normalized at the end): the difference is
// within the NMSE bound. exp is WGSL's, not ggml's vector expf.

struct Params {
    n_tok: u32, n_head: u32, n_kv_head: u32, head_dim: u32,
    pos0: u32, kv_start: u32, window: u32, scale: f32,
    kv_f16: u32, q_row0: u32, kv_row0: u32, _p2: u32,
}
@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;
@group(0) @binding(2) var<storage, read> k: array<u32>;
@group(0) @binding(3) var<storage, read> v: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;

var<workgroup> qh: array<f32, 256>;
var<workgroup> tile: array<f32, 64>;

fn kv_at(f16s: bool, e: u32, which: u32) -> f32 {
    var word = 0u;
    if (which == 0u) {
        word = k[select(e, e / 2u, f16s)];
    } else {
        word = v[select(e, e / 2u, f16s)];
    }
    if (f16s) {
        return f16_bits_to_f32(word >> (16u * (e & 1u)));
    }
    return bitcast<f32>(word);
}

@compute @workgroup_size(64)
fn attention(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>,
             @builtin(local_invocation_index) li: u32) {
    let flat = flat_group(wg, nw);
    if (flat >= p.n_tok * p.n_head) {
        return;
    }
    let t = flat / p.n_head;
    let h = flat % p.n_head;
    let kvh = h / (p.n_head / p.n_kv_head);
    let hd = p.head_dim;
    let f16s = p.kv_f16 == 1u;
    let pos = p.pos0 + t;
    var first = 0u;
    if (p.window > 0u && pos + 1u > p.window) {
        first = pos + 1u - p.window;
    }
    for (var d = li; d < hd; d = d + 64u) {
        let x = q[(p.q_row0 * p.n_head + flat) * hd + d];
        qh[d] = select(x, f16_bits_to_f32(f32_to_f16_bits(x)), f16s);
    }
    workgroupBarrier();
    var m = -3.4e38;
    var l = 0.0;
    var acc = array<f32, 4>(0.0, 0.0, 0.0, 0.0);
    for (var j0 = first; j0 <= pos; j0 = j0 + 64u) {
        // scores of this tile, one key per invocation
        let j = j0 + li;
        var s = -3.4e38;
        if (j <= pos) {
            let base = ((p.kv_row0 + j - p.kv_start) * p.n_kv_head + kvh) * hd;
            var dot = 0.0;
            for (var d = 0u; d < hd; d = d + 1u) {
                dot = dot + qh[d] * kv_at(f16s, base + d, 0u);
            }
            s = dot * p.scale;
        }
        tile[li] = s;
        workgroupBarrier();
        var mt = m;
        for (var i = 0u; i < 64u; i = i + 1u) {
            mt = max(mt, tile[i]);
        }
        workgroupBarrier();
        let pj = select(0.0, exp(s - mt), j <= pos);
        tile[li] = pj;
        workgroupBarrier();
        let alpha = exp(m - mt);
        var lt = 0.0;
        for (var i = 0u; i < 64u; i = i + 1u) {
            lt = lt + tile[i];
        }
        l = l * alpha + lt;
        let n_keys = min(64u, pos + 1u - j0);
        for (var c = 0u; c < 4u; c = c + 1u) {
            let d = li + 64u * c;
            if (d < hd) {
                var a = acc[c] * alpha;
                for (var i = 0u; i < n_keys; i = i + 1u) {
                    let e = ((p.kv_row0 + j0 + i - p.kv_start) * p.n_kv_head + kvh) * hd + d;
                    a = a + tile[i] * kv_at(f16s, e, 1u);
                }
                acc[c] = a;
            }
        }
        m = mt;
        workgroupBarrier();
    }
    for (var c = 0u; c < 4u; c = c + 1u) {
        let d = li + 64u * c;
        if (d < hd) {
            out[(p.q_row0 * p.n_head + flat) * hd + d] = acc[c] / l;
        }
    }
}
