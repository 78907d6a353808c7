//! Writer → reader → writer round trips over every value type, versions 2
//! and 3, several alignments, and both storage backends.

use gguf::{AlignedBuf, Array, GgmlType, GgufError, GgufFile, GgufWriter, Value};

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn all_values() -> Vec<(&'static str, Value)> {
    vec![
        ("t.u8", Value::U8(200)),
        ("t.i8", Value::I8(-100)),
        ("t.u16", Value::U16(60_000)),
        ("t.i16", Value::I16(-30_000)),
        ("t.u32", Value::U32(4_000_000_000)),
        ("t.i32", Value::I32(-2_000_000_000)),
        ("t.u64", Value::U64(u64::MAX - 5)),
        ("t.i64", Value::I64(i64::MIN + 7)),
        ("t.f32", Value::F32(-0.0)),
        ("t.f32_inf", Value::F32(f32::INFINITY)),
        ("t.f64", Value::F64(std::f64::consts::PI)),
        ("t.bool_t", Value::Bool(true)),
        ("t.bool_f", Value::Bool(false)),
        ("t.str", Value::String("héllo ▁wörld \u{1F600}".into())),
        ("t.str_empty", Value::String(String::new())),
        ("a.u8", Value::Array(Array::U8(vec![0, 1, 255]))),
        ("a.i8", Value::Array(Array::I8(vec![-128, 0, 127]))),
        ("a.u16", Value::Array(Array::U16(vec![1, 65535]))),
        ("a.i16", Value::Array(Array::I16(vec![-32768, 5]))),
        ("a.u32", Value::Array(Array::U32(vec![7, u32::MAX]))),
        ("a.i32", Value::Array(Array::I32(vec![-1, 2, 3]))),
        ("a.u64", Value::Array(Array::U64(vec![u64::MAX]))),
        ("a.i64", Value::Array(Array::I64(vec![i64::MIN, 0]))),
        ("a.f32", Value::Array(Array::F32(vec![1.5, -2.25, 1e-30]))),
        ("a.f64", Value::Array(Array::F64(vec![1e300, -0.5]))),
        ("a.bool", Value::Array(Array::Bool(vec![true, false, true]))),
        (
            "a.str",
            Value::Array(Array::String(vec!["<s>".into(), "".into(), "▁a".into()])),
        ),
        ("a.empty", Value::Array(Array::F32(vec![]))),
        (
            "a.nested",
            Value::Array(Array::Array(vec![
                Array::I32(vec![1, 2]),
                Array::String(vec!["x".into()]),
                Array::Array(vec![Array::U8(vec![9]), Array::Array(vec![])]),
                Array::Bool(vec![]),
            ])),
        ),
    ]
}

fn sample_writer(version: u32, alignment: u64) -> GgufWriter {
    let mut w = GgufWriter::new().version(version).alignment(alignment);
    w.add_kv("general.architecture", Value::String("test".into()));
    for (k, v) in all_values() {
        w.add_kv(k, v);
    }
    let tensors: [(&str, GgmlType, &[u64]); 6] = [
        ("f32.vec", GgmlType::F32, &[5]),
        ("q8_0.mat", GgmlType::Q8_0, &[64, 3]),
        ("q4_k.mat", GgmlType::Q4_K, &[256, 2, 1]),
        ("scalar", GgmlType::F16, &[]),
        ("empty", GgmlType::F32, &[0, 4]),
        ("q6_k.4d", GgmlType::Q6_K, &[256, 1, 2, 1]),
    ];
    for (i, (name, ty, dims)) in tensors.into_iter().enumerate() {
        let n: u64 = dims.iter().product();
        let len = n / ty.block_size() as u64 * ty.type_size() as u64;
        w.add_tensor(name, ty, dims, bytes(len as usize, i as u32))
            .unwrap();
    }
    w
}

fn check_file(f: &GgufFile, version: u32, alignment: u64) {
    assert_eq!(f.version(), version);
    assert_eq!(f.alignment(), alignment);
    assert_eq!(f.data_offset() % alignment, 0);
    let md = f.metadata();
    assert_eq!(
        md.get("general.architecture").and_then(Value::as_str),
        Some("test")
    );
    for (k, v) in all_values() {
        assert_eq!(md.get(k), Some(&v), "key {k}");
    }
    let extra = usize::from(alignment != 32);
    assert_eq!(md.len(), all_values().len() + 1 + extra);
    if alignment != 32 {
        assert_eq!(
            md.get("general.alignment"),
            Some(&Value::U32(alignment as u32))
        );
    }
    let names: Vec<_> = f.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        ["f32.vec", "q8_0.mat", "q4_k.mat", "scalar", "empty", "q6_k.4d"]
    );
    for (i, t) in f.tensors().iter().enumerate() {
        let data = f.tensor_data(t);
        assert_eq!(data.len() as u64, t.n_bytes);
        assert_eq!(data, &bytes(data.len(), i as u32)[..], "tensor {}", t.name);
        assert_eq!(t.offset % alignment, 0);
        if alignment >= 32 {
            assert_eq!(data.as_ptr() as usize % 32, 0, "tensor {}", t.name);
        }
        assert_eq!(f.tensor(&t.name), Some(t));
    }
    let q4 = f.tensor("q4_k.mat").unwrap();
    assert_eq!((q4.n_bytes, q4.row_len(), q4.n_rows()), (288, 256, 2));
    assert_eq!(f.tensor("scalar").unwrap().n_bytes, 2);
    assert_eq!(f.tensor("empty").unwrap().n_elements(), 0);
    assert!(f.tensor("nope").is_none());
}

#[test]
fn every_value_type_round_trips_in_v2_v3_and_many_alignments() {
    for version in [2, 3] {
        for alignment in [1, 8, 32, 64, 4096] {
            let w = sample_writer(version, alignment);
            let bytes = w.to_bytes();
            let f = GgufFile::from_bytes(&bytes).unwrap();
            check_file(&f, version, alignment);
            assert_eq!(f.file_len(), bytes.len() as u64);
            // Read → write gives the same bytes.
            assert_eq!(GgufWriter::from_gguf(&f).to_bytes(), bytes);
        }
    }
}

#[test]
fn aligned_buf_and_mmap_give_the_same_file() {
    let bytes = sample_writer(3, 64).to_bytes();
    let mut buf = AlignedBuf::with_capacity(bytes.len());
    for chunk in bytes.chunks(1000) {
        buf.extend_from_slice(chunk);
    }
    let a = GgufFile::from_aligned(buf).unwrap();
    check_file(&a, 3, 64);

    let path = std::env::temp_dir().join(format!("gguf-roundtrip-{}.gguf", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let m = GgufFile::open(&path);
    std::fs::remove_file(&path).unwrap();
    let m = m.unwrap();
    check_file(&m, 3, 64);
    assert_eq!(m.as_bytes(), &bytes[..]);
}

#[test]
fn open_reports_missing_file() {
    let err = GgufFile::open("/nonexistent/dir/model.gguf").unwrap_err();
    assert!(matches!(err, GgufError::Io { ref path, .. } if path.contains("model.gguf")));
}

#[test]
fn alignment_kv_sets_the_alignment() {
    let mut w = GgufWriter::new();
    w.add_kv("general.alignment", Value::U64(128));
    w.add_tensor("t", GgmlType::I8, &[3], vec![1, 2, 3])
        .unwrap();
    w.add_tensor("u", GgmlType::I8, &[1], vec![4]).unwrap();
    let f = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    assert_eq!(f.alignment(), 128);
    assert_eq!(
        f.metadata().get("general.alignment"),
        Some(&Value::U32(128))
    );
    assert_eq!(f.tensor("u").unwrap().offset, 128);
    assert_eq!(f.tensor_data(f.tensor("u").unwrap()), &[4]);
}

#[test]
fn empty_file_round_trips() {
    let bytes = GgufWriter::new().to_bytes();
    assert_eq!(bytes.len(), 32); // 24-byte header padded to 32
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert!(f.metadata().is_empty());
    assert!(f.tensors().is_empty());
    // Without tensors the trailing padding may be missing.
    let f = GgufFile::from_bytes(&bytes[..24]).unwrap();
    assert_eq!(f.data_offset(), 24);
}

#[test]
fn nesting_limit_is_enforced() {
    fn nest(depth: usize) -> Array {
        (1..depth).fold(Array::U8(vec![1]), |a, _| Array::Array(vec![a]))
    }
    let file = |depth| {
        let mut w = GgufWriter::new();
        w.add_kv("deep", Value::Array(nest(depth)));
        GgufFile::from_bytes(&w.to_bytes())
    };
    let ok = file(gguf::MAX_ARRAY_DEPTH).unwrap();
    assert_eq!(
        ok.metadata().get("deep"),
        Some(&Value::Array(nest(gguf::MAX_ARRAY_DEPTH)))
    );
    assert!(matches!(
        file(gguf::MAX_ARRAY_DEPTH + 1),
        Err(GgufError::NestingTooDeep {
            depth: 9,
            max: 8,
            ..
        })
    ));
}

#[test]
fn writer_rejects_bad_tensors() {
    let mut w = GgufWriter::new();
    w.add_tensor("a", GgmlType::F32, &[2], vec![0; 8]).unwrap();
    assert!(matches!(
        w.add_tensor("a", GgmlType::F32, &[2], vec![0; 8]),
        Err(GgufError::DuplicateTensor {
            first: 0,
            second: 1,
            ..
        })
    ));
    assert!(matches!(
        w.add_tensor("b", GgmlType::F32, &[2], vec![0; 7]),
        Err(GgufError::DataSizeMismatch {
            expected: 8,
            got: 7,
            ..
        })
    ));
    assert!(matches!(
        w.add_tensor("c", GgmlType::Q4_0, &[16], vec![0; 9]),
        Err(GgufError::RowNotBlockMultiple {
            row_len: 16,
            block_size: 32,
            ..
        })
    ));
    assert!(matches!(
        w.add_tensor("d", GgmlType::F32, &[1, 1, 1, 1, 1], vec![0; 4]),
        Err(GgufError::TooManyDims { n_dims: 5, .. })
    ));
    assert!(matches!(
        w.add_tensor(&"x".repeat(64), GgmlType::F32, &[1], vec![0; 4]),
        Err(GgufError::TensorNameTooLong { len: 64, .. })
    ));
    assert!(matches!(
        w.add_tensor("e", GgmlType::F32, &[u64::MAX], vec![]),
        Err(GgufError::DimTooLarge { index: 0, .. })
    ));
    assert_eq!(
        GgufFile::from_bytes(&w.to_bytes()).unwrap().tensors().len(),
        1
    );
}

#[test]
fn replacing_a_key_keeps_its_position() {
    let mut w = GgufWriter::new();
    w.add_kv("a", Value::U8(1));
    w.add_kv("b", Value::U8(2));
    w.add_kv("a", Value::String("new".into()));
    let f = GgufFile::from_bytes(&w.to_bytes()).unwrap();
    let pairs: Vec<_> = f
        .metadata()
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    assert_eq!(
        pairs,
        [
            ("a".to_owned(), Value::String("new".into())),
            ("b".to_owned(), Value::U8(2))
        ]
    );
}

/// Cutting a valid file at any byte must give an error, never a panic.
#[test]
fn every_truncation_is_an_error() {
    let mut w = sample_writer(3, 32);
    // End on a whole alignment unit so that no byte of the file is optional.
    w.add_tensor("last", GgmlType::F32, &[8], bytes(32, 99))
        .unwrap();
    let full = w.to_bytes();
    assert!(GgufFile::from_bytes(&full).is_ok());
    for len in 0..full.len() {
        assert!(
            GgufFile::from_bytes(&full[..len]).is_err(),
            "prefix of {len} of {} bytes was accepted",
            full.len()
        );
    }
}

#[test]
fn file_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GgufFile>();
    assert_send_sync::<AlignedBuf>();
}

/// Found by the fuzzer (as an out-of-memory in the rewrite step): a file
/// without tensors may declare alignment 2^31 and omit the padding. Reading
/// it must not allocate that padding.
#[test]
fn huge_alignment_without_tensors_reads_without_padding() {
    let mut bytes = b"GGUF".to_vec();
    bytes.extend_from_slice(&3u32.to_le_bytes());
    bytes.extend_from_slice(&0u64.to_le_bytes());
    bytes.extend_from_slice(&1u64.to_le_bytes());
    bytes.extend_from_slice(&17u64.to_le_bytes());
    bytes.extend_from_slice(b"general.alignment");
    bytes.extend_from_slice(&4u32.to_le_bytes());
    bytes.extend_from_slice(&(1u32 << 31).to_le_bytes());
    bytes.push(1);
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.alignment(), 1 << 31);
    assert_eq!(f.data_offset(), bytes.len() as u64);
    assert!(f.tensors().is_empty());
}
