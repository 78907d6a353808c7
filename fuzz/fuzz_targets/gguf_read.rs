//! Parses arbitrary bytes as GGUF. Any panic, overflow or out-of-memory is a
//! bug; when the bytes parse, every tensor slice and metadata value is touched
//! and the file must survive a write/read round trip.
#![no_main]

use gguf::{Array, GgufFile, GgufWriter, Value};
use libfuzzer_sys::fuzz_target;

fn touch_array(a: &Array) -> usize {
    match a {
        Array::Array(inner) => inner.iter().map(touch_array).sum::<usize>() + 1,
        Array::String(v) => v.iter().map(String::len).sum(),
        other => other.len() + other.to_u64s().map_or(0, |v| v.len()),
    }
}

fn touch_value(v: &Value) -> usize {
    let _ = (
        v.as_u64(),
        v.as_i64(),
        v.as_f32(),
        v.as_bool(),
        v.type_name(),
    );
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => touch_array(a),
        _ => 1,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(f) = GgufFile::from_bytes(data) else {
        return;
    };
    let mut sum = 0usize;
    for (k, v) in f.metadata().iter() {
        sum = sum.wrapping_add(k.len() + touch_value(v));
    }
    for t in f.tensors() {
        let bytes = f.tensor_data(t);
        assert_eq!(bytes.len() as u64, t.n_bytes);
        sum = sum.wrapping_add(bytes.iter().map(|&b| b as usize).sum::<usize>());
        assert!(f.tensor(&t.name).is_some());
        let _ = (t.n_elements(), t.n_rows(), t.row_len());
    }
    std::hint::black_box(sum);
    // A file without tensors may declare a huge alignment (up to 2^31) and
    // omit the padding; rewriting it would legitimately write that padding.
    if f.alignment() > 1 << 16 {
        return;
    }
    // Whatever was accepted can be written and read back to the same content.
    let again = GgufFile::from_bytes(&GgufWriter::from_gguf(&f).to_bytes())
        .expect("a rewritten file must parse");
    assert_eq!(again.tensors().len(), f.tensors().len());
    assert_eq!(again.metadata().len(), f.metadata().len());
});
