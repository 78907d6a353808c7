//! Debug: one Gemma layer on llama.cpp's dumped input, stage by stage.
use kernels::ops;
use model::Model;
const LAYER: usize = 14;

fn load(name: &str) -> Vec<f32> {
    let b = std::fs::read(format!("/tmp/ref_{name}.f32")).unwrap();
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}
fn cmp(what: &str, ours: &[f32]) {
    let r = load(&format!("{what}-{LAYER}"));
    let (i, d) = ours
        .iter()
        .zip(&r)
        .map(|(a, b)| (a - b).abs())
        .enumerate()
        .fold((0, 0f32), |m, (i, d)| if d > m.1 { (i, d) } else { m });
    let mx = r.iter().fold(0f32, |a, b| a.max(b.abs()));
    println!(
        "{what:>16}: max|Δ| {d:.3e} at {i} (ours {} ref {}), |ref|max {mx:.3e}",
        ours[i], r[i]
    );
}
fn mm(m: &Model, w: &model::Linear, x: &[f32]) -> Vec<f32> {
    let wm = w.view(m.file());
    let mut xq = vec![0u8; wm.act_row_bytes()];
    ops::quantize_acts(m.kernels(), wm.ty, wm.cols, x, &mut xq).unwrap();
    let mut y = vec![0f32; wm.rows];
    ops::matvec(m.kernels(), wm, &xq, &mut y);
    y
}
fn main() {
    let m = Model::load("models/gemma-3-270m-q4_k_m.gguf").unwrap();
    let c = m.config();
    let l = &m.weights().layers[LAYER];
    let x = load(&format!("l_out-{}", LAYER - 1));
    let mut xb = vec![0f32; 640];
    ops::rmsnorm_into(&x, &l.attn_norm, c.rms_eps, &mut xb);
    cmp("attn_norm", &xb);
    let v = mm(&m, &l.wv, &load(&format!("attn_norm-{LAYER}")));
    cmp("Vcur", &v);
    let att = load(&format!("kqv_out-{LAYER}"));
    let mut o = mm(&m, &l.wo, &att);
    ops::rmsnorm(&mut o, l.post_attn_norm.as_ref().unwrap(), c.rms_eps);
    cmp("attn_post_norm", &o);
    let mut sa = load(&format!("attn_post_norm-{LAYER}"));
    ops::add(&mut sa, &x);
    cmp("sa_out", &sa);
    let sa = load(&format!("sa_out-{LAYER}"));
    ops::rmsnorm_into(&sa, &l.ffn_norm, c.rms_eps, &mut xb);
    cmp("ffn_norm", &xb);
    let mut f = load(&format!("ffn_out-{LAYER}"));
    ops::rmsnorm(&mut f, l.post_ffn_norm.as_ref().unwrap(), c.rms_eps);
    cmp("ffn_post_norm", &f);
    let mut lo = load(&format!("ffn_post_norm-{LAYER}"));
    ops::add(&mut lo, &sa);
    cmp("l_out", &lo);
}
