//! Model, prompt and template paths that are not what they seem, files that change
//! under the process, and file contents that would drive a terminal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gguf::{GgufFile, GgufWriter, Value};

use crate::common::{gemma, tiny, tmp_dir};
use crate::probe::Probe;

const COMMANDS: [&str; 6] = ["run", "chat", "perplexity", "bench", "info", "tokenize"];

/// Arguments that make `cmd` open `model` and do as little as possible.
fn open_args(cmd: &str, model: &str) -> Vec<String> {
    let text = crate::common::root().join("tests/fixtures/text/devils-dictionary.txt");
    let mut a: Vec<String> = vec![cmd.into(), "-m".into(), model.into()];
    let more: &[&str] = match cmd {
        "run" | "tokenize" => &["-p", "hi"],
        "perplexity" => &["-f", text.to_str().unwrap(), "-c", "128"],
        "bench" => &["-p", "4", "-n", "2", "-r", "1", "-t", "1"],
        _ => &[],
    };
    a.extend(more.iter().map(|s| s.to_string()));
    a
}

fn mkfifo(dir: &Path) -> PathBuf {
    let p = dir.join("fifo.gguf");
    let ok = std::process::Command::new("mkfifo")
        .arg(&p)
        .status()
        .expect("run mkfifo")
        .success();
    assert!(ok, "mkfifo {}", p.display());
    p
}

#[test]
fn every_command_documents_no_mmap() {
    for cmd in COMMANDS {
        let out = Probe::new(&[cmd, "--help"]).run();
        out.success();
        let help = out.stdout_text();
        assert!(
            help.contains("--no-mmap") && help.contains("must not change while in use"),
            "{cmd} --help:\n{help}"
        );
    }
}

#[test]
fn no_mmap_run_survives_truncation_of_the_model() {
    let dir = tmp_dir();
    let copy = dir.join("gemma.gguf");
    std::fs::copy(gemma(), &copy).unwrap();
    let m = copy.to_string_lossy().into_owned();
    let args = [
        "run",
        "-m",
        &m,
        "--no-mmap",
        "-p",
        "Once upon a time",
        "-n",
        "200",
        "-t",
        "1",
    ];
    let clean = Probe::new(&args).args_temp0().run();
    clean.success();
    let truncate = {
        let copy = copy.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(700));
            std::fs::OpenOptions::new()
                .write(true)
                .open(&copy)
                .and_then(|f| f.set_len(1000))
                .expect("truncate the model");
        })
    };
    let cut = Probe::new(&args).args_temp0().run();
    truncate.join().unwrap();
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), 1000);
    cut.success();
    assert!(
        cut.elapsed > Duration::from_millis(700),
        "the run ended before the file was cut"
    );
    assert_eq!(cut.stdout, clean.stdout, "output changed");
}

#[test]
fn model_paths_that_are_not_regular_files_are_refused() {
    let dir = tmp_dir();
    let fifo = mkfifo(&dir);
    let cases = [
        (fifo.to_string_lossy().into_owned(), "named pipe"),
        (dir.to_string_lossy().into_owned(), "directory"),
        ("/dev/zero".to_string(), "device"),
    ];
    for (path, kind) in &cases {
        for cmd in COMMANDS {
            Probe::new(&open_args(cmd, path))
                .timeout_secs(10)
                .run()
                .clean_error(kind)
                .clean_error("not a regular file");
        }
    }
}

#[test]
fn chat_template_and_tools_paths_that_are_not_regular_files_are_refused() {
    let dir = tmp_dir();
    let fifo = mkfifo(&dir);
    let m = tiny("tiny-q4_0");
    for flag in ["--chat-template", "--tools"] {
        for (path, kind) in [(&fifo, "named pipe"), (&dir, "directory")] {
            Probe::new(&["chat", "-m", &m, flag, path.to_str().unwrap()])
                .stdin("hi\n")
                .timeout_secs(10)
                .run()
                .clean_error(kind);
        }
    }
    Probe::new(&["chat", "-m", &m, "--tools", "/dev/zero"])
        .stdin("hi\n")
        .timeout_secs(10)
        .run()
        .clean_error("device");
}

#[test]
fn prompt_files_may_be_pipes_and_are_capped() {
    let m = tiny("tiny-q4_0");
    let out = Probe::new(&["tokenize", "-m", &m, "-f", "/dev/stdin", "--no-bos"])
        .stdin("hello world\n")
        .run();
    out.success();
    let direct = Probe::new(&["tokenize", "-m", &m, "-p", "hello world", "--no-bos"]).run();
    assert_eq!(out.stdout, direct.success().stdout);
    for cmd in ["run", "tokenize", "perplexity"] {
        Probe::new(&[cmd, "-m", &m, "-f", "/dev/zero"])
            .run()
            .clean_error("limit of 64 MiB")
            .rss_below(512 << 20);
        let dir = tmp_dir();
        Probe::new(&[cmd, "-m", &m, "-f", dir.to_str().unwrap()])
            .run()
            .clean_error("is a directory");
    }
}

/// A copy of the tiny model whose strings carry terminal escapes: a metadata key and
/// value, a tensor name, and the architecture (which the loader then refuses, quoting it).
fn escape_laden_model(dir: &Path) -> String {
    let src = GgufFile::open(tiny("tiny-q4_0")).unwrap();
    let mut w = GgufWriter::new();
    for (k, v) in src.metadata().iter() {
        let k = k.replace("llama.", "ev\u{1b}[2Jil.");
        let v = if k == "general.architecture" {
            Value::String("ev\u{1b}[2Jil".into())
        } else {
            v.clone()
        };
        w.add_kv(&k, v);
    }
    w.add_kv(
        "general.name",
        Value::String("\u{1b}]0;owned\u{7}\u{9b}31m".into()),
    );
    for t in src.tensors() {
        let name = t.name.replace("output_norm", "output\u{1b}[8m_norm");
        w.add_tensor(&name, t.ggml_type, &t.dims, src.tensor_data(t).to_vec())
            .unwrap();
    }
    let p = dir.join("escapes.gguf");
    std::fs::write(&p, w.to_bytes()).unwrap();
    p.to_string_lossy().into_owned()
}

fn assert_no_terminal_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| c.is_control() && c != '\n')
        .collect();
    assert!(bad.is_empty(), "{what} prints raw {bad:?}:\n{text}");
}

#[test]
fn file_contents_are_printed_escaped() {
    let dir = tmp_dir();
    let m = escape_laden_model(&dir);
    for json in [false, true] {
        let mut args = vec!["info", m.as_str()];
        if json {
            args.push("--json");
        }
        let out = Probe::new(&args).run();
        out.success();
        let text = out.stdout_text();
        assert_no_terminal_controls("info", &text);
        assert!(text.contains("[2J"), "the escaped text is shown:\n{text}");
        if json {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v["metadata"]["general.name"],
                "\u{1b}]0;owned\u{7}\u{9b}31m"
            );
        }
    }
    for cmd in ["run", "perplexity", "bench", "chat"] {
        let out = Probe::new(&open_args(cmd, &m)).run();
        out.clean_error("\\u{1b}[2J");
        assert_no_terminal_controls(cmd, &out.stderr);
    }
    let out = Probe::new(&[
        "tokenize",
        "-m",
        &tiny("tiny-q4_0"),
        "-p",
        "a\u{1b}[2Jb",
        "--show-pieces",
    ])
    .run();
    out.success();
    assert_no_terminal_controls("tokenize --show-pieces", &out.stdout_text());
}

#[test]
fn chat_input_without_line_breaks_is_capped() {
    let m = tiny("tiny-q4_0");
    Probe::new(&["chat", "-m", &m, "-n", "2"])
        .stdin(vec![0u8; (64 << 20) + 1024])
        .run()
        .clean_error("longer than the limit of 64 MiB")
        .rss_below(512 << 20);
    Probe::new(&["chat", "-m", &m, "-n", "2"])
        .stdin(b"hi \xff\xfe\n".to_vec())
        .run()
        .clean_error("not UTF-8");
}
