//! `wasm-chord`: run GGUF language models from the command line.
#![forbid(unsafe_code)]

mod backend;
mod batched_bench;
mod bench;
mod chat;
mod common;
mod info;
mod limits;
mod perplexity;
mod printable;
mod quantize;
mod run;
mod serve;
mod spellings;
mod thread_timing;
mod tokenize;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "wasm-chord",
    version,
    about = "Run GGUF language models on the CPU or a GPU"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Complete a prompt; only the generated text goes to stdout (the prompt is not echoed).
    Run(run::RunArgs),
    /// Chat with the model's chat template (one message per stdin line).
    Chat(chat::ChatArgs),
    /// Perplexity of a text file, computed as llama.cpp's perplexity tool does.
    Perplexity(perplexity::PerplexityArgs),
    /// Print the token ids of a text.
    Tokenize(tokenize::TokenizeArgs),
    /// Prompt-processing and generation throughput, llama-bench style.
    Bench(bench::BenchArgs),
    /// Throughput of several sequences decoded together, llama-batched-bench style
    /// (`-npp`, `-ntg`, `-npl` as llama.cpp spells them).
    BatchedBench(batched_bench::BatchedBenchArgs),
    /// Describe a GGUF file: metadata, tensors, bytes per type.
    Info(info::InfoArgs),
    /// Convert an F32/F16/BF16 GGUF to a quantized one, as llama.cpp's llama-quantize.
    Quantize(quantize::QuantizeArgs),
    /// An OpenAI-compatible HTTP server with continuous batching over `-np` slots.
    Serve(serve::ServeArgs),
}

/// Where `scripts/fetch-model.sh` puts the default model (Gemma 3 270M Q4_K_M):
/// `$WASM_CHORD_MODEL` if set, else `models/` under the current directory.
pub fn default_model_path() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("WASM_CHORD_MODEL") {
        return p.into();
    }
    std::path::PathBuf::from("models/gemma-3-270m-q4_k_m.gguf")
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(spellings::rewrite_args(std::env::args_os()));
    let result = match &cli.command {
        Command::Run(args) => run::run(args),
        Command::Chat(args) => chat::run(args),
        Command::Perplexity(args) => perplexity::run(args),
        Command::Tokenize(args) => tokenize::run(args),
        Command::Bench(args) => bench::run(args),
        Command::BatchedBench(args) => batched_bench::run(args),
        Command::Info(args) => info::run(args),
        Command::Quantize(args) => quantize::run(args),
        Command::Serve(args) => serve::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", printable::printable(&error_chain(&e)));
            ExitCode::FAILURE
        }
    }
}

/// The context chain on one line (never a backtrace), skipping causes whose text the
/// previous message already includes (library errors often print their source too).
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let msg = cause.to_string();
        if out.contains(&msg) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&msg);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chain_skips_repeated_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "gone");
        let e = anyhow::Error::new(io)
            .context("cannot read 'x': gone")
            .context("loading x");
        assert_eq!(error_chain(&e), "loading x: cannot read 'x': gone");
    }
}
