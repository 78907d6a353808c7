//! Reads the real test model (skipped when it is absent, a failure under CI).

use std::collections::BTreeSet;
use std::io::Write;

use gguf::{GgmlType, GgufFile, GgufWriter, Value};

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/gemma-3-270m-q4_k_m.gguf"
);

fn open() -> Option<GgufFile> {
    if !std::path::Path::new(MODEL).exists() {
        test_support::missing(MODEL, test_support::FETCH_MODEL);
        return None;
    }
    Some(GgufFile::open(MODEL).expect("the test model must parse"))
}

#[test]
fn gemma_metadata_and_tensors() {
    let Some(f) = open() else { return };
    assert_eq!(f.tensors().len(), 236);
    assert_eq!(
        f.metadata()
            .get("general.architecture")
            .and_then(Value::as_str),
        Some("gemma3")
    );
    let types: BTreeSet<GgmlType> = f.tensors().iter().map(|t| t.ggml_type).collect();
    let expected = BTreeSet::from([
        GgmlType::Q8_0,
        GgmlType::Q5_0,
        GgmlType::Q4_K,
        GgmlType::Q6_K,
        GgmlType::F32,
    ]);
    assert_eq!(types, expected);
    let tokens = f
        .metadata()
        .get("tokenizer.ggml.tokens")
        .and_then(Value::as_array)
        .and_then(|a| a.as_strings())
        .expect("vocabulary");
    assert_eq!(tokens.len(), 262_144);
    let mut end = 0;
    for t in f.tensors() {
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.n_bytes);
        assert_eq!(data.as_ptr() as usize % 32, 0, "{}", t.name);
        end = end.max(f.data_offset() + t.offset + t.n_bytes);
    }
    assert!(end <= f.file_len());
}

/// Writes into nothing, comparing every byte with an expected buffer.
struct Compare<'a> {
    expected: &'a [u8],
    pos: usize,
}

impl Write for Compare<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let end = self.pos + buf.len();
        let same = self.expected.get(self.pos..end) == Some(buf);
        if !same {
            return Err(std::io::Error::other(format!(
                "output differs from the original within bytes {}..{end}",
                self.pos
            )));
        }
        self.pos = end;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn gemma_rewrites_byte_for_byte() {
    let Some(f) = open() else { return };
    let w = GgufWriter::from_gguf(&f);
    let mut cmp = Compare {
        expected: f.as_bytes(),
        pos: 0,
    };
    w.write_to(&mut cmp).expect("identical bytes");
    assert_eq!(cmp.pos as u64, f.file_len());
}
