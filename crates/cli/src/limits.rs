//! Ranges of the numeric flags that size memory or threads: every value past them is a
//! clean error naming the flag, before anything is allocated from it.

use anyhow::{bail, Result};
use engine::{EngineError, MAX_CTX, MAX_THREADS};
use model::ModelError;

/// Most repetitions of a `bench` test.
pub const MAX_REPETITIONS: usize = 1000;

/// `-t N`: `None` or 0 = the available cores (at most [`MAX_THREADS`]); an explicit
/// count above [`MAX_THREADS`] is an error.
pub fn threads(t: Option<usize>) -> Result<usize> {
    match t {
        Some(n) if n > MAX_THREADS => {
            bail!("--threads {n} is above the maximum of {MAX_THREADS}")
        }
        t => Ok(crate::common::resolve_threads(t).min(MAX_THREADS)),
    }
}

/// The context for `-c requested` on a model trained on `n_ctx_train` tokens (0: the
/// file declares none): above a declared length it is capped with a note; without
/// one it may not exceed [`MAX_CTX`].
pub fn ctx_size(requested: usize, n_ctx_train: usize) -> Result<usize> {
    if requested == 0 {
        bail!("--ctx-size must be at least 1");
    }
    if n_ctx_train == 0 {
        if requested > MAX_CTX {
            bail!(
                "--ctx-size {requested} is above {MAX_CTX}, the largest context for a model \
                 file that declares no context length"
            );
        }
        return Ok(requested);
    }
    if requested > n_ctx_train {
        eprintln!(
            "note: --ctx-size {requested} capped to the model's training context {n_ctx_train}"
        );
        return Ok(n_ctx_train);
    }
    Ok(requested)
}

/// `--repeat-last-n N`: -1 = the context (`n_ctx`), 0 = off, at most [`MAX_CTX`]; the
/// window never holds more than the context, so larger values act as `n_ctx`.
pub fn repeat_last_n(n: i64, n_ctx: usize) -> Result<usize> {
    match n {
        -1 => Ok(n_ctx),
        n if n < -1 => bail!("--repeat-last-n must be -1 (the context size) or more, got {n}"),
        n if n as u64 > MAX_CTX as u64 => {
            bail!("--repeat-last-n {n} is above the maximum of {MAX_CTX}")
        }
        n => Ok((n as usize).min(n_ctx)),
    }
}

/// A float flag that must be finite (NaN and ±inf are errors; any finite value keeps
/// llama.cpp's meaning).
pub fn finite(name: &str, v: f32) -> Result<f32> {
    if !v.is_finite() {
        bail!("{name} must be a finite number, got {v}");
    }
    Ok(v)
}

/// Names `flag` in a session or buffer error caused by its size (the KV cache or the
/// scratch buffers beyond memory); other errors pass unchanged.
pub fn name_size_flag(e: EngineError, flag: impl std::fmt::Display) -> anyhow::Error {
    match e {
        EngineError::Model(m) => model_size_error(m, flag),
        e => e.into(),
    }
}

/// [`name_size_flag`] for a model error.
pub fn model_size_error(e: ModelError, flag: impl std::fmt::Display) -> anyhow::Error {
    match e {
        e @ ModelError::OutOfMemory { .. } => anyhow::Error::new(e).context(flag.to_string()),
        e => e.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts() {
        assert_eq!(threads(Some(3)).unwrap(), 3);
        assert_eq!(threads(Some(MAX_THREADS)).unwrap(), MAX_THREADS);
        let e = threads(Some(100_000)).unwrap_err().to_string();
        assert!(e.contains("--threads 100000"), "{e}");
    }

    #[test]
    fn context_sizes() {
        assert_eq!(ctx_size(100, 2048).unwrap(), 100);
        assert_eq!(ctx_size(1_000_000_000, 32768).unwrap(), 32768);
        assert_eq!(ctx_size(MAX_CTX, 0).unwrap(), MAX_CTX);
        for (n, train) in [(0, 2048), (0, 0), (MAX_CTX + 1, 0), (usize::MAX, 0)] {
            let e = ctx_size(n, train).unwrap_err().to_string();
            assert!(e.contains("--ctx-size"), "{n} {train}: {e}");
        }
    }

    #[test]
    fn repeat_windows() {
        assert_eq!(repeat_last_n(-1, 512).unwrap(), 512);
        assert_eq!(repeat_last_n(0, 512).unwrap(), 0);
        assert_eq!(repeat_last_n(64, 512).unwrap(), 64);
        assert_eq!(repeat_last_n(4096, 512).unwrap(), 512);
        for n in [-2, i64::MIN, MAX_CTX as i64 + 1, i64::MAX] {
            let e = repeat_last_n(n, 512).unwrap_err().to_string();
            assert!(e.contains("--repeat-last-n"), "{n}: {e}");
        }
    }

    #[test]
    fn floats_must_be_finite() {
        assert_eq!(finite("--temp", -1.0).unwrap(), -1.0);
        for v in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let e = finite("--temp", v).unwrap_err().to_string();
            assert!(e.starts_with("--temp must be a finite number"), "{e}");
        }
    }
}
