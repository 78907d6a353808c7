//! `wasm-chord batched-bench`: llama.cpp's `llama-batched-bench` for us.
//!
//! For every (PP, TG, B): clear the cache; evaluate B prompts of PP random
//! tokens (one per sequence, or one shared prompt copied to every slot with
//! `-pps`) in batches of at most `-b` tokens, logits of each prompt's last
//! token (T_PP); then TG steps of one batch holding one token of each of
//! the B sequences, logits for all (T_TG). `-c` is the context shared by
//! all sequences, as in llama.cpp's unified cache: tests needing more than
//! `c` positions in all are skipped, and any one sequence may use up to `c`
//! (each slot reserves `c` positions; memory is committed only as written,
//! at most `c` positions in all).
//! Tokens are random ids; there is no sampling.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Args;
use engine::sampler::SplitMix64;
use engine::{Device, SessionOptions};
use gguf::GgufFile;
use model::{Backend, Batch, KvCache, Model, Scratch};
use serde_json::json;

use crate::backend::{placement, BackendArgs, OnDevice};
use crate::common::{self, CacheTypeArg, ModelArgs};
use crate::limits;

#[derive(Args, Debug)]
pub struct BatchedBenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Prompt tokens per sequence (comma-separated; llama.cpp's `-npp`).
    #[arg(long = "npp", value_delimiter = ',', default_value = "128")]
    npp: Vec<usize>,
    /// Generated tokens per sequence (comma-separated; `-ntg`).
    #[arg(long = "ntg", value_delimiter = ',', default_value = "128")]
    ntg: Vec<usize>,
    /// Parallel sequences (comma-separated; `-npl`).
    #[arg(long = "npl", value_delimiter = ',', default_value = "1,2,4,8")]
    npl: Vec<usize>,
    /// Threads [default: available cores].
    #[arg(short = 't', long = "threads")]
    threads: Option<usize>,
    /// Context shared by all sequences (KV cache positions in all).
    #[arg(short = 'c', long = "ctx-size", default_value_t = 4096)]
    ctx: usize,
    /// Most tokens per forward call when evaluating prompts.
    #[arg(short = 'b', long = "batch-size", default_value_t = 2048)]
    batch_size: usize,
    /// One prompt shared by all sequences (computed once, copied to each slot).
    #[arg(long = "pps")]
    pps: bool,
    /// KV cache element type.
    #[arg(long = "cache-type", value_enum, default_value_t = CacheTypeArg::F16)]
    cache_type: CacheTypeArg,
    #[command(flatten)]
    attn: common::AttnArgs,
    #[command(flatten)]
    repack: common::RepackArgs,
    /// Print only a JSON array on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    backend: BackendArgs,
}

/// One (PP, TG, B) result.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    pp: usize,
    tg: usize,
    pl: usize,
    n_kv: usize,
    t_pp: f64,
    t_tg: f64,
    pps: bool,
}

impl Row {
    fn prompt_tokens(&self) -> usize {
        if self.pps {
            self.pp
        } else {
            self.pl * self.pp
        }
    }

    fn s_pp(&self) -> f64 {
        self.prompt_tokens() as f64 / self.t_pp.max(1e-9)
    }

    fn s_tg(&self) -> f64 {
        (self.pl * self.tg) as f64 / self.t_tg.max(1e-9)
    }

    fn total(&self) -> f64 {
        self.t_pp + self.t_tg
    }

    fn s(&self) -> f64 {
        (self.prompt_tokens() + self.pl * self.tg) as f64 / self.total().max(1e-9)
    }
}

/// Positions a test needs in all (llama.cpp's `n_ctx_req`).
fn ctx_needed(pp: usize, tg: usize, pl: usize, pps: bool) -> Option<usize> {
    let prompts = if pps { pp } else { pl.checked_mul(pp)? };
    prompts.checked_add(pl.checked_mul(tg)?)
}

struct Bench<'a, B: Backend> {
    model: &'a Model<B>,
    kv: KvCache<B>,
    scratch: Scratch<B>,
    batch: Batch,
    rng: SplitMix64,
    max_batch: usize,
    n_vocab: u64,
}

impl<B: Backend> Bench<'_, B> {
    fn token(&mut self) -> u32 {
        (self.rng.next_u64() % self.n_vocab.max(1)) as u32
    }

    /// Runs `self.batch` in forward calls of at most `max_batch` tokens,
    /// split between sequences' spans where needed.
    fn run_batch(&mut self) -> Result<()> {
        let all = std::mem::take(&mut self.batch);
        let mut part = Batch::with_capacity(self.max_batch);
        for sp in all.spans() {
            for i in sp.rows() {
                if part.len() == self.max_batch {
                    self.model.decode(&part, &mut self.kv, &mut self.scratch)?;
                    part.clear();
                }
                let pos = sp.pos + (i - sp.start);
                part.push(all.tokens()[i], pos, sp.seq, all.logits()[i]);
            }
        }
        if !part.is_empty() {
            self.model.decode(&part, &mut self.kv, &mut self.scratch)?;
        }
        self.batch = all;
        Ok(())
    }

    fn test(&mut self, pp: usize, tg: usize, pl: usize, pps: bool) -> Result<Row> {
        for s in 0..self.kv.n_seq() {
            self.kv.clear(s);
        }
        self.batch.clear();
        for seq in 0..if pps { 1 } else { pl } {
            for i in 0..pp {
                let t = self.token();
                self.batch.push(t, i, seq, i + 1 == pp);
            }
        }
        let t0 = Instant::now();
        if pp > 0 {
            self.run_batch()?;
        }
        let t_pp = t0.elapsed().as_secs_f64();
        if pps {
            for seq in 1..pl {
                self.kv.copy_prefix(0, seq, pp)?;
            }
        }
        let t0 = Instant::now();
        for i in 0..tg {
            self.batch.clear();
            for seq in 0..pl {
                let t = self.token();
                self.batch.push(t, pp + i, seq, true);
            }
            self.model
                .decode(&self.batch, &mut self.kv, &mut self.scratch)?;
        }
        let t_tg = t0.elapsed().as_secs_f64();
        Ok(Row {
            pp,
            tg,
            pl,
            n_kv: ctx_needed(pp, tg, pl, pps).unwrap_or(usize::MAX),
            t_pp,
            t_tg,
            pps,
        })
    }
}

pub fn run(args: &BatchedBenchArgs) -> Result<()> {
    if args.npl.contains(&0) {
        bail!("--npl values must be at least 1");
    }
    if args.batch_size == 0 {
        bail!("--batch-size must be at least 1");
    }
    if args.ctx == 0 {
        bail!("-c must be at least 1");
    }
    let threads = limits::threads(args.threads)?;
    let path = args.model.path()?;
    let file = common::open_model(&path, args.model.no_mmap)?;
    let opts = SessionOptions {
        threads,
        attention: args.attn.attn,
        repack: args.repack.repack,
        ..SessionOptions::default()
    };
    args.backend.run(BatchedBench {
        args,
        file,
        path,
        opts,
    })
}

/// `batched-bench` once the model file is open.
struct BatchedBench<'a> {
    args: &'a BatchedBenchArgs,
    file: Arc<GgufFile>,
    path: PathBuf,
    opts: SessionOptions,
}

impl OnDevice for BatchedBench<'_> {
    type Output = ();

    fn run<D: Device>(self, device: D) -> Result<()> {
        let model = device
            .load_model(self.file, &self.opts)
            .with_context(|| format!("loading {}", self.path.display()))?;
        bench(self.args, &model)
    }
}

/// Runs every test on `model` and prints the results, on any backend.
fn bench<B: Backend>(args: &BatchedBenchArgs, model: &Model<B>) -> Result<()> {
    let max_pl = args.npl.iter().copied().max().unwrap_or(1);
    let slot_ctx = args.ctx;
    let size = |e| limits::model_size_error(e, format_args!("-c {}", args.ctx));
    let max_batch = args.batch_size.min(args.ctx).max(max_pl);
    let ty = args.cache_type.into();
    let kv = KvCache::for_model(model, max_pl, slot_ctx, ty, Some(max_batch)).map_err(size)?;
    let scratch = Scratch::new(model, max_batch, slot_ctx, max_pl).map_err(size)?;
    let mut b = Bench {
        model,
        kv,
        scratch,
        batch: Batch::with_capacity(max_batch),
        rng: SplitMix64::new(0x0062_6174_6368_6564),
        max_batch,
        n_vocab: model.config().n_vocab as u64,
    };
    // warm-up: 16 tokens of sequence 0, as llama-batched-bench
    b.test(16.min(slot_ctx), 0, 1, false)?;

    let mut rows = Vec::new();
    for &pp in &args.npp {
        for &tg in &args.ntg {
            for &pl in &args.npl {
                let need = ctx_needed(pp, tg, pl, args.pps);
                if need.is_none_or(|n| n > args.ctx) {
                    eprintln!(
                        "batched-bench: skipping PP {pp}, TG {tg}, B {pl}: it needs more than -c {}",
                        args.ctx
                    );
                    continue;
                }
                let r = b
                    .test(pp, tg, pl, args.pps)
                    .with_context(|| format!("PP {pp}, TG {tg}, B {pl}"))?;
                if !args.json {
                    eprintln!(
                        "batched-bench: PP {pp} TG {tg} B {pl}: S_PP {:.2} t/s, S_TG {:.2} t/s",
                        r.s_pp(),
                        r.s_tg()
                    );
                }
                rows.push(r);
            }
        }
    }
    let (threads, isa) = placement(model);
    if args.json {
        let out: Vec<_> = rows
            .iter()
            .map(|r| {
                json!({
                    "npp": r.pp,
                    "ntg": r.tg,
                    "npl": r.pl,
                    "threads": threads,
                    "isa": isa,
                    "pp_tokens_per_s": r.s_pp(),
                    "tg_tokens_per_s": r.s_tg(),
                    "total_tokens_per_s": r.s(),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "n_kv_max = {}, n_batch = {max_batch}, threads = {threads}, isa = {isa}",
            args.ctx,
        );
        print!("{}", table(&rows));
    }
    Ok(())
}

/// llama-batched-bench's table.
fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "|{:>6} | {:>6} | {:>4} | {:>6} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} | {:>8} |\n",
        "PP", "TG", "B", "N_KV", "T_PP s", "S_PP t/s", "T_TG s", "S_TG t/s", "T s", "S t/s"
    );
    s.push_str("|-------|--------|------|--------|----------|----------|----------|----------|----------|----------|\n");
    for r in rows {
        s.push_str(&format!(
            "|{:>6} | {:>6} | {:>4} | {:>6} | {:>8.3} | {:>8.2} | {:>8.3} | {:>8.2} | {:>8.3} | {:>8.2} |\n",
            r.pp,
            r.tg,
            r.pl,
            r.n_kv,
            r.t_pp,
            r.s_pp(),
            r.t_tg,
            r.s_tg(),
            r.total(),
            r.s()
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_follow_llama_batched_bench() {
        let r = Row {
            pp: 128,
            tg: 128,
            pl: 4,
            n_kv: 1024,
            t_pp: 2.0,
            t_tg: 8.0,
            pps: false,
        };
        assert_eq!((r.s_pp(), r.s_tg(), r.s()), (256.0, 64.0, 102.4));
        let shared = Row {
            pps: true,
            ..r.clone()
        };
        assert_eq!(shared.s_pp(), 64.0);
        assert_eq!(ctx_needed(128, 128, 4, false), Some(1024));
        assert_eq!(ctx_needed(128, 128, 4, true), Some(640));
        assert_eq!(ctx_needed(usize::MAX, 1, 2, false), None);
        let t = table(&[r]);
        assert!(t.contains("|   128 |    128 |    4 |   1024 |    2.000 |   256.00 |    8.000 |    64.00 |   10.000 |   102.40 |"), "{t}");
    }
}
