//! `GgufStreamWriter` writes the same bytes as `GgufWriter`, whatever the
//! pieces the data comes in, and refuses data that does not fit.

use gguf::{GgmlType, GgufFile, GgufStreamWriter, GgufWriter, Metadata, Value};

fn tensors() -> Vec<(&'static str, GgmlType, Vec<u64>)> {
    vec![
        ("a", GgmlType::F32, vec![3, 2]),
        ("empty", GgmlType::F16, vec![0, 4]),
        ("b", GgmlType::Q8_0, vec![64]),
        ("c", GgmlType::F16, vec![5]),
    ]
}

fn data(i: usize, len: u64) -> Vec<u8> {
    (0..len).map(|j| (i as u64 * 31 + j * 7) as u8).collect()
}

fn metadata() -> Metadata {
    let mut md = Metadata::default();
    md.insert("general.architecture", Value::String("llama".into()));
    md.insert("x.count", Value::U32(7));
    md
}

fn in_memory(alignment: u64) -> Vec<u8> {
    let mut w = GgufWriter::new();
    for (k, v) in metadata().iter() {
        w.add_kv(k, v.clone());
    }
    let mut w = w.alignment(alignment);
    for (i, (name, ty, dims)) in tensors().into_iter().enumerate() {
        let n = ty.row_bytes(dims[0]).unwrap() * dims.iter().skip(1).product::<u64>();
        w.add_tensor(name, ty, &dims, data(i, n)).unwrap();
    }
    w.to_bytes()
}

fn streamed(alignment: u64, piece: usize) -> Vec<u8> {
    let mut md = metadata();
    if alignment != 32 {
        md.insert("general.alignment", Value::U32(alignment as u32));
    }
    let mut s = GgufStreamWriter::new(3, md).unwrap();
    for (name, ty, dims) in tensors() {
        s.add_tensor(name, ty, &dims).unwrap();
    }
    let infos = s.tensors();
    let mut w = s.start(Vec::new()).unwrap();
    for (i, t) in infos.iter().enumerate() {
        for chunk in data(i, t.n_bytes).chunks(piece) {
            w.write_data(chunk).unwrap();
        }
    }
    w.finish().unwrap()
}

#[test]
fn same_bytes_as_the_in_memory_writer() {
    for alignment in [32, 64, 8] {
        let want = in_memory(alignment);
        for piece in [1, 3, 1000] {
            assert_eq!(
                streamed(alignment, piece),
                want,
                "alignment {alignment}, piece {piece}"
            );
        }
        let f = GgufFile::from_bytes(&want).unwrap();
        assert_eq!(f.tensors().len(), 4);
    }
}

#[test]
fn declared_offsets_match_the_file() {
    let mut s = GgufStreamWriter::new(3, metadata()).unwrap();
    for (name, ty, dims) in tensors() {
        s.add_tensor(name, ty, &dims).unwrap();
    }
    let declared = s.tensors();
    let bytes = streamed(32, 7);
    let f = GgufFile::from_bytes(&bytes).unwrap();
    assert_eq!(f.tensors(), &declared[..]);
}

#[test]
fn refuses_too_much_too_little_and_duplicates() {
    let mut s = GgufStreamWriter::new(3, metadata()).unwrap();
    s.add_tensor("a", GgmlType::F32, &[2]).unwrap();
    assert!(s.add_tensor("a", GgmlType::F32, &[2]).is_err());
    assert!(s.add_tensor("q", GgmlType::Q4_0, &[33]).is_err());
    let mut w = s.clone().start(Vec::new()).unwrap();
    assert!(w.write_data(&[0; 9]).is_err());
    w.write_data(&[0; 4]).unwrap();
    let err = w.finish().unwrap_err().to_string();
    assert!(err.contains("'a'") && err.contains("4 of 8"), "{err}");
    let mut w = s.start(Vec::new()).unwrap();
    w.write_data(&[0; 8]).unwrap();
    assert!(w.write_data(&[0]).is_err());
    assert!(w.current().is_none());
    assert!(GgufStreamWriter::new(4, Metadata::default()).is_err());
}

#[test]
fn metadata_remove_keeps_the_order_of_the_rest() {
    let mut md = metadata();
    md.insert("z", Value::U8(1));
    assert_eq!(
        md.remove("general.architecture"),
        Some(Value::String("llama".into()))
    );
    assert_eq!(md.remove("nope"), None);
    md.insert("general.architecture", Value::U8(2));
    let keys: Vec<_> = md.iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["x.count", "z", "general.architecture"]);
    assert_eq!(md.get("z"), Some(&Value::U8(1)));
}
