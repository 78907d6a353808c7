//! `wasm-chord tokenize`: text to token ids with the model's tokenizer.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;
use tokenizer::Tokenizer;

use crate::common::{self, ModelArgs};
use crate::printable::{json_printable, printable};

#[derive(Args, Debug)]
pub struct TokenizeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Text to tokenize.
    #[arg(
        short = 'p',
        long = "prompt",
        conflicts_with = "file",
        required_unless_present = "file"
    )]
    prompt: Option<String>,
    /// Read the text from a file (one trailing newline is dropped).
    #[arg(short = 'f', long = "file")]
    file: Option<PathBuf>,
    /// Print a JSON array (of ids, or of {id, piece} objects with --show-pieces).
    #[arg(long)]
    json: bool,
    /// Do not prepend BOS even if the model asks for it.
    #[arg(long = "no-bos")]
    no_bos: bool,
    /// Parse control tokens written in the text (e.g. `<start_of_turn>`) as single tokens.
    #[arg(long = "parse-special")]
    parse_special: bool,
    /// Print `id -> 'piece'` for every token.
    #[arg(long = "show-pieces")]
    show_pieces: bool,
}

pub fn run(args: &TokenizeArgs) -> Result<()> {
    let text = match (&args.prompt, &args.file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => common::read_text_file(f)?,
        (None, None) => bail!("give the text with -p TEXT or -f FILE"),
    };
    let path = args.model.path()?;
    let file = common::open_gguf(&path, args.model.no_mmap)?;
    let tok = Tokenizer::from_gguf(file.metadata())
        .with_context(|| format!("building the tokenizer of {}", path.display()))?;
    let ids = tok.encode(&text, !args.no_bos, args.parse_special);
    println!("{}", render(&tok, &ids, args.json, args.show_pieces));
    Ok(())
}

fn piece(tok: &Tokenizer, id: u32) -> String {
    String::from_utf8_lossy(&tok.token_to_piece(id, true)).into_owned()
}

/// The output text (without the final newline).
fn render(tok: &Tokenizer, ids: &[u32], json: bool, pieces: bool) -> String {
    match (json, pieces) {
        // llama-tokenize --ids style: `[1, 415, 2936]` (valid JSON).
        (true, false) => format!(
            "[{}]",
            ids.iter()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
        (true, true) => {
            let items: Vec<_> = ids
                .iter()
                .map(|&id| json!({"id": id, "piece": piece(tok, id)}))
                .collect();
            json_printable(&serde_json::Value::Array(items).to_string()).into_owned()
        }
        (false, true) => ids
            .iter()
            .map(|&id| format!("{id:>6} -> '{}'", printable(&piece(tok, id))))
            .collect::<Vec<_>>()
            .join("\n"),
        (false, false) => ids.iter().map(u32::to_string).collect::<Vec<_>>().join(" "),
    }
}
