//! `wasm-chord`: run GGUF language models from the command line.
#![forbid(unsafe_code)]

mod info;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "wasm-chord", version, about = "Run GGUF language models on CPU")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a GGUF file: metadata, tensors, bytes per type.
    Info(info::InfoArgs),
}

/// Where `scripts/fetch-model.sh` puts the default model (Gemma 3 270M Q4_K_M):
/// `$WASM_CHORD_MODEL` if set, else `models/` under the current directory.
pub fn default_model_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("WASM_CHORD_MODEL") {
        return p.into();
    }
    std::path::PathBuf::from("models/gemma-3-270m-q4_k_m.gguf")
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Info(args) => info::run(&args),
    }
}
