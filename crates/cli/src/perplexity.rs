//! `wasm-chord perplexity`: llama.cpp's perplexity tool (`tools/perplexity`,
//! `perplexity()` without stride), step for step:
//!
//! 1. the text (one trailing `\n` dropped) is tokenized once with BOS, no special parsing;
//! 2. it is cut into `floor(n_tokens / n_ctx)` chunks of `n_ctx` tokens (at least 2 needed);
//! 3. each chunk starts from an empty cache with its first token replaced by BOS (when the
//!    model adds BOS) and is evaluated at positions `0..n_ctx`; `--parallel N` chunks run
//!    together as the sequences of one [`Batch`] (llama.cpp: `n_batch / n_ctx` of them), each
//!    in its own KV cache slot, with the results each gets alone;
//! 4. positions `j = n_ctx/2 .. n_ctx-2` are scored: `-log_softmax(logits_j)[tok_{j+1}]`
//!    (max in f32, sum of `expf` in f64);
//! 5. `PPL = exp(mean nll)`, ± `PPL * sqrt(var(nll) / (count - 1))`, the values summed in
//!    chunk order.
//!
//! Progress goes to stderr as `[1]x,[2]y,...` (cumulative PPL after each chunk); the last
//! line of stdout is `PPL = <value> +/- <error>`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use engine::{Device, SessionOptions};
use gguf::GgufFile;
use model::{Backend, Batch, KvCache, Model, Scratch};
use tokenizer::Tokenizer;

use engine::MAX_CTX;

use crate::backend::{BackendArgs, OnDevice};
use crate::common::{self, CacheTypeArg, ModelArgs};
use crate::limits;

#[derive(Args, Debug)]
pub struct PerplexityArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Text file to score (one trailing newline is dropped, as llama.cpp does).
    #[arg(short = 'f', long = "file", value_name = "TEXT")]
    file: PathBuf,
    /// Tokens per chunk (4 to 1048576).
    #[arg(short = 'c', long = "ctx-size", default_value_t = 512)]
    ctx_size: usize,
    /// Score only the first N chunks [default: all; 0 = all].
    #[arg(long = "chunks", value_name = "N")]
    chunks: Option<usize>,
    /// Tokens per forward call, shared by the parallel chunks (logits memory grows with
    /// it: batch * n_vocab floats).
    #[arg(short = 'b', long = "batch-size", default_value_t = 64)]
    batch_size: usize,
    /// Chunks evaluated together, one sequence each, sharing the batch's tokens (with
    /// `--attn standard` the result is the same for every N; flash attention's depends on
    /// how the chunks are split).
    #[arg(long = "parallel", default_value_t = 1)]
    parallel: usize,
    /// Threads of the forward pass [default: available cores].
    #[arg(short = 't', long = "threads")]
    threads: Option<usize>,
    /// KV cache element type (llama.cpp's reference values use f32).
    #[arg(long = "cache-type", value_enum, default_value_t = CacheTypeArg::F16)]
    cache_type: CacheTypeArg,
    #[command(flatten)]
    attn: common::AttnArgs,
    #[command(flatten)]
    backend: BackendArgs,
}

/// Running sums of the negative log-likelihoods.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct NllSums {
    pub nll: f64,
    pub nll2: f64,
    pub count: usize,
}

impl NllSums {
    pub fn add(&mut self, v: f64) {
        self.nll += v;
        self.nll2 += v * v;
        self.count += 1;
    }

    pub fn ppl(&self) -> f64 {
        (self.nll / self.count.max(1) as f64).exp()
    }

    /// llama.cpp's uncertainty: `PPL * sqrt((E[v²] - E[v]²) / (count - 1))`.
    pub fn ppl_stderr(&self) -> f64 {
        if self.count < 2 {
            return 0.0;
        }
        let n = self.count as f64;
        let mean = self.nll / n;
        let var = self.nll2 / n - mean * mean;
        if var > 0.0 {
            self.ppl() * (var / (n - 1.0)).sqrt()
        } else {
            0.0
        }
    }
}

/// `-log_softmax(logits)[target]` the way llama.cpp computes it: max in f32,
/// `Σ expf(l - max)` accumulated in f64.
pub fn nll(logits: &[f32], target: usize) -> f64 {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = logits.iter().map(|&l| f64::from((l - max).exp())).sum();
    -(f64::from(logits[target] - max) - sum.ln())
}

pub fn run(args: &PerplexityArgs) -> Result<()> {
    let n_ctx = args.ctx_size;
    if n_ctx < 4 {
        bail!("--ctx-size must be at least 4, got {n_ctx}");
    }
    if n_ctx > MAX_CTX {
        bail!("--ctx-size {n_ctx} is above the maximum of {MAX_CTX}");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let threads = limits::threads(args.threads)?;
    let text = common::read_text_file(&args.file)?;
    let path = args.model.path()?;
    let file = common::open_model(&path, args.model.no_mmap)?;
    let opts = SessionOptions {
        threads,
        attention: args.attn.attn,
        // the file's layouts, as before the device seam
        repack: Some(false),
        ..SessionOptions::default()
    };
    args.backend.run(Perplexity {
        args,
        text,
        file,
        path,
        opts,
    })
}

/// `perplexity` once the text is read and the model file is open.
struct Perplexity<'a> {
    args: &'a PerplexityArgs,
    text: String,
    file: Arc<GgufFile>,
    path: PathBuf,
    opts: SessionOptions,
}

impl OnDevice for Perplexity<'_> {
    type Output = ();

    fn run<D: Device>(self, device: D) -> Result<()> {
        let Perplexity {
            args,
            text,
            file,
            path,
            opts,
        } = self;
        let tok = Tokenizer::from_gguf(file.metadata())
            .with_context(|| format!("building the tokenizer of {}", path.display()))?;
        let model = device
            .load_model(file, &opts)
            .with_context(|| format!("loading {}", path.display()))?;
        score(args, &text, &tok, &model)
    }
}

/// Tokenizes `text`, scores its chunks and prints the perplexity, on any
/// backend.
fn score<B: Backend>(
    args: &PerplexityArgs,
    text: &str,
    tok: &Tokenizer,
    model: &Model<B>,
) -> Result<()> {
    let n_ctx = args.ctx_size;
    let t_tok = Instant::now();
    let tokens = tok.encode(text, true, false);
    eprintln!(
        "perplexity: tokenized {} in {:.0} ms: {} tokens",
        args.file.display(),
        t_tok.elapsed().as_secs_f64() * 1e3,
        tokens.len()
    );
    if tokens.len() < 2 * n_ctx {
        bail!(
            "{} has {} tokens; at least 2 * ctx-size = {} are needed for ctx-size {n_ctx}",
            args.file.display(),
            tokens.len(),
            2 * n_ctx
        );
    }
    let n_ctx_train = model.config().n_ctx_train;
    if n_ctx_train > 0 && n_ctx > n_ctx_train {
        eprintln!("warning: ctx-size {n_ctx} exceeds the model's training context {n_ctx_train}");
    }
    let available = tokens.len() / n_ctx;
    let n_chunk = match args.chunks {
        None | Some(0) => available,
        Some(c) => c.min(available),
    };
    let bos = if tok.add_bos() { tok.bos() } else { None };
    let batch = args.batch_size.min(n_ctx * args.parallel.max(1));
    let n_seq = args.parallel.clamp(1, batch).min(n_chunk);
    // tokens of each sequence per forward call
    let per = (batch / n_seq).min(n_ctx);
    eprintln!(
        "perplexity: calculating perplexity over {n_chunk} chunks, n_ctx={n_ctx}, batch_size={}, n_seq={n_seq}",
        per * n_seq
    );

    let cfg = model.config();
    let n_vocab = cfg.n_vocab;
    let size_flags = format!("--ctx-size {n_ctx}, --batch-size {batch}, --parallel {n_seq}");
    let mut kv = KvCache::for_model(model, n_seq, n_ctx, args.cache_type.into(), Some(per))
        .map_err(|e| limits::model_size_error(e, &size_flags))?;
    let mut scratch = Scratch::new(model, per * n_seq, n_ctx, per * n_seq)
        .map_err(|e| limits::model_size_error(e, &size_flags))?;
    let first = n_ctx / 2;
    let mut sums = NllSums::default();
    let mut b = Batch::with_capacity(per * n_seq);
    // per sequence of a group: the chunk's ids, then its scored values in position order
    let mut ids = vec![vec![0u32; n_ctx]; n_seq];
    let mut nlls = vec![Vec::with_capacity(n_ctx - first); n_seq];
    let t0 = Instant::now();
    for g in (0..n_chunk).step_by(n_seq) {
        let group = g..(g + n_seq).min(n_chunk);
        for (s, i) in group.clone().enumerate() {
            ids[s].copy_from_slice(&tokens[i * n_ctx..(i + 1) * n_ctx]);
            if let Some(bos) = bos {
                ids[s][0] = bos;
            }
            // a fresh sequence: positions restart at 0
            kv.clear(s);
            nlls[s].clear();
        }
        let mut pos = 0;
        while pos < n_ctx {
            let end = (pos + per).min(n_ctx);
            b.clear();
            for (s, chunk) in ids.iter().enumerate().take(group.len()) {
                for (j, &id) in chunk.iter().enumerate().take(end).skip(pos) {
                    b.push(id, j, s, j >= first && j < n_ctx - 1);
                }
            }
            let logits = model.decode(&b, &mut kv, &mut scratch).with_context(|| {
                format!("chunks {}..={}, positions {pos}..{end}", g + 1, group.end)
            })?;
            let mut row = 0;
            for (s, i) in group.clone().enumerate() {
                for j in pos.max(first)..end.min(n_ctx - 1) {
                    let l = &logits[row * n_vocab..(row + 1) * n_vocab];
                    nlls[s].push(nll(l, tokens[i * n_ctx + j + 1] as usize));
                    row += 1;
                }
            }
            pos = end;
        }
        for (s, i) in group.clone().enumerate() {
            for &v in &nlls[s] {
                sums.add(v);
            }
            if i == 0 {
                let s = t0.elapsed().as_secs_f64();
                eprintln!(
                    "perplexity: {s:.2} seconds per pass - ETA {:.2} minutes",
                    s * n_chunk.div_ceil(n_seq) as f64 / 60.0
                );
            }
            eprint!("[{}]{:.4},", i + 1, sums.ppl());
        }
        let _ = std::io::stderr().flush();
    }
    eprintln!();
    eprintln!(
        "perplexity: {} tokens scored in {:.1} s",
        sums.count,
        t0.elapsed().as_secs_f64()
    );
    println!("PPL = {:.4} +/- {:.5}", sums.ppl(), sums.ppl_stderr());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nll_is_minus_log_softmax() {
        let logits = [1.0f32, 2.0, 3.0, -1.0];
        let z: f64 = logits.iter().map(|&l| f64::from(l).exp()).sum();
        for (i, &l) in logits.iter().enumerate() {
            let want = -(f64::from(l) - z.ln());
            assert!((nll(&logits, i) - want).abs() < 1e-6, "{i}");
        }
        // Large logits do not overflow.
        let big = [1000.0f32, 1000.0];
        assert!((nll(&big, 0) - std::f64::consts::LN_2).abs() < 1e-9);
    }

    #[test]
    fn ppl_and_its_uncertainty() {
        let mut s = NllSums::default();
        for v in [1.0, 2.0, 3.0] {
            s.add(v);
        }
        assert!((s.ppl() - 2f64.exp()).abs() < 1e-12);
        // var = 14/3 - 4 = 2/3; stderr = e^2 * sqrt((2/3) / 2).
        let want = 2f64.exp() * (1.0f64 / 3.0).sqrt();
        assert!((s.ppl_stderr() - want).abs() < 1e-12);
        let mut one = NllSums::default();
        one.add(0.5);
        assert_eq!(one.ppl_stderr(), 0.0);
    }
}
