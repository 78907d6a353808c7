//! Tokenize a text with a GGUF file's vocabulary and print ids, pieces and timings.
//!
//! `cargo run --release -p tokenizer --example tokenize -- model.gguf "Hello world" [--special]`
//! With a path prefixed by `@`, the text is read from that file (timing only).

use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(path), Some(text)) = (args.first(), args.get(1)) else {
        eprintln!("usage: tokenize MODEL.gguf TEXT|@FILE [--special]");
        std::process::exit(2);
    };
    let parse_special = args.iter().any(|a| a == "--special");
    let t0 = Instant::now();
    let file = match gguf::GgufFile::open(path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let t1 = Instant::now();
    let tok = match tokenizer::Tokenizer::from_gguf(file.metadata()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    let t2 = Instant::now();
    let (text, show) = match text.strip_prefix('@') {
        Some(f) => (
            std::fs::read_to_string(f).expect("readable text file"),
            false,
        ),
        None => (text.clone(), true),
    };
    let ids = tok.encode(&text, true, parse_special);
    let t3 = Instant::now();
    println!(
        "vocab {} | gguf open {:?} | tokenizer build {:?} | encode {} bytes -> {} ids in {:?}",
        tok.vocab_size(),
        t1 - t0,
        t2 - t1,
        text.len(),
        ids.len(),
        t3 - t2
    );
    if show {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for &id in &ids {
            let p = tok.token_to_piece(id, true);
            if writeln!(out, "{id:>7} {:?}", String::from_utf8_lossy(&p)).is_err() {
                return; // closed pipe
            }
        }
        let _ = writeln!(out, "decoded: {:?}", tok.decode(&ids, false));
    }
}
