//! An f16 KV cache held as f32 words (`CacheType::F16AsF32`, what wasm
//! builds use) gives the logits of the `F16` cache bit for bit: tiny
//! synthetic llamas (MHA and GQA) and, when present, Gemma 3 270M (GQA,
//! sliding windows), on the selected kernel table and the scalar reference,
//! with both attention backends, for a batched prefill and for single-token
//! decode steps.

mod common;

use common::{prompt_logits, test_kernels, workspace};
use model::{AttentionBackend, CacheType, Model};

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

fn check(path: &std::path::Path, ids: &[u32]) {
    for k in [test_kernels(), kernels::arch::scalar()] {
        for backend in [AttentionBackend::Standard, AttentionBackend::Flash] {
            let m = Model::load(path)
                .expect("load")
                .with_kernels(k)
                .with_attention(backend);
            for chunk in [ids.len(), 1] {
                let a = prompt_logits(&m, ids, chunk, CacheType::F16);
                let b = prompt_logits(&m, ids, chunk, CacheType::F16AsF32);
                assert!(
                    bits(&a) == bits(&b),
                    "{}: {:?} {backend:?} chunk {chunk}: logits differ",
                    path.display(),
                    k.isa
                );
            }
        }
    }
}

#[test]
fn f16_cache_as_f32_gives_the_same_logits() {
    for name in ["tiny-q4_k_m", "tiny-mha-q4_k_m"] {
        let path = workspace().join(format!("tests/fixtures/models/{name}.gguf"));
        check(&path, &[1, 15, 42, 7, 99, 3, 250, 18, 64, 5, 77, 120]);
    }
    let gemma = workspace().join("models/gemma-3-270m-q4_k_m.gguf");
    if gemma.exists() {
        check(
            &gemma,
            &[2, 818, 5279, 529, 7001, 563, 9079, 236764, 532, 1041],
        );
    } else {
        test_support::missing(gemma.display(), test_support::FETCH_MODEL);
    }
}
