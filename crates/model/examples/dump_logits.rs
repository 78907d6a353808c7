//! Debug helper: run a prompt (token ids) and write the logits of every
//! token, or with `--layers N` the hidden state after N blocks, as raw f32.
//! With `--tap DIR`, also every tensor the forward pass taps (`Tap`) as
//! DIR/NAME-LAYER.f32 (rows of all calls concatenated), to compare with
//! `tests/ref/dump_layers.py`. With `--decode`, the last id is run as a
//! second, one-token call (llama.cpp's decode path).
//! Usage: dump_logits MODEL.gguf OUT.f32 f32|f16 [--layers N] [--tap DIR] [--decode] ID ID ...
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use model::{CacheType, KvCache, LogitsMode, Model, Scratch, Tap};

type Taps = Arc<Mutex<HashMap<String, Vec<f32>>>>;

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
    let mut tap_dir = None;
    if a[4] == "--tap" {
        tap_dir = Some(a[5].clone());
        a.drain(4..6);
    }
    let decode = a[4] == "--decode";
    if decode {
        a.remove(4);
    }
    let toks: Vec<u32> = a[4..]
        .iter()
        .map(|s| s.parse().expect("token id"))
        .collect();
    let mut kv = KvCache::new(model.config(), toks.len(), cache).unwrap();
    let mut s = Scratch::new(&model, toks.len(), toks.len(), toks.len()).unwrap();
    let mode = if layers.is_some() {
        LogitsMode::None
    } else {
        LogitsMode::All
    };
    let taps: Taps = Arc::default();
    if tap_dir.is_some() {
        let t = taps.clone();
        s.set_tap(Some(Tap(Box::new(move |name, il, x| {
            let key = if name.starts_with("inp_") || name.starts_with("result_") {
                name.to_string()
            } else {
                format!("{name}-{il}")
            };
            t.lock()
                .unwrap()
                .entry(key)
                .or_default()
                .extend_from_slice(x);
        }))));
    }
    // with --decode: the prompt minus its last id, then the last id alone
    let split = if decode { toks.len() - 1 } else { 0 };
    if split > 0 {
        model
            .forward(&toks[..split], 0, &mut kv, &mut s, LogitsMode::None)
            .expect("forward");
    }
    let l = model
        .forward(&toks[split..], split, &mut kv, &mut s, mode)
        .expect("forward")
        .to_vec();
    if let Some(dir) = &tap_dir {
        std::fs::create_dir_all(dir).expect("tap dir");
        for (name, v) in taps.lock().unwrap().iter() {
            let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
            std::fs::write(format!("{dir}/{name}.f32"), bytes).expect("write tap");
        }
    }
    let out = if layers.is_some() {
        s.hidden()[..toks.len() * model.config().n_embd].to_vec()
    } else {
        l
    };
    let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&a[2], bytes).expect("write");
}
