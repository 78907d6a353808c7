//! `wasm-chord bench`: llama-bench-style throughput.
//!
//! For every thread count: `pp<P>` evaluates P prompt tokens from an empty cache (in
//! batches, logits of the last token only) and `tg<N>` decodes N tokens one at a time from
//! an empty cache. Tokens are BOS (when the model has one) followed by fixed pseudo-random
//! ids, as llama-bench does, so no text or sampling is involved. Each test runs once to warm
//! up, then `-r` times; the result is the mean ± sample standard deviation of tokens/s.
//!
//! With `--backend gpu` the tests run once on the device (no thread counts); a `tg` step
//! reads back its argmax only (as a greedy sampler would), and the kernel dispatches of a
//! step are reported per token.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use engine::sampler::SplitMix64;
use engine::{Device, SessionOptions};
use gguf::GgufFile;
use model::{Backend, KvCache, LogitsMode, Model, ReadKind, Scratch};
use serde_json::json;
use tokenizer::Tokenizer;

use engine::MAX_CTX;

use crate::backend::{cpu_model, cpu_model_mut, gpu_backend, placement, BackendArgs, OnDevice};
use crate::common::{self, CacheTypeArg, ModelArgs};
use crate::limits::{self, MAX_REPETITIONS};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt sizes to test (comma-separated; 0 skips the pp tests).
    #[arg(
        short = 'p',
        long = "n-prompt",
        value_delimiter = ',',
        default_value = "128"
    )]
    n_prompt: Vec<usize>,
    /// Generation lengths to test (comma-separated; 0 skips the tg tests).
    #[arg(
        short = 'n',
        long = "n-gen",
        value_delimiter = ',',
        default_value = "128"
    )]
    n_gen: Vec<usize>,
    /// Depths (comma-separated): each test runs after this many prompt tokens
    /// already in the cache (evaluated untimed before each repetition), as
    /// llama-bench's `-d`; a test at depth D is named `pp128 @ d512`.
    #[arg(
        short = 'd',
        long = "n-depth",
        value_delimiter = ',',
        default_value = "0"
    )]
    n_depth: Vec<usize>,
    /// Thread counts (comma-separated) [default: available cores]; each test runs
    /// once per count.
    #[arg(short = 't', long = "threads", value_delimiter = ',')]
    threads: Vec<usize>,
    /// Repetitions of each test (1 to 1000).
    #[arg(short = 'r', long = "repetitions", default_value_t = 3)]
    reps: usize,
    /// Prompt tokens per forward call.
    #[arg(short = 'b', long = "batch-size", default_value_t = 512)]
    batch_size: usize,
    /// KV cache element type.
    #[arg(long = "cache-type", value_enum, default_value_t = CacheTypeArg::F16)]
    cache_type: CacheTypeArg,
    #[command(flatten)]
    attn: common::AttnArgs,
    #[command(flatten)]
    repack: common::RepackArgs,
    /// Print a JSON array instead of a markdown table.
    #[arg(long)]
    json: bool,
    /// After the tests of each thread count, trace a few decode steps and print
    /// per-thread timings (start delay, busy and idle time per step) to stderr.
    #[arg(long)]
    thread_timing: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// What one test measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Prompt,
    Gen,
}

impl Kind {
    /// The flag that lists this kind's sizes.
    fn flag(self) -> &'static str {
        match self {
            Kind::Prompt => "--n-prompt",
            Kind::Gen => "--n-gen",
        }
    }
}

/// The result of one test at one thread count.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchResult {
    pub threads: usize,
    pub test: String,
    pub n_tokens: usize,
    /// Tokens per second of each repetition.
    pub samples: Vec<f64>,
    /// Kernel dispatches of the last step (GPU `tg` tests).
    pub dispatches_per_token: Option<usize>,
    /// Weight bytes a decode step reads (`tg` tests).
    pub bytes_per_token: Option<u64>,
}

impl BenchResult {
    pub fn mean(&self) -> f64 {
        self.samples.iter().sum::<f64>() / self.samples.len().max(1) as f64
    }

    /// Sample standard deviation (0 for fewer than two samples).
    pub fn stddev(&self) -> f64 {
        let n = self.samples.len();
        if n < 2 {
            return 0.0;
        }
        let m = self.mean();
        let ss: f64 = self.samples.iter().map(|x| (x - m) * (x - m)).sum();
        (ss / (n - 1) as f64).sqrt()
    }
}

/// Runs the forward passes of one test; `ids` holds the tokens to evaluate.
struct Runner<'a, B: Backend> {
    model: &'a Model<B>,
    kv: KvCache<B>,
    scratch: Scratch<B>,
    batch: usize,
    /// What a `tg` step reads back.
    read: ReadKind,
    /// Prompt tokens evaluated (untimed) before each run: the test's depth.
    depth: Vec<u32>,
    /// Tokens per forward call of the depth's prompt.
    depth_batch: usize,
}

impl<B: Backend> Runner<'_, B> {
    /// Evaluates the depth's tokens untimed, then `ids` after them, and
    /// returns the seconds `ids` took.
    fn time(&mut self, kind: Kind, ids: &[u32]) -> Result<f64> {
        let start = self.depth.len();
        if start > 0 {
            let depth = std::mem::take(&mut self.depth);
            let done = self.prompt(&depth, 0, LogitsMode::None, self.depth_batch);
            self.depth = depth;
            done?;
        }
        let t0 = Instant::now();
        match kind {
            Kind::Prompt => self.prompt(ids, start, LogitsMode::Last, self.batch)?,
            Kind::Gen => {
                let (m, s) = (self.model, &mut self.scratch);
                for (pos, id) in (start..).zip(ids) {
                    let one = std::slice::from_ref(id);
                    m.encode_tokens(one, pos, &mut self.kv, s, LogitsMode::Last)?;
                    m.read_begin(s, self.read);
                    m.read_wait(s)?;
                }
            }
        }
        Ok(t0.elapsed().as_secs_f64())
    }

    /// Evaluates `ids` from position `pos0` in chunks of `batch` tokens,
    /// the last chunk's logits as `last`.
    fn prompt(&mut self, ids: &[u32], pos0: usize, last: LogitsMode, batch: usize) -> Result<()> {
        let mut pos = pos0;
        for chunk in ids.chunks(batch) {
            let mode = if pos + chunk.len() == pos0 + ids.len() {
                last
            } else {
                LogitsMode::None
            };
            self.model
                .forward(chunk, pos, &mut self.kv, &mut self.scratch, mode)?;
            pos += chunk.len();
        }
        Ok(())
    }
}

/// `n` token ids: BOS first (if any), then fixed pseudo-random ids below `n_vocab`.
fn bench_tokens(n: usize, n_vocab: usize, bos: Option<u32>, seed: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(seed);
    (0..n)
        .map(|i| match (i, bos) {
            (0, Some(b)) => b,
            _ => (rng.next_u64() % n_vocab.max(1) as u64) as u32,
        })
        .collect()
}

pub fn run(args: &BenchArgs) -> Result<()> {
    if args.reps == 0 {
        bail!("--repetitions must be at least 1");
    }
    if args.reps > MAX_REPETITIONS {
        bail!(
            "--repetitions {} is above the maximum of {MAX_REPETITIONS}",
            args.reps
        );
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    let threads = if args.threads.is_empty() {
        vec![limits::threads(None)?]
    } else {
        let t: Result<Vec<_>> = args
            .threads
            .iter()
            .map(|&t| limits::threads(Some(t)))
            .collect();
        t?
    };
    let path = args.model.path()?;
    let file = common::open_model(&path, args.model.no_mmap)?;
    let tok = Tokenizer::from_gguf(file.metadata())
        .with_context(|| format!("building the tokenizer of {}", path.display()))?;
    let size_bytes: u64 = file.tensors().iter().map(|t| t.n_bytes).sum();
    let params: u64 = file.tensors().iter().map(|t| t.n_elements()).sum();
    let cfg = model::Config::from_gguf(file.metadata()).context("reading the model config")?;
    let tests = tests(args, cfg.n_ctx_train)?;
    let opts = SessionOptions {
        threads: threads[0],
        attention: args.attn.attn,
        repack: args.repack.repack,
        ..SessionOptions::default()
    };
    let (results, isa) = args.backend.run(Bench {
        args,
        file,
        path: &path,
        opts,
        threads,
        tok: &tok,
        tests: &tests,
    })?;

    let label = model_label(&path);
    if args.json {
        let rows: Vec<_> = results
            .iter()
            .map(|r| {
                json!({
                    "model": label,
                    "size_bytes": size_bytes,
                    "params": params,
                    "isa": isa,
                    "threads": r.threads,
                    "test": r.test,
                    "n_tokens": r.n_tokens,
                    "tokens_per_s": r.mean(),
                    "stddev": r.stddev(),
                    "reps": r.samples.len(),
                    "samples_ts": r.samples,
                    "dispatches_per_token": r.dispatches_per_token,
                    "bytes_per_token": r.bytes_per_token,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&label, size_bytes, params, &isa, &results));
    }
    Ok(())
}

/// `bench` once the model file is open and the tests are known.
struct Bench<'a> {
    args: &'a BenchArgs,
    file: Arc<GgufFile>,
    path: &'a Path,
    opts: SessionOptions,
    /// The thread counts (the CPU's).
    threads: Vec<usize>,
    tok: &'a Tokenizer,
    tests: &'a [Test],
}

impl OnDevice for Bench<'_> {
    /// The results and the device's name (the CPU's kernel table).
    type Output = (Vec<BenchResult>, String);

    /// On the CPU every test runs at each thread count and a `tg` step
    /// reads its logits; on a GPU once, reading back its argmax only (as a
    /// greedy sampler would).
    fn run<D: Device>(self, device: D) -> Result<Self::Output> {
        let Bench { args, tok, .. } = self;
        let mut model = device
            .load_model(self.file, &self.opts)
            .with_context(|| format!("loading {}", self.path.display()))?;
        let (counts, read) = match cpu_model(&model) {
            Some(_) => (self.threads, ReadKind::Logits),
            None => (vec![0], ReadKind::TopK(1)),
        };
        let mut results = Vec::new();
        for t in counts {
            if let Some(m) = cpu_model_mut(&mut model) {
                m.set_threads(t);
            }
            let (t, _) = placement(&model);
            run_tests(&model, args, tok, self.tests, t, read, &mut results)?;
            if let (true, Some(m)) = (args.thread_timing, cpu_model(&model)) {
                let n_vocab = m.config().n_vocab;
                let ids = bench_tokens(32, n_vocab, tok.bos(), 0x7468_7265_6164);
                let trace = crate::thread_timing::measure(m, args.cache_type, &ids)?;
                eprint!(
                    "{}",
                    crate::thread_timing::report(&trace, t, crate::thread_timing::STEPS)
                );
            }
        }
        Ok((results, placement(&model).1))
    }
}

/// One test: its kind, its tokens and its depth (tokens already cached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Test {
    kind: Kind,
    n: usize,
    depth: usize,
}

impl Test {
    /// llama-bench's name: `pp512`, `tg128`, `tg128 @ d4096`.
    fn name(&self) -> String {
        let base = match self.kind {
            Kind::Prompt => format!("pp{}", self.n),
            Kind::Gen => format!("tg{}", self.n),
        };
        match self.depth {
            0 => base,
            d => format!("{base} @ d{d}"),
        }
    }
}

/// The tests to run: for each depth, every `-p` then every `-n` size,
/// checked against the context.
fn tests(args: &BenchArgs, n_ctx_train: usize) -> Result<Vec<Test>> {
    let sizes = args
        .n_prompt
        .iter()
        .map(|&n| (Kind::Prompt, n))
        .chain(args.n_gen.iter().map(|&n| (Kind::Gen, n)))
        .filter(|&(_, n)| n > 0);
    let depths: &[usize] = if args.n_depth.is_empty() {
        &[0]
    } else {
        &args.n_depth
    };
    let tests: Vec<Test> = depths
        .iter()
        .flat_map(|&depth| sizes.clone().map(move |(kind, n)| Test { kind, n, depth }))
        .collect();
    if tests.is_empty() {
        bail!("nothing to run: every -p and -n size is 0");
    }
    // A test of n tokens at depth d needs a context of n + d: the model's, or
    // MAX_CTX when it has none.
    let (max_n, limit) = match n_ctx_train {
        0 => (
            MAX_CTX,
            "the maximum context for a model file that declares none",
        ),
        t => (t, "the model's context length"),
    };
    if let Some(t) = tests.iter().find(|t| t.n.saturating_add(t.depth) > max_n) {
        match t.depth {
            0 => bail!("{} {} exceeds {limit} ({max_n})", t.kind.flag(), t.n),
            d => bail!(
                "{} {} at --n-depth {d} exceeds {limit} ({max_n})",
                t.kind.flag(),
                t.n
            ),
        }
    }
    Ok(tests)
}

/// Runs every test once to warm up, then `-r` times, on `model` (`threads`: the
/// count it runs with, 0 on a GPU); `tg` steps read back `read`.
fn run_tests<B: Backend>(
    model: &Model<B>,
    args: &BenchArgs,
    tok: &Tokenizer,
    tests: &[Test],
    threads: usize,
    read: ReadKind,
    results: &mut Vec<BenchResult>,
) -> Result<()> {
    let n_vocab = model.config().n_vocab;
    for t in tests {
        let (kind, n, depth) = (t.kind, t.n, t.depth);
        let test = t.name();
        let batch = match kind {
            Kind::Prompt => args.batch_size.min(n),
            Kind::Gen => 1,
        };
        let depth_batch = args.batch_size.min(depth).max(1);
        let size = |e| limits::model_size_error(e, format_args!("{} {n}", kind.flag()));
        let ctx = n + depth;
        let kv = KvCache::for_model(model, 1, ctx, args.cache_type.into(), None).map_err(size)?;
        // the depth's tokens come first (BOS), the test's after them
        let all = bench_tokens(depth + n, n_vocab, tok.bos(), 0x6265_6e63_6800 + n as u64);
        let (depth_ids, ids) = all.split_at(depth);
        let mut runner = Runner {
            model,
            kv,
            scratch: Scratch::new(model, batch.max(depth_batch), ctx, 1).map_err(size)?,
            batch,
            read,
            depth: depth_ids.to_vec(),
            depth_batch,
        };
        // Warm-up: a short run of the same kind.
        runner.time(kind, &ids[..n.min(8)])?;
        let mut samples = Vec::with_capacity(args.reps);
        for rep in 0..args.reps {
            let secs = runner
                .time(kind, ids)
                .with_context(|| format!("{test}, repetition {}", rep + 1))?;
            samples.push(n as f64 / secs.max(1e-9));
        }
        let dispatches = gpu_dispatches(model).filter(|_| kind == Kind::Gen);
        let bytes = (kind == Kind::Gen).then(|| model.weights().decode_bytes());
        let r = BenchResult {
            threads,
            test,
            n_tokens: n,
            samples,
            dispatches_per_token: dispatches,
            bytes_per_token: bytes,
        };
        let mut per_token = dispatches.map_or(String::new(), |d| format!(", {d} dispatches/token"));
        if let Some(b) = bytes {
            // weights read per second at the mean rate
            let gbs = b as f64 * r.mean() / 1e9;
            per_token += &format!(
                ", {:.1} MB of weights/token ({gbs:.1} GB/s)",
                b as f64 / 1e6
            );
        }
        eprintln!(
            "bench: threads {threads} {}: {:.2} ± {:.2} t/s{per_token}",
            r.test,
            r.mean(),
            r.stddev()
        );
        results.push(r);
    }
    Ok(())
}

/// The GPU backend's dispatches in its last step (`None` on another backend).
fn gpu_dispatches<B: Backend>(model: &Model<B>) -> Option<usize> {
    gpu_backend(model).map(|g| g.last_step().dispatches)
}

fn model_label(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

fn human_size(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.2} GiB", b / (1u64 << 30) as f64)
    } else {
        format!("{:.2} MiB", b / (1u64 << 20) as f64)
    }
}

fn human_params(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2} B", n / 1e9)
    } else {
        format!("{:.2} M", n / 1e6)
    }
}

/// The llama-bench markdown table.
fn table(label: &str, size: u64, params: u64, isa: &str, results: &[BenchResult]) -> String {
    let mut s = String::from("| model | size | params | isa | threads | test | t/s |\n");
    s.push_str("| --- | ---: | ---: | --- | ---: | ---: | ---: |\n");
    for r in results {
        s.push_str(&format!(
            "| {label} | {} | {} | {isa} | {} | {} | {:.2} ± {:.2} |\n",
            human_size(size),
            human_params(params),
            r.threads,
            r.test,
            r.mean(),
            r.stddev()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_stddev() {
        let r = BenchResult {
            threads: 1,
            test: "tg4".into(),
            n_tokens: 4,
            samples: vec![2.0, 4.0, 6.0],
            dispatches_per_token: None,
            bytes_per_token: None,
        };
        assert_eq!(r.mean(), 4.0);
        assert!((r.stddev() - 2.0).abs() < 1e-12);
        let one = BenchResult {
            samples: vec![5.0],
            ..r.clone()
        };
        assert_eq!(one.stddev(), 0.0);
        let t = table("m", 3 << 20, 1_500_000, "scalar", &[r]);
        assert!(
            t.contains("| m | 3.00 MiB | 1.50 M | scalar | 1 | tg4 | 4.00 ± 2.00 |"),
            "{t}"
        );
    }

    #[test]
    fn tokens_start_with_bos_and_stay_in_vocab() {
        let ids = bench_tokens(100, 37, Some(1), 9);
        assert_eq!(ids[0], 1);
        assert!(ids.iter().all(|&i| i < 37));
        assert_eq!(ids, bench_tokens(100, 37, Some(1), 9));
        // Without BOS every id is drawn; the sequence depends on the seed.
        assert_ne!(
            bench_tokens(16, 37, None, 9),
            bench_tokens(16, 37, None, 10)
        );
    }
}
