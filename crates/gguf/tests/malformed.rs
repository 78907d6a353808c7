//! Every file of tests/fixtures/malformed (made by tools/gen_malformed.py)
//! must be rejected with the specific error its name describes.

use std::path::PathBuf;

use gguf::{GgmlType, GgufError as E, GgufFile, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/malformed")
}

type Check = fn(&E) -> bool;

/// File stem → the error the reader must give.
const EXPECTED: &[(&str, Check)] = &[
    (
        "bad_magic",
        |e| matches!(e, E::BadMagic { found } if found == b"GGML"),
    ),
    ("empty_file", |e| {
        matches!(
            e,
            E::Truncated {
                offset: 0,
                needed: 4,
                ..
            }
        )
    }),
    ("truncated_in_magic", |e| {
        matches!(e, E::Truncated { available: 2, .. })
    }),
    (
        "truncated_in_header",
        |e| matches!(e, E::Truncated { what, .. } if what == "tensor_count"),
    ),
    ("version_0", |e| {
        matches!(e, E::UnsupportedVersion { version: 0 })
    }),
    ("version_1", |e| {
        matches!(e, E::UnsupportedVersion { version: 1 })
    }),
    ("version_4", |e| {
        matches!(e, E::UnsupportedVersion { version: 4 })
    }),
    ("big_endian", |e| {
        matches!(
            e,
            E::BigEndian {
                version: 0x0300_0000
            }
        )
    }),
    ("huge_kv_count", |e| {
        matches!(
            e,
            E::CountTooLarge {
                what: "kv_count",
                count: 0x100_0000_0000,
                ..
            }
        )
    }),
    ("huge_tensor_count", |e| {
        matches!(
            e,
            E::CountTooLarge {
                what: "tensor_count",
                ..
            }
        )
    }),
    (
        "truncated_in_kv_key",
        |e| matches!(e, E::Truncated { what, needed: 20, available: 12, .. } if what == "metadata key #0"),
    ),
    (
        "truncated_in_kv_string",
        |e| matches!(e, E::Truncated { what, needed: 4, available: 2, .. } if what.contains("general.architecture")),
    ),
    (
        "truncated_in_kv_value",
        |e| matches!(e, E::Truncated { what, needed: 8, available: 3, .. } if what.contains("x.u64")),
    ),
    (
        "truncated_in_kv_type",
        |e| matches!(e, E::Truncated { what, .. } if what.contains("value type")),
    ),
    (
        "truncated_in_string_array",
        |e| matches!(e, E::Truncated { what, .. } if what.contains("string #1")),
    ),
    ("huge_string_length", |e| {
        matches!(
            e,
            E::Truncated {
                needed: 0x8000_0000_0000_0000,
                ..
            }
        )
    }),
    ("huge_key_length", |e| {
        matches!(
            e,
            E::Truncated {
                needed: u64::MAX,
                ..
            }
        )
    }),
    ("huge_array_count", |e| {
        matches!(
            e,
            E::ArrayTooLong {
                count: 0x100_0000_0000,
                min_elem_bytes: 4,
                ..
            }
        )
    }),
    ("huge_string_array_count", |e| {
        matches!(
            e,
            E::ArrayTooLong {
                count: 3,
                min_elem_bytes: 8,
                remaining: 16,
                ..
            }
        )
    }),
    ("array_count_overflow", |e| {
        matches!(
            e,
            E::ArrayTooLong {
                min_elem_bytes: 8,
                ..
            }
        )
    }),
    ("nested_too_deep", |e| {
        matches!(
            e,
            E::NestingTooDeep {
                depth: 9,
                max: 8,
                ..
            }
        )
    }),
    ("unknown_value_type", |e| {
        matches!(e, E::UnknownValueType { type_id: 13, .. })
    }),
    ("unknown_array_elem_type", |e| {
        matches!(e, E::UnknownValueType { type_id: 99, .. })
    }),
    (
        "invalid_utf8_key",
        |e| matches!(e, E::InvalidUtf8 { what, offset: 32 } if what == "metadata key #0"),
    ),
    (
        "invalid_utf8_value",
        |e| matches!(e, E::InvalidUtf8 { what, .. } if what.contains("x.str")),
    ),
    (
        "invalid_utf8_in_string_array",
        |e| matches!(e, E::InvalidUtf8 { what, .. } if what.contains("string #1")),
    ),
    ("empty_key", |e| {
        matches!(
            e,
            E::EmptyKey {
                index: 0,
                offset: 24
            }
        )
    }),
    (
        "duplicate_key",
        |e| matches!(e, E::DuplicateKey { key, first: 1, second: 2 } if key == "x.n"),
    ),
    ("alignment_zero", |e| {
        matches!(e, E::BadAlignment { alignment: 0 })
    }),
    ("alignment_not_pow2", |e| {
        matches!(e, E::BadAlignment { alignment: 48 })
    }),
    ("alignment_wrong_type", |e| {
        matches!(e, E::AlignmentType { found: "u64" })
    }),
    (
        "truncated_in_tensor_info",
        |e| matches!(e, E::Truncated { what, .. } if what == "offset of tensor 't'"),
    ),
    (
        "truncated_in_tensor_name",
        |e| matches!(e, E::Truncated { what, .. } if what == "name of tensor #0"),
    ),
    ("tensor_name_too_long", |e| {
        matches!(
            e,
            E::TensorNameTooLong {
                len: 64,
                max: 64,
                ..
            }
        )
    }),
    (
        "invalid_utf8_tensor_name",
        |e| matches!(e, E::InvalidUtf8 { what, .. } if what == "name of tensor #0"),
    ),
    (
        "duplicate_tensor",
        |e| matches!(e, E::DuplicateTensor { name, first: 0, second: 1 } if name == "t"),
    ),
    ("too_many_dims", |e| {
        matches!(
            e,
            E::TooManyDims {
                n_dims: 5,
                max: 4,
                ..
            }
        )
    }),
    ("dim_negative", |e| {
        matches!(
            e,
            E::DimTooLarge {
                index: 1,
                value: 0x8000_0000_0000_0000,
                ..
            }
        )
    }),
    (
        "dims_overflow",
        |e| matches!(e, E::ElementCountOverflow { dims, .. } if dims == &[1 << 32, 1 << 32]),
    ),
    ("unknown_type", |e| {
        matches!(e, E::UnknownTensorType { type_id: 4, .. })
    }),
    ("unknown_type_large", |e| {
        matches!(e, E::UnknownTensorType { type_id: 1000, .. })
    }),
    ("row_not_block_multiple", |e| {
        matches!(
            e,
            E::RowNotBlockMultiple {
                ty: GgmlType::Q4_K,
                row_len: 100,
                block_size: 256,
                ..
            }
        )
    }),
    ("tensor_size_overflow", |e| {
        matches!(
            e,
            E::TensorSizeOverflow {
                ty: GgmlType::F32,
                ..
            }
        )
    }),
    ("data_section_missing", |e| {
        matches!(
            e,
            E::DataSectionMissing {
                data_offset: 128,
                file_len: 101
            }
        )
    }),
    ("offset_misaligned", |e| {
        matches!(
            e,
            E::OffsetMisaligned {
                offset: 16,
                alignment: 32,
                ..
            }
        )
    }),
    ("tensor_out_of_bounds", |e| {
        matches!(
            e,
            E::TensorOutOfBounds {
                offset: 64,
                size: 32,
                data_len: 64,
                ..
            }
        )
    }),
    ("tensor_offset_overflow", |e| {
        matches!(e, E::TensorOutOfBounds { .. })
    }),
    ("truncated_tensor_data", |e| {
        matches!(
            e,
            E::TensorOutOfBounds {
                offset: 0,
                size: 64,
                data_len: 60,
                ..
            }
        )
    }),
    (
        "tensor_overlap",
        |e| matches!(e, E::TensorOverlap { first, first_end: 64, second, second_offset: 32, .. } if first == "a" && second == "b"),
    ),
    ("tensor_overlap_same_offset", |e| {
        matches!(
            e,
            E::TensorOverlap {
                second_offset: 0,
                ..
            }
        )
    }),
    ("misaligned_with_alignment_kv", |e| {
        matches!(
            e,
            E::OffsetMisaligned {
                offset: 32,
                alignment: 64,
                ..
            }
        )
    }),
];

#[test]
fn each_malformed_file_gives_its_error() {
    let mut failures = Vec::new();
    for (stem, check) in EXPECTED {
        let path = fixtures().join(format!("{stem}.gguf"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(bytes.len() < 4096, "{stem} is too big");
        match GgufFile::from_bytes(&bytes) {
            Ok(_) => failures.push(format!("{stem}: accepted")),
            Err(e) if check(&e) => {
                eprintln!("{stem}: {e}");
            }
            Err(e) => failures.push(format!("{stem}: unexpected error {e:?}")),
        }
        // The mmap path gives the same verdict.
        let mapped = GgufFile::open(&path);
        assert!(
            matches!(&mapped, Err(e) if check(e)),
            "{stem} via mmap: {mapped:?}"
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_fixture_is_in_the_table() {
    let mut stems: Vec<String> = std::fs::read_dir(fixtures())
        .expect("fixture directory")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            Some(name.strip_suffix(".gguf")?.to_owned())
        })
        .collect();
    stems.sort();
    let mut known: Vec<String> = EXPECTED.iter().map(|(s, _)| s.to_string()).collect();
    known.sort();
    assert_eq!(stems, known);
}

/// The hand-packed valid file (independent of our writer) reads as intended.
#[test]
fn hand_packed_valid_file_reads() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/valid_tiny.gguf");
    let f = GgufFile::open(path).unwrap();
    let md = f.metadata();
    assert_eq!(md.len(), 6);
    assert_eq!(md.get("test.count"), Some(&Value::U32(7)));
    assert_eq!(md.get("test.scale").and_then(Value::as_f32), Some(0.5));
    assert_eq!(md.get("test.flag").and_then(Value::as_bool), Some(true));
    let tokens = md.get("test.tokens").and_then(Value::as_array).unwrap();
    assert_eq!(tokens.as_strings().unwrap(), ["<s>", "a", "\u{2581}b"]);
    let ids = md.get("test.ids").and_then(Value::as_array).unwrap();
    assert_eq!(ids.as_i32s().unwrap(), [-1, 5]);
    let a = f.tensor("a.f32").unwrap();
    let floats: Vec<f32> = f
        .tensor_data(a)
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    assert_eq!(floats, [1.0, -2.0, 0.25, 8.0]);
    let b = f.tensor("b.q8_0").unwrap();
    assert_eq!((b.n_bytes, b.offset, b.n_rows()), (68, 32, 2));
    assert_eq!(&f.tensor_data(b)[2..6], &[0, 1, 2, 3]);
    // Our writer reproduces it byte for byte.
    assert_eq!(gguf::GgufWriter::from_gguf(&f).to_bytes(), f.as_bytes());
}
