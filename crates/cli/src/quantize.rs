//! `wasm-chord quantize IN.gguf OUT.gguf TYPE`: llama.cpp's `llama-quantize`
//! (same type names, per-tensor rules and bytes; no importance matrix).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use gguf::GgmlType;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use quantize::{FileType, Options, PlannedTensor, TypeOptions};

#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// Input GGUF file (F32, F16 or BF16 tensors).
    pub input: PathBuf,
    /// Output GGUF file.
    pub output: PathBuf,
    /// File type: Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S
    /// Q5_K_M Q6_K F16 BF16 F32 (Q3_K, Q4_K, Q5_K are the _M mixtures), or its number.
    #[arg(value_name = "TYPE")]
    pub ftype: String,
    /// Threads (as llama-quantize's last argument); default: all cores.
    #[arg(value_name = "NTHREADS")]
    pub nthreads: Option<usize>,
    /// Threads (same as NTHREADS).
    #[arg(
        short = 't',
        long = "threads",
        value_name = "N",
        conflicts_with = "nthreads"
    )]
    pub threads: Option<usize>,
    /// Every quantized tensor in the file type's main type (no mixture, no Q6_K output).
    #[arg(long)]
    pub pure: bool,
    /// Type of output.weight (a ggml type name such as Q8_0 or F16).
    #[arg(long = "output-tensor-type", value_name = "GGML_TYPE")]
    pub output_tensor_type: Option<String>,
    /// Type of token_embd.weight.
    #[arg(long = "token-embedding-type", value_name = "GGML_TYPE")]
    pub token_embedding_type: Option<String>,
}

fn ggml_type(flag: &str, s: &Option<String>) -> Result<Option<GgmlType>> {
    s.as_deref()
        .map(|s| {
            quantize::parse_ggml_type(s).ok_or_else(|| anyhow!("{flag} {s}: unknown ggml type"))
        })
        .transpose()
}

pub fn run(args: &QuantizeArgs) -> Result<()> {
    let Some(ftype) = FileType::parse(&args.ftype) else {
        let names: Vec<_> = FileType::all().map(|t| t.name()).collect();
        bail!(
            "unknown file type '{}' (one of {})",
            args.ftype,
            names.join(" ")
        );
    };
    let types = TypeOptions {
        ftype,
        pure: args.pure,
        output_tensor_type: ggml_type("--output-tensor-type", &args.output_tensor_type)?,
        token_embedding_type: ggml_type("--token-embedding-type", &args.token_embedding_type)?,
    };
    let n_threads = crate::limits::threads(args.threads.or(args.nthreads))?;
    let opts = Options { types, n_threads };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("[{pos}/{len}] {wide_bar} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let plan = quantize::quantize_file(
        &args.input,
        &args.output,
        &opts,
        |plan| bar.set_length(plan.len() as u64),
        |i, t| {
            bar.set_position(i as u64 + 1);
            bar.set_message(format!("{} {} -> {}", t.name, t.from, t.to));
        },
    );
    bar.finish_and_clear();
    let plan = plan.with_context(|| {
        format!(
            "quantizing {} to {} as {ftype}",
            args.input.display(),
            args.output.display()
        )
    })?;
    eprintln!(
        "{}",
        summary(&plan, ftype, n_threads, start.elapsed().as_secs_f64())
    );
    Ok(())
}

/// Sizes before and after, and how many tensors got each type.
fn summary(plan: &[PlannedTensor], ftype: FileType, n_threads: usize, secs: f64) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let bytes_in: u64 = plan.iter().map(|t| t.bytes_in).sum();
    let bytes_out: u64 = plan.iter().map(|t| t.bytes_out).sum();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for t in plan {
        *counts.entry(t.to.name()).or_default() += 1;
    }
    let counts: Vec<String> = counts.iter().map(|(t, n)| format!("{t} x{n}")).collect();
    format!(
        "{ftype}: {} tensors, {:.2} MiB -> {:.2} MiB ({}) in {secs:.2} s on {n_threads} threads",
        plan.len(),
        mib(bytes_in),
        mib(bytes_out),
        counts.join(", ")
    )
}
