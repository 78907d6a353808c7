//! The synthetic source models of tools/gen_quantize_fixtures.py, rebuilt bit
//! for bit (same metadata order, tensor order and values) so the test needs
//! neither Python nor llama.cpp. The generator is described in the script.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use gguf::{GgmlType, GgufWriter, Value};
use half::f16;
use sha2::{Digest, Sha256};

/// One source model (the script's `MODELS` entry).
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    pub f16: bool,
    pub dim: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub ffn: usize,
    pub vocab: usize,
    pub tied: bool,
    pub extra: bool,
}

pub const MODEL_A: Shape = Shape {
    f16: false,
    dim: 256,
    n_layer: 8,
    n_head: 4,
    n_head_kv: 1,
    ffn: 320,
    vocab: 320,
    tied: false,
    extra: true,
};

pub const MODEL_B: Shape = Shape {
    f16: true,
    dim: 256,
    n_layer: 8,
    n_head: 4,
    n_head_kv: 2,
    ffn: 512,
    vocab: 256,
    tied: true,
    extra: false,
};

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// [rows, cols] values of tensor number `k`.
fn values(k: usize, rows: usize, cols: usize, scale: f32) -> Vec<f32> {
    let base = (k as u64 + 1) * 0x100_0000;
    (0..rows * cols)
        .map(|i| {
            if (i / cols * 7 + k).is_multiple_of(23) {
                return 0.0;
            }
            let z = splitmix64(base + i as u64);
            let u = (z >> 40) as f32 * (1.0 / (1u32 << 24) as f32);
            let v = (u - 0.5) * scale;
            if z.is_multiple_of(61) {
                v * 6.0
            } else {
                v
            }
        })
        .collect()
}

/// (name, [rows, cols] or [n], is_matrix) in file order.
fn tensor_list(m: &Shape) -> Vec<(String, Vec<usize>, bool)> {
    let (d, kv) = (m.dim, m.dim / m.n_head * m.n_head_kv);
    let mut t = vec![("token_embd.weight".to_string(), vec![m.vocab, d], true)];
    for i in 0..m.n_layer {
        let p = |s: &str| format!("blk.{i}.{s}");
        t.push((p("attn_norm.weight"), vec![d], false));
        t.push((p("attn_q.weight"), vec![d, d], true));
        t.push((p("attn_k.weight"), vec![kv, d], true));
        t.push((p("attn_v.weight"), vec![kv, d], true));
        t.push((p("attn_output.weight"), vec![d, d], true));
        t.push((p("ffn_norm.weight"), vec![d], false));
        t.push((p("ffn_gate.weight"), vec![m.ffn, d], true));
        t.push((p("ffn_up.weight"), vec![m.ffn, d], true));
        t.push((p("ffn_down.weight"), vec![d, m.ffn], true));
        if m.extra && i == 0 {
            t.push((p("extra_proj.weight"), vec![64, 600], true));
        }
    }
    t.push(("output_norm.weight".into(), vec![d], false));
    if !m.tied {
        t.push(("output.weight".into(), vec![m.vocab, d], true));
    }
    t
}

/// The source model as gguf-py writes it.
pub fn model_bytes(m: &Shape) -> Vec<u8> {
    let mut w = GgufWriter::new();
    let u32v = |v: usize| Value::U32(v as u32);
    w.add_kv("general.architecture", Value::String("llama".into()));
    w.add_kv("general.name", Value::String("quantize-test".into()));
    w.add_kv("llama.context_length", Value::U32(256));
    w.add_kv("llama.embedding_length", u32v(m.dim));
    w.add_kv("llama.block_count", u32v(m.n_layer));
    w.add_kv("llama.feed_forward_length", u32v(m.ffn));
    w.add_kv("llama.attention.head_count", u32v(m.n_head));
    w.add_kv("llama.attention.head_count_kv", u32v(m.n_head_kv));
    w.add_kv("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5));
    w.add_kv("llama.rope.dimension_count", u32v(m.dim / m.n_head));
    w.add_kv("llama.vocab_size", u32v(m.vocab));
    w.add_kv("general.file_type", Value::U32(u32::from(m.f16)));
    for (k, (name, shape, is_matrix)) in tensor_list(m).into_iter().enumerate() {
        let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        if is_matrix {
            let v = values(k, shape[0], shape[1], 2.0 / (shape[1] as f32).sqrt());
            if m.f16 {
                let h: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
                let bytes = bytemuck::cast_slice(&h).to_vec();
                w.add_tensor(&name, GgmlType::F16, &dims, bytes).unwrap();
            } else {
                let bytes = bytemuck::cast_slice(&v).to_vec();
                w.add_tensor(&name, GgmlType::F32, &dims, bytes).unwrap();
            }
        } else {
            let v: Vec<f32> = values(k, 1, shape[0], 1.0)
                .iter()
                .map(|&x| 1.0 + 0.2 * x)
                .collect();
            w.add_tensor(
                &name,
                GgmlType::F32,
                &dims,
                bytemuck::cast_slice(&v).to_vec(),
            )
            .unwrap();
        }
    }
    w.to_bytes()
}

/// Writes the model into a fresh file under the target directory.
pub fn write_model(m: &Shape, name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("quantize-tests");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}-{}.gguf", std::process::id()));
    std::fs::write(&path, model_bytes(m)).unwrap();
    path
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
