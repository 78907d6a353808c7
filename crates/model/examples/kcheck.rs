//! Debug: matvec of layer-0 weights on llama.cpp's dumped inputs.
const LAYER: usize = 14;
const NT: usize = 1;
use kernels::ops;
use model::Model;

fn load(name: &str) -> Vec<f32> {
    let name = name.replace("-L", &format!("-{LAYER}"));
    let b = std::fs::read(format!("/tmp/ref_{name}.f32")).unwrap();
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn main() {
    let m = Model::load("models/gemma-3-270m-q4_k_m.gguf").unwrap();
    let l = &m.weights().layers[LAYER];
    let k = m.kernels();
    for (inp, w, out) in [
        ("attn_norm-L", &l.wq, "Qcur-L"),
        ("attn_norm-L", &l.wk, "Kcur-L"),
        ("attn_norm-L", &l.wv, "Vcur-L"),
        ("ffn_norm-L", &l.gate, "ffn_gate-L"),
        ("ffn_norm-L", &l.up, "ffn_up-L"),
        ("ffn_geglu-L", &l.down, "ffn_out-L"),
    ] {
        let x = load(inp);
        let r = load(out);
        let wm = w.view(m.file());
        let mut xq = vec![0u8; wm.act_row_bytes() * NT];
        ops::quantize_acts(k, wm.ty, wm.cols, &x, &mut xq).unwrap();
        let mut y = vec![0f32; wm.rows * NT];
        ops::matmul(k, wm, &xq, NT, &mut y);
        // f32 reference with dequantized weights
        let mut row = vec![0f32; wm.cols];
        let mut yf = vec![0f32; wm.rows * NT];
        for rr in 0..wm.rows {
            kernels::quant::dequantize_row(wm.ty, wm.row(rr), &mut row).unwrap();
            for t in 0..NT {
                yf[t * wm.rows + rr] = row
                    .iter()
                    .zip(&x[t * wm.cols..(t + 1) * wm.cols])
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        let d = y
            .iter()
            .zip(&r)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let df = yf
            .iter()
            .zip(&r)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let mx = r.iter().fold(0f32, |a, b| a.max(b.abs()));
        println!("{} {:?}: ours vs ref max|Δ| {d:.5}, f32-exact vs ref {df:.5}, |ref|max {mx:.3}; ours {:?} ref {:?}", w.name, wm.ty, &y[..3], &r[..3]);
    }
    let x = load("ffn_geglu-L");
    let g = load("ffn_gate-L");
    let u = load("ffn_up-L");
    let mut gg = g.clone();
    ops::geglu(&mut gg, &u);
    let d = gg
        .iter()
        .zip(&x)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    println!("geglu max|Δ| {d}");
}
