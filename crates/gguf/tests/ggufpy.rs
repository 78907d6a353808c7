//! A file written by gguf-py (tests/data/gen_ggufpy_ref.py) reads as gguf-py
//! describes it and our writer reproduces it byte for byte.

use gguf::{Array, GgmlType, GgufFile, GgufWriter, Value};

const REF: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ggufpy_ref.gguf");

#[test]
fn reads_ggufpy_file() {
    let f = GgufFile::open(REF).unwrap();
    assert_eq!((f.version(), f.alignment()), (3, 64));
    let md = f.metadata();
    let expect: [(&str, Value); 18] = [
        ("general.architecture", Value::String("refarch".into())),
        ("general.alignment", Value::U32(64)),
        ("ref.u8", Value::U8(250)),
        ("ref.i8", Value::I8(-5)),
        ("ref.u16", Value::U16(65000)),
        ("ref.i16", Value::I16(-32000)),
        ("ref.u32", Value::U32(123_456_789)),
        ("ref.i32", Value::I32(-123_456_789)),
        ("ref.u64", Value::U64((1 << 63) + 11)),
        ("ref.i64", Value::I64(-(1 << 62))),
        ("ref.f32", Value::F32(0.1)),
        ("ref.f64", Value::F64(-2.5e-300)),
        ("ref.bool", Value::Bool(true)),
        ("ref.str", Value::String("gguf-py ▁snowman ☃".into())),
        ("ref.arr_i32", Value::Array(Array::I32(vec![1, -2, 3]))),
        ("ref.arr_f32", Value::Array(Array::F32(vec![0.5, 1.5]))),
        (
            "ref.arr_str",
            Value::Array(Array::String(vec!["a".into(), "".into(), "ü".into()])),
        ),
        ("ref.arr_bool", Value::Array(Array::Bool(vec![true, false]))),
    ];
    let got: Vec<_> = md.iter().take(expect.len()).collect();
    for ((k, v), (gk, gv)) in expect.iter().zip(got) {
        assert_eq!((*k, v), (gk, gv));
    }
    assert_eq!(
        md.get("ref.arr_u8"),
        Some(&Value::Array(Array::U8(vec![1, 2, 255])))
    );
    assert_eq!(
        md.get("ref.nested"),
        Some(&Value::Array(Array::Array(vec![
            Array::I32(vec![1, 2]),
            Array::I32(vec![3])
        ])))
    );
    assert_eq!(md.len(), 20);

    // Offsets and sizes as gguf-py's GGUFReader reports them (absolute offsets).
    let expect_t: [(&str, GgmlType, &[u64], u64, u64); 4] = [
        ("f32", GgmlType::F32, &[10], 896, 40),
        ("f16", GgmlType::F16, &[4, 3], 960, 24),
        ("q8_0", GgmlType::Q8_0, &[32, 2], 1024, 68),
        ("q4_k", GgmlType::Q4_K, &[256, 1], 1152, 144),
    ];
    assert_eq!(f.tensors().len(), 4);
    for (t, (name, ty, dims, abs, n)) in f.tensors().iter().zip(expect_t) {
        assert_eq!(
            (
                t.name.as_str(),
                t.ggml_type,
                &t.dims[..],
                f.data_offset() + t.offset,
                t.n_bytes
            ),
            (name, ty, dims, abs, n)
        );
    }
    let f32s: Vec<f32> = f
        .tensor_data(&f.tensors()[0])
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(f32s, (0..10).map(|i| i as f32).collect::<Vec<_>>());
}

#[test]
fn rewrites_ggufpy_file_byte_for_byte() {
    let f = GgufFile::open(REF).unwrap();
    assert_eq!(GgufWriter::from_gguf(&f).to_bytes(), f.as_bytes());
}
