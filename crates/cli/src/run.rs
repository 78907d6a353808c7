//! `wasm-chord run`: complete a prompt, streaming the generated text to stdout.
//!
//! stdout receives only the generated text (the prompt is NOT echoed, unlike llama.cpp's
//! CLI), so outputs can be compared byte for byte; the progress bar, warnings and the
//! final statistics go to stderr.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use engine::{Device, EngineError, FinishReason, GenerateParams, Session, Timings};
use gguf::GgufFile;
use model::Backend;

use crate::backend::{BackendArgs, OnDevice};
use crate::common::{self, ContextArgs, ModelArgs, SamplingArgs};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt text.
    #[arg(
        short = 'p',
        long = "prompt",
        conflicts_with = "file",
        required_unless_present = "file"
    )]
    prompt: Option<String>,
    /// Read the prompt from a file (one trailing newline is dropped, as llama.cpp does).
    #[arg(short = 'f', long = "file", value_name = "PROMPT_FILE")]
    file: Option<PathBuf>,
    /// Tokens to generate; -1 = until end of generation or a full context.
    #[arg(short = 'n', long = "n-predict", default_value_t = -1, allow_negative_numbers = true)]
    n_predict: i64,
    /// Stop before this string (repeatable); it is not printed.
    #[arg(long = "stop", value_name = "STR")]
    stop: Vec<String>,
    /// Do not prepend the BOS token even if the model asks for it.
    #[arg(long = "no-bos")]
    no_bos: bool,
    #[command(flatten)]
    ctx: ContextArgs,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

pub fn run(args: &RunArgs) -> Result<()> {
    let prompt = match (&args.prompt, &args.file) {
        (Some(p), _) => p.clone(),
        (None, Some(f)) => common::read_text_file(f)?,
        (None, None) => bail!("give a prompt with -p PROMPT or -f PROMPT_FILE"),
    };
    let path = args.model.path()?;
    let file = common::open_model(&path, args.model.no_mmap)?;
    args.backend.run(Run {
        args,
        prompt,
        file,
        path,
    })
}

/// `run` once the model file is open.
struct Run<'a> {
    args: &'a RunArgs,
    prompt: String,
    file: Arc<GgufFile>,
    path: PathBuf,
}

impl OnDevice for Run<'_> {
    type Output = ();

    fn run<D: Device>(self, device: D) -> Result<()> {
        let session = self
            .args
            .ctx
            .session(&device, self.file, &self.path, None)?;
        generate(session, self.args, &self.prompt)
    }
}

/// Streams the completion of `prompt` to stdout, on any backend.
fn generate<B: Backend>(mut session: Session<B>, args: &RunArgs, prompt: &str) -> Result<()> {
    let max_tokens = match args.n_predict {
        n if n < 0 => usize::MAX,
        n => n as usize,
    };
    let sampler = args.sampling.params(session.n_ctx())?;

    let params = GenerateParams {
        sampler,
        max_tokens,
        stop: args.stop.clone(),
        ..GenerateParams::default()
    };
    let ids = session
        .tokenize_prompt(prompt, !args.no_bos, params.parse_special)
        .context("the prompt does not fit in the context (--ctx-size)")?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut closed = false;
    let mut failure = None;
    let mut generation = session.generate_ids(&ids, &params);
    for item in generation.by_ref() {
        match item {
            Ok(piece) => {
                if piece.text.is_empty() {
                    continue;
                }
                if out
                    .write_all(piece.text.as_bytes())
                    .and_then(|()| out.flush())
                    .is_err()
                {
                    // stdout closed (e.g. `| head`): stop quietly.
                    closed = true;
                    break;
                }
            }
            Err(e) => failure = Some(e),
        }
    }
    let finish = generation.finish_reason();
    drop(generation);
    if !closed && std::io::stdout().is_terminal() {
        let _ = writeln!(out);
    }
    drop(out);
    match failure {
        None => {}
        Some(e @ EngineError::ContextFull { .. }) => eprintln!("note: {e}"),
        Some(e) => return Err(e).context("generation failed"),
    }
    if finish == Some(FinishReason::Stop) {
        eprintln!("note: stopped at a stop string");
    }
    eprintln!("{}", stats_line(&session.timings()));
    Ok(())
}

/// `prompt: N tokens, X ms (Y tok/s) | generation: ...` for stderr.
///
/// Generation speed counts forward passes: the first generated token comes from the
/// prompt's logits, so `N` generated tokens take `N - 1` decode steps (as llama.cpp
/// counts its "eval" runs).
pub fn stats_line(t: &Timings) -> String {
    let decode_steps = t.generated_tokens.saturating_sub(1);
    let rate = |n: usize, ms: f64| if ms > 0.0 { n as f64 * 1e3 / ms } else { 0.0 };
    let cached = if t.cached_tokens > 0 {
        format!(" (+{} cached)", t.cached_tokens)
    } else {
        String::new()
    };
    format!(
        "prompt: {} tokens{cached}, {:.1} ms ({:.2} tok/s) | generation: {} tokens, {:.1} ms ({:.2} tok/s)",
        t.prompt_tokens,
        t.prompt_ms,
        rate(t.prompt_tokens, t.prompt_ms),
        t.generated_tokens,
        t.generate_ms,
        rate(decode_steps, t.generate_ms),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_count_decode_steps() {
        let t = Timings {
            cached_tokens: 0,
            prompt_tokens: 10,
            prompt_ms: 500.0,
            generated_tokens: 11,
            generate_ms: 1000.0,
        };
        let s = stats_line(&t);
        assert!(
            s.contains("prompt: 10 tokens, 500.0 ms (20.00 tok/s)"),
            "{s}"
        );
        assert!(
            s.contains("generation: 11 tokens, 1000.0 ms (10.00 tok/s)"),
            "{s}"
        );
        let z = stats_line(&Timings::default());
        assert!(z.contains("(0.00 tok/s)"), "{z}");
    }
}
