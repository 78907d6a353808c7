//! Our quantizer against llama.cpp's: every file type and a few option
//! variants, on the two synthetic models of tools/gen_quantize_fixtures.py,
//! must give the same file (sha256) as llama-quantize. On a mismatch the
//! first differing tensors (type or data) are named.

mod common;

use std::path::Path;

use gguf::GgufFile;
use quantize::{plan, write_quantized, FileType, TypeOptions};
use serde_json::Value as Json;

fn fixture() -> Json {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/quant/llamacpp_quantize.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (tools/gen_quantize_fixtures.py)", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn options(case: &Json) -> TypeOptions {
    let ftype = FileType::parse(case["ftype"].as_str().unwrap()).unwrap();
    let o = &case["options"];
    let ty = |k: &str| o[k].as_str().map(|s| quantize::parse_ggml_type(s).unwrap());
    TypeOptions {
        ftype,
        pure: o["pure"].as_bool().unwrap_or(false),
        output_tensor_type: ty("output_tensor_type"),
        token_embedding_type: ty("token_embedding_type"),
    }
}

/// What differs between our output and the reference's tensor list.
fn tensor_diffs(ours: &[u8], want: &Json) -> Vec<String> {
    let f = GgufFile::from_bytes(ours).unwrap();
    let want = want.as_array().unwrap();
    let mut out = Vec::new();
    if f.tensors().len() != want.len() {
        out.push(format!(
            "{} tensors, want {}",
            f.tensors().len(),
            want.len()
        ));
    }
    for (t, w) in f.tensors().iter().zip(want) {
        let (name, ty, sha) = (
            w[0].as_str().unwrap(),
            w[1].as_str().unwrap(),
            w[2].as_str().unwrap(),
        );
        if t.name != name || t.ggml_type.name() != ty {
            out.push(format!("{} {} / want {name} {ty}", t.name, t.ggml_type));
        } else if common::sha256_hex(f.tensor_data(t)) != sha {
            out.push(format!("{} {}: data differs", t.name, t.ggml_type));
        }
    }
    if out.is_empty() {
        out.push("tensors equal: header or metadata differs".into());
    }
    out
}

#[test]
fn every_file_type_is_byte_identical_to_llama_quantize() {
    let fx = fixture();
    let mut failures = Vec::new();
    let mut n_cases = 0;
    for (name, shape) in [("A", common::MODEL_A), ("B", common::MODEL_B)] {
        let model = &fx["models"][name];
        let src = common::model_bytes(&shape);
        assert_eq!(
            common::sha256_hex(&src),
            model["source_sha256"].as_str().unwrap(),
            "source model {name} is not the one tools/gen_quantize_fixtures.py writes"
        );
        let file = GgufFile::from_bytes(&src).unwrap();
        for (i, (case, want)) in model["outputs"].as_object().unwrap().iter().enumerate() {
            let opts = options(want);
            let p = plan(&file, &opts).unwrap();
            // 1 to 3 threads: the bytes must not depend on it.
            let ours =
                write_quantized(&file, &p, opts.ftype, 1 + i % 3, Vec::new(), |_, _| {}).unwrap();
            n_cases += 1;
            if common::sha256_hex(&ours) != want["sha256"].as_str().unwrap() {
                let diffs = tensor_diffs(&ours, &want["tensors"]);
                failures.push(format!(
                    "{name} {case}: {}",
                    diffs[..diffs.len().min(6)].join("; ")
                ));
            }
        }
    }
    assert!(n_cases >= 38, "only {n_cases} cases in the fixture");
    assert!(
        failures.is_empty(),
        "{} of {n_cases} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
