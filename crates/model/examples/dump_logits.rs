//! Debug helper: run a prompt (token ids) and write the logits of every
//! token, or with `--layers N` the hidden state after N blocks, as raw f32.
//! Usage: dump_logits MODEL.gguf OUT.f32 f32|f16 [--layers N] ID ID ...
use model::{CacheType, KvCache, LogitsMode, Model, Scratch};

fn main() {
    let mut a: Vec<String> = std::env::args().collect();
    let mut model = Model::load(&a[1]).expect("load");
    let cache = if a[3] == "f16" {
        CacheType::F16
    } else {
        CacheType::F32
    };
    let mut layers = None;
    if a[4] == "--layers" {
        layers = Some(a[5].parse::<usize>().expect("layer count"));
        a.drain(4..6);
    }
    if let Some(n) = layers {
        model.truncate_layers(n);
    }
    let toks: Vec<u32> = a[4..]
        .iter()
        .map(|s| s.parse().expect("token id"))
        .collect();
    let mut kv = KvCache::new(model.config(), toks.len(), cache);
    let mut s = Scratch::new(&model, toks.len(), toks.len(), toks.len());
    let mode = if layers.is_some() {
        LogitsMode::None
    } else {
        LogitsMode::All
    };
    let l = model
        .forward(&toks, 0, &mut kv, &mut s, mode)
        .expect("forward")
        .to_vec();
    let out = if layers.is_some() {
        s.hidden()[..toks.len() * model.config().n_embd].to_vec()
    } else {
        l
    };
    let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&a[2], bytes).expect("write");
}
