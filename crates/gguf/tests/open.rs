//! Opening files by path: mapped or read, regular files only.

use std::path::PathBuf;

use gguf::{GgufError, GgufFile};

fn tiny() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models/tiny-q4_0.gguf")
}

#[test]
fn read_and_open_give_the_same_file() {
    let mapped = GgufFile::open(tiny()).unwrap();
    let read = GgufFile::read(tiny()).unwrap();
    assert_eq!(mapped.as_bytes(), read.as_bytes());
    assert_eq!(mapped.tensors().len(), read.tensors().len());
    assert_eq!(read.as_bytes().as_ptr() as usize % 32, 0);
}

#[test]
fn non_regular_files_are_refused_before_they_block() {
    let dir = std::env::temp_dir().join(format!("gguf-open-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fifo = dir.join("pipe.gguf");
    let _ = std::fs::remove_file(&fifo);
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for (path, kind) in [
        (fifo.clone(), "named pipe (FIFO)"),
        (dir.clone(), "directory"),
        (PathBuf::from("/dev/null"), "device"),
    ] {
        for result in [GgufFile::open(&path), GgufFile::read(&path)] {
            match result {
                Err(GgufError::NotAFile { kind: k, .. }) => assert_eq!(k, kind),
                other => panic!("{}: {other:?}", path.display()),
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn missing_files_are_io_errors() {
    let err = GgufFile::read("/nonexistent/x.gguf").unwrap_err();
    assert!(matches!(err, GgufError::Io { .. }), "{err:?}");
}
