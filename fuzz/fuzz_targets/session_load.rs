//! Loads fuzzed GGUF files into an `engine::Session` and, when one loads,
//! tokenizes a fuzzed prompt and runs one forward/sampling step. Any panic,
//! overflow or out-of-memory is a bug (in model config validation, weight
//! checks, the tokenizer or the engine): bad files must be typed errors.
//!
//! Input layout:
//! * `[0, bytes...]`: the bytes are a whole GGUF file;
//! * `[_, n, edit × n (10 bytes each), prompt...]`: `n % 16` edits applied to
//!   the valid tiny model `tests/fixtures/models/tiny-q4_0.gguf` (replace,
//!   delete or retype a metadata value, edit one element of a vocab array,
//!   truncate an array, swap/drop a tensor, switch the architecture), then the
//!   rest of the input is the prompt text.
#![no_main]

use std::sync::OnceLock;

use engine::{GenerateParams, Session, SessionOptions};
use gguf::{Array, GgufFile, GgufWriter, Value};
use libfuzzer_sys::fuzz_target;

const TINY: &[u8] = include_bytes!("../../tests/fixtures/models/tiny-q4_0.gguf");
const EDIT_LEN: usize = 10;

struct Base {
    kvs: Vec<(String, Value)>,
    tensors: Vec<(String, gguf::GgmlType, Vec<u64>, Vec<u8>)>,
}

fn base() -> &'static Base {
    static B: OnceLock<Base> = OnceLock::new();
    B.get_or_init(|| {
        let f = GgufFile::from_bytes(TINY).expect("tiny-q4_0.gguf parses");
        Base {
            kvs: f
                .metadata()
                .iter()
                .filter(|(k, _)| *k != "general.alignment")
                .map(|(k, v)| (k.to_owned(), v.clone()))
                .collect(),
            tensors: f
                .tensors()
                .iter()
                .map(|t| {
                    (
                        t.name.clone(),
                        t.ggml_type,
                        t.dims.clone(),
                        f.tensor_data(t).to_vec(),
                    )
                })
                .collect(),
        }
    })
}

fn short_string(p: &[u8]) -> String {
    let n = (p[0] % 8) as usize;
    String::from_utf8_lossy(&p[1..1 + n.min(p.len() - 1)]).into_owned()
}

/// Overwrites element `i % len` of an array with a value made from `p`.
fn edit_element(a: &mut Array, i: usize, p: &[u8], v: u64) {
    match a {
        Array::String(s) if !s.is_empty() => {
            let n = s.len();
            s[i % n] = short_string(p);
        }
        Array::F32(x) if !x.is_empty() => {
            let n = x.len();
            x[i % n] = f32::from_bits(v as u32);
        }
        Array::I32(x) if !x.is_empty() => {
            let n = x.len();
            x[i % n] = v as i32;
        }
        Array::U32(x) if !x.is_empty() => {
            let n = x.len();
            x[i % n] = v as u32;
        }
        _ => {}
    }
}

fn truncate(a: &mut Array, n: usize) {
    match a {
        Array::String(x) => x.truncate(n % (x.len() + 1)),
        Array::F32(x) => x.truncate(n % (x.len() + 1)),
        Array::I32(x) => x.truncate(n % (x.len() + 1)),
        Array::U32(x) => x.truncate(n % (x.len() + 1)),
        _ => {}
    }
}

/// Applies the edits to the tiny model and writes it; `None` if the writer
/// refuses the result (that is the writer's validation, not this target's).
fn edited(edits: &[u8]) -> Option<Vec<u8>> {
    let b = base();
    let mut kvs = b.kvs.clone();
    let mut tensors = b.tensors.clone();
    for e in edits.chunks_exact(EDIT_LEN) {
        let (sel, kind, p) = (e[0] as usize, e[1], &e[2..]);
        let v = u64::from_le_bytes(p.try_into().expect("8 payload bytes"));
        let nk = kvs.len();
        match kind % 16 {
            0..=10 if nk > 0 => {
                let new = match kind % 16 {
                    0 => Value::U32(v as u32),
                    1 => Value::I32(v as i32),
                    2 => Value::U64(v),
                    3 => Value::I64(v as i64),
                    4 => Value::F32(f32::from_bits(v as u32)),
                    5 => Value::Bool(v & 1 == 1),
                    6 => Value::String(short_string(p)),
                    7 => Value::U8(v as u8),
                    8 => Value::F64(f64::from_bits(v)),
                    9 => Value::Array(Array::U32(vec![v as u32; (v >> 32) as usize % 8])),
                    _ => Value::Array(Array::String(Vec::new())),
                };
                kvs[sel % nk].1 = new;
            }
            11 if nk > 0 => {
                kvs.remove(sel % nk);
            }
            12 if nk > 0 => {
                if let Value::Array(a) = &mut kvs[sel % nk].1 {
                    edit_element(a, (v >> 32) as usize, p, v & 0xffff_ffff);
                }
            }
            13 if nk > 0 => {
                if let Value::Array(a) = &mut kvs[sel % nk].1 {
                    truncate(a, v as usize);
                }
            }
            14 if !tensors.is_empty() => {
                let n = tensors.len();
                if v & 1 == 0 {
                    tensors.remove(sel % n);
                } else {
                    tensors[sel % n].2.reverse();
                }
            }
            15 => {
                // Another architecture with the same hyperparameter keys.
                let arch = ["gemma3", "llama", "qwen2", ""][(v % 4) as usize];
                for (k, val) in kvs.iter_mut() {
                    if k == "general.architecture" {
                        *val = Value::String(arch.into());
                    } else if let Some(rest) = k.strip_prefix("llama.") {
                        *k = format!("{arch}.{rest}");
                    }
                }
            }
            _ => {}
        }
    }
    let mut w = GgufWriter::new();
    for (k, v) in kvs {
        if k.is_empty() {
            continue;
        }
        w.add_kv(&k, v);
    }
    for (name, ty, dims, data) in tensors {
        w.add_tensor(&name, ty, &dims, data).ok()?;
    }
    Some(w.to_bytes())
}

fn run(file: &[u8], prompt: &str) {
    let opts = SessionOptions {
        n_ctx: 64,
        ..Default::default()
    };
    let Ok(mut s) = Session::load_bytes(file, opts) else {
        return;
    };
    let ids = s.tokenize(prompt, true, true);
    let _ = s.detokenize(&ids, true);
    // A few tokens: one forward step is the point, not throughput.
    let ids = &ids[..ids.len().min(3)];
    let params = GenerateParams {
        max_tokens: 1,
        ..Default::default()
    };
    for piece in s.generate_ids(ids, &params) {
        let _ = piece;
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode == 0 {
        run(rest, "Hello");
        return;
    }
    let Some((&n, rest)) = rest.split_first() else {
        return;
    };
    let n = ((n % 16) as usize).min(rest.len() / EDIT_LEN);
    let (edits, prompt) = rest.split_at(n * EDIT_LEN);
    let Some(file) = edited(edits) else {
        return;
    };
    run(&file, &String::from_utf8_lossy(prompt));
});
