//! Arguments and helpers shared by the subcommands: model path, context and sampling
//! flags, loading with a progress bar.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use engine::{AttentionBackend, CacheType, Device, Loaded, SamplerParams, Session, SessionOptions};
use gguf::GgufFile;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::limits;

/// `--no-mmap`'s help, the same for every command that opens a model.
pub const NO_MMAP_HELP: &str = "Read the model file into memory instead of memory-mapping it. \
    A mapped file (the default) must not change while in use: truncating it kills the process";

/// `-m MODEL`, defaulting to the fetched Gemma 3 270M, and `--no-mmap`.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// GGUF model file [default: $WASM_CHORD_MODEL or models/gemma-3-270m-q4_k_m.gguf].
    #[arg(short = 'm', long = "model", value_name = "MODEL")]
    pub model: Option<PathBuf>,
    #[arg(long = "no-mmap", help = NO_MMAP_HELP)]
    pub no_mmap: bool,
}

impl ModelArgs {
    /// The model path; a missing default model explains how to get it.
    pub fn path(&self) -> Result<PathBuf> {
        if let Some(p) = &self.model {
            return Ok(p.clone());
        }
        let p = crate::default_model_path();
        if !p.exists() {
            bail!(
                "no model given and the default model {} does not exist: run scripts/fetch-model.sh \
                 (from the repository root), set WASM_CHORD_MODEL, or pass -m MODEL",
                p.display()
            );
        }
        Ok(p)
    }
}

/// Element type of the KV cache.
#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheTypeArg {
    F16,
    F32,
}

impl From<CacheTypeArg> for CacheType {
    fn from(c: CacheTypeArg) -> CacheType {
        match c {
            CacheTypeArg::F16 => CacheType::F16,
            CacheTypeArg::F32 => CacheType::F32,
        }
    }
}

/// `--repack on|off`: load-time repacking (`engine::repack_model`; same results, more
/// memory): the kernel table's decode layouts, and with `on` Q5_0 matrices as Q8_0.
#[derive(Args, Debug, Clone)]
pub struct RepackArgs {
    /// Load-time repacking, same results, more memory: the kernels' repacked decode
    /// layouts (copies of the matrices they cover) and Q5_0 matrices re-encoded as Q8_0
    /// [default: the decode layouts only]
    #[arg(long = "repack", value_name = "on|off", value_parser = parse_on_off)]
    pub repack: Option<bool>,
}

fn parse_on_off(s: &str) -> std::result::Result<bool, String> {
    match s {
        "on" | "1" | "true" => Ok(true),
        "off" | "0" | "false" => Ok(false),
        _ => Err(format!("{s:?} is not on or off")),
    }
}

/// `--attn standard|flash|auto` (alias `--flash-attn on|off|auto`, llama.cpp's names).
#[derive(Args, Debug, Clone)]
pub struct AttnArgs {
    /// Attention kernel: standard (reference), flash (tiled online softmax) or auto
    /// (flash from 256 attended tokens, except prompt chunks over an f16 cache on
    /// AVX2/AVX-512: standard); `--flash-attn on|off|auto` also works.
    #[arg(
        long = "attn",
        visible_alias = "flash-attn",
        value_name = "standard|flash|auto",
        default_value = "auto",
        value_parser = parse_attention
    )]
    pub attn: AttentionBackend,
}

fn parse_attention(s: &str) -> std::result::Result<AttentionBackend, String> {
    AttentionBackend::parse(s)
        .ok_or_else(|| format!("{s:?} is not one of standard, flash, auto (or on, off)"))
}

/// Threads, context size, KV cache type and attention kernel.
#[derive(Args, Debug, Clone)]
pub struct ContextArgs {
    /// Threads of the forward pass [default: available cores].
    #[arg(short = 't', long = "threads", value_name = "N")]
    pub threads: Option<usize>,
    /// Context size in tokens (prompt + generation), capped by the model's training context.
    #[arg(
        short = 'c',
        long = "ctx-size",
        value_name = "N",
        default_value_t = 4096
    )]
    pub ctx_size: usize,
    /// KV cache element type.
    #[arg(long = "cache-type", value_enum, default_value_t = CacheTypeArg::F16)]
    pub cache_type: CacheTypeArg,
    #[command(flatten)]
    pub attn: AttnArgs,
    #[command(flatten)]
    pub repack: RepackArgs,
}

impl ContextArgs {
    /// Session options for `file`: `ctx_size` capped by the model's training context
    /// (`limits::ctx_size`), threads within `limits::threads`.
    pub fn session_options(&self, file: &GgufFile) -> Result<SessionOptions> {
        let threads = limits::threads(self.threads)?;
        let cfg = model::Config::from_gguf(file.metadata()).context("reading the model config")?;
        let n_ctx = limits::ctx_size(self.ctx_size, cfg.n_ctx_train)?;
        Ok(SessionOptions {
            n_ctx,
            cache_type: self.cache_type.into(),
            threads,
            attention: self.attn.attn,
            repack: self.repack.repack,
            ..SessionOptions::default()
        })
    }

    /// A session for `file` on `device` (with `chat_template`, if any); a KV
    /// cache or scratch beyond memory names `--ctx-size`.
    pub fn session<D: Device>(
        &self,
        device: &D,
        file: Arc<GgufFile>,
        path: &Path,
        chat_template: Option<String>,
    ) -> Result<Session<D::Backend>> {
        let opts = SessionOptions {
            chat_template,
            ..self.session_options(&file)?
        };
        let n_ctx = opts.n_ctx;
        Loaded::on(device, file, &opts)
            .and_then(|l| Session::from_loaded(l, &opts))
            .map_err(|e| limits::name_size_flag(e, format_args!("--ctx-size {n_ctx}")))
            .with_context(|| format!("preparing a session for {}", path.display()))
    }
}

/// `None` or 0: the number of available cores.
pub fn resolve_threads(t: Option<usize>) -> usize {
    match t {
        Some(n) if n > 0 => n,
        _ => std::thread::available_parallelism().map_or(1, |n| n.get()),
    }
}

/// The sampler flags, with llama.cpp's defaults.
#[derive(Args, Debug, Clone)]
pub struct SamplingArgs {
    /// Temperature; <= 0 = greedy (argmax).
    #[arg(long = "temp", default_value_t = 0.8, allow_hyphen_values = true)]
    pub temp: f32,
    /// Top-k sampling; 0 = off.
    #[arg(long = "top-k", default_value_t = 40)]
    pub top_k: usize,
    /// Top-p (nucleus) sampling; >= 1.0 = off.
    #[arg(long = "top-p", default_value_t = 0.95, allow_hyphen_values = true)]
    pub top_p: f32,
    /// Min-p sampling; <= 0.0 = off.
    #[arg(long = "min-p", default_value_t = 0.05, allow_hyphen_values = true)]
    pub min_p: f32,
    /// Repetition penalty; 1.0 = off.
    #[arg(
        long = "repeat-penalty",
        default_value_t = 1.0,
        allow_hyphen_values = true
    )]
    pub repeat_penalty: f32,
    /// Last N tokens considered by the penalties; 0 = off, -1 = the context size.
    #[arg(
        long = "repeat-last-n",
        default_value_t = 64,
        allow_negative_numbers = true
    )]
    pub repeat_last_n: i64,
    /// Frequency penalty; 0.0 = off.
    #[arg(
        long = "frequency-penalty",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub frequency_penalty: f32,
    /// Presence penalty; 0.0 = off.
    #[arg(
        long = "presence-penalty",
        default_value_t = 0.0,
        allow_hyphen_values = true
    )]
    pub presence_penalty: f32,
    /// Random seed [default: random, printed to stderr].
    #[arg(long = "seed")]
    pub seed: Option<u64>,
}

impl SamplingArgs {
    /// Sampler parameters for a context of `n_ctx` tokens; a missing seed is drawn from
    /// the clock and reported. Any finite float keeps llama.cpp's meaning (`--temp <= 0`
    /// greedy, `--top-p >= 1` and `--min-p <= 0` off); NaN and infinities are errors.
    pub fn params(&self, n_ctx: usize) -> Result<SamplerParams> {
        for (name, v) in [
            ("--temp", self.temp),
            ("--top-p", self.top_p),
            ("--min-p", self.min_p),
            ("--repeat-penalty", self.repeat_penalty),
            ("--frequency-penalty", self.frequency_penalty),
            ("--presence-penalty", self.presence_penalty),
        ] {
            limits::finite(name, v)?;
        }
        let penalty_last_n = limits::repeat_last_n(self.repeat_last_n, n_ctx)?;
        let seed = match self.seed {
            Some(s) => s,
            None => {
                let s = clock_seed();
                if self.temp > 0.0 {
                    eprintln!("seed: {s}");
                }
                s
            }
        };
        Ok(SamplerParams {
            temperature: self.temp,
            top_k: self.top_k,
            top_p: self.top_p,
            min_p: self.min_p,
            repeat_penalty: self.repeat_penalty,
            frequency_penalty: self.frequency_penalty,
            presence_penalty: self.presence_penalty,
            penalty_last_n,
            seed,
            ..SamplerParams::default()
        })
    }
}

fn clock_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut rng =
        engine::sampler::SplitMix64::new(now.as_nanos() as u64 ^ std::process::id() as u64);
    rng.next_u64() >> 1
}

/// Opens a GGUF file: memory-mapped, or read into memory with `no_mmap`.
pub fn open_gguf(path: &Path, no_mmap: bool) -> Result<GgufFile> {
    let file = if no_mmap {
        GgufFile::read(path)
    } else {
        GgufFile::open(path)
    };
    file.with_context(|| format!("loading model {}", path.display()))
}

/// Opens a GGUF file to run it. A mapped file's tensor data is read once, with a progress
/// bar on stderr (hidden when stderr is not a terminal), so generation does not start
/// with page faults.
pub fn open_model(path: &Path, no_mmap: bool) -> Result<Arc<GgufFile>> {
    let file = open_gguf(path, no_mmap)?;
    if no_mmap {
        return Ok(Arc::new(file));
    }
    let bytes = file.as_bytes();
    let start = (file.data_offset() as usize).min(bytes.len());
    let data = &bytes[start..];
    let bar = ProgressBar::with_draw_target(Some(data.len() as u64), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("loading {msg} {wide_bar} {bytes}/{total_bytes} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    bar.set_message(name);
    const CHUNK: usize = 8 << 20;
    const PAGE: usize = 4096;
    let mut acc = 0u8;
    for (i, chunk) in data.chunks(CHUNK).enumerate() {
        for b in chunk.iter().step_by(PAGE) {
            acc ^= *b;
        }
        bar.set_position((i * CHUNK + chunk.len()) as u64);
    }
    std::hint::black_box(acc);
    bar.finish_and_clear();
    Ok(Arc::new(file))
}

/// The most a text file (`-f`) may hold.
pub const TEXT_FILE_CAP: u64 = 64 << 20;

/// Reads a text file like llama.cpp's `-f FILE`: one trailing `\n` is dropped. A pipe
/// (`-f <(cmd)`) is read too; at most [`TEXT_FILE_CAP`] bytes are accepted.
pub fn read_text_file(path: &Path) -> Result<String> {
    let what = || format!("reading text file {}", path.display());
    let bytes = read_capped(path, TEXT_FILE_CAP).with_context(what)?;
    let mut text = String::from_utf8(bytes)
        .map_err(|e| anyhow::anyhow!("{} is not UTF-8 text: {}", path.display(), e.utf8_error()))?;
    if text.ends_with('\n') {
        text.pop();
    }
    Ok(text)
}

/// Reads at most `cap` bytes from `path` (a file, a pipe or a device; not a directory)
/// and fails when there are more.
pub fn read_capped(path: &Path, cap: u64) -> Result<Vec<u8>> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        bail!("{} is a directory", path.display());
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(cap + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        bail!(
            "{} holds more than the limit of {} MiB",
            path.display(),
            cap >> 20
        );
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_default_to_the_core_count() {
        assert_eq!(resolve_threads(Some(3)), 3);
        assert!(resolve_threads(None) >= 1);
        assert_eq!(resolve_threads(Some(0)), resolve_threads(None));
    }

    #[test]
    fn attention_flag_values() {
        for (s, want) in [
            ("flash", AttentionBackend::Flash),
            ("standard", AttentionBackend::Standard),
            ("auto", AttentionBackend::Auto),
            ("on", AttentionBackend::Flash),
            ("off", AttentionBackend::Standard),
        ] {
            assert_eq!(parse_attention(s), Ok(want));
        }
        assert!(parse_attention("yes").unwrap_err().contains("yes"));
    }

    #[test]
    fn text_file_drops_exactly_one_newline() {
        let dir = std::env::temp_dir().join(format!("wasm-chord-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.txt");
        std::fs::write(&p, "a\n\n").unwrap();
        assert_eq!(read_text_file(&p).unwrap(), "a\n");
        std::fs::write(&p, "b").unwrap();
        assert_eq!(read_text_file(&p).unwrap(), "b");
        let err = read_text_file(&dir.join("missing.txt")).unwrap_err();
        assert!(format!("{err:#}").contains("missing.txt"), "{err:#}");
    }
}
