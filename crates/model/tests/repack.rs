//! Load-time repacking (`Model::repack_q5_0`) changes no result: Gemma 3
//! 270M Q4_K_M (whose attention Q/K and FFN gate/up are Q5_0) gives the same
//! logits bit for bit with its Q5_0 matrices re-encoded as Q8_0, on the
//! selected kernel table and on the scalar reference, for a batched prefill
//! (the tile kernels) and for single-token decode steps (the row dots).
//! Skipped, with a message, when the model file is absent
//! (`scripts/fetch-model.sh`).

mod common;

use common::{greedy, prompt_logits, test_kernels, workspace};
use model::{CacheType, Model};

const MODEL: &str = "models/gemma-3-270m-q4_k_m.gguf";

fn bits(x: &[f32]) -> Vec<u32> {
    x.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn repacked_q5_0_gives_the_same_logits() {
    let path = workspace().join(MODEL);
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return;
    }
    let ids: Vec<u32> = vec![
        2, 818, 5279, 529, 7001, 563, 9079, 236764, 532, 1041, 5279, 529,
    ];
    for k in [test_kernels(), kernels::arch::scalar()] {
        let plain = Model::load(&path).expect("load").with_kernels(k);
        let mut packed = Model::load(&path).expect("load").with_kernels(k);
        let want = plain.weights().q5_0_repack_bytes();
        assert!(want > 0, "the model has Q5_0 matrices");
        assert_eq!(
            packed.repack_q5_0(0).unwrap(),
            0,
            "over the budget: skipped"
        );
        assert_eq!(packed.repack_q5_0(want).unwrap(), want);
        assert_eq!(packed.weights().q5_0_repack_bytes(), 0, "all repacked");

        let a = prompt_logits(&plain, &ids, ids.len(), CacheType::F32);
        let b = prompt_logits(&packed, &ids, ids.len(), CacheType::F32);
        assert!(bits(&a) == bits(&b), "{:?}: prefill logits differ", k.isa);

        let (ga, _) = greedy(&plain, &ids[..4], 6, CacheType::F16);
        let (gb, _) = greedy(&packed, &ids[..4], 6, CacheType::F16);
        assert_eq!(ga, gb, "{:?}: greedy tokens differ", k.isa);
        let step = |m: &Model| {
            let mut all = ids[..4].to_vec();
            all.extend(&ga[..5]);
            // the last position runs as a single-token step after a 1-token chunk prefill
            prompt_logits(m, &all, 1, CacheType::F16)
        };
        assert!(
            bits(&step(&plain)) == bits(&step(&packed)),
            "{:?}: decode-step logits differ",
            k.isa
        );
    }
}

/// The kernel table's repacked decode layouts (`Model::pack_for_decode`)
/// change no logit: Gemma's Q4_K matrices (on x86 with AVX-512) are
/// repacked, decode steps read the packed copies, prefill the file.
#[test]
fn decode_layouts_give_the_same_logits() {
    let path = workspace().join(MODEL);
    if !path.exists() {
        test_support::missing(path.display(), test_support::FETCH_MODEL);
        return;
    }
    let ids: Vec<u32> = vec![2, 818, 5279, 529, 7001, 563, 9079, 236764];
    for k in [
        kernels::arch::select(),
        test_kernels(),
        kernels::arch::scalar(),
    ] {
        let plain = Model::load(&path).expect("load").with_kernels(k);
        let mut packed = Model::load(&path).expect("load").with_kernels(k);
        let want = packed.weights().pack_bytes(k);
        assert_eq!(packed.pack_for_decode(0).unwrap(), 0, "over the budget");
        assert_eq!(packed.pack_for_decode(want).unwrap(), want);
        assert_eq!(packed.weights().pack_bytes(k), 0, "all packed");
        if k.packing(gguf::GgmlType::Q4_K).is_some() {
            assert!(want > 0, "{:?}: Q4_K matrices repacked", k.isa);
        }
        let step = |m: &Model| prompt_logits(m, &ids, 1, CacheType::F16);
        assert!(
            bits(&step(&plain)) == bits(&step(&packed)),
            "{:?}: decode-step logits differ",
            k.isa
        );
        let a = prompt_logits(&plain, &ids, ids.len(), CacheType::F32);
        let b = prompt_logits(&packed, &ids, ids.len(), CacheType::F32);
        assert!(bits(&a) == bits(&b), "{:?}: prefill logits differ", k.isa);
    }
}
