//! Request fields to the engine's generation parameters, over the server's
//! defaults (the sampling flags of `wasm-chord run`).

use engine::{GenerateParams, SamplerParams};

use crate::api::{Common, Stop};
use crate::error::ApiError;

/// The most `top_logprobs` (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u64 = 20;

/// The server's sampling defaults.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub sampler: SamplerParams,
    /// A seed for every request that gives none; `None`: a fresh one each.
    pub seed: Option<u64>,
}

/// What a request asks for besides its prompt.
#[derive(Debug, Clone)]
pub struct Asked {
    pub params: GenerateParams,
    /// `max_tokens` as given (capped per prompt by the room in its slot).
    pub max_tokens: Option<usize>,
    pub cache_prompt: bool,
    pub stream: bool,
    pub include_usage: bool,
}

/// Checks and maps the shared fields; `max_tokens` is the endpoint's
/// (`max_completion_tokens` first for chat), `logprobs`/`top_logprobs`
/// already read by the endpoint.
pub fn asked(
    c: &Common,
    d: &Defaults,
    max_tokens: Option<u64>,
    logprobs: bool,
    top_logprobs: u64,
) -> Result<Asked, ApiError> {
    if let Some(n) = c.n.filter(|&n| n != 1) {
        return Err(ApiError::invalid(
            Some("n"),
            format!("n = {n} is not supported: only one choice per prompt (n = 1)"),
        ));
    }
    if top_logprobs > MAX_TOP_LOGPROBS {
        return Err(ApiError::invalid(
            Some("top_logprobs"),
            format!("top_logprobs = {top_logprobs} is above the maximum of {MAX_TOP_LOGPROBS}"),
        ));
    }
    for (name, v) in [
        ("temperature", c.temperature),
        ("top_p", c.top_p),
        ("min_p", c.min_p),
        ("presence_penalty", c.presence_penalty),
        ("frequency_penalty", c.frequency_penalty),
        ("repeat_penalty", c.repeat_penalty),
    ] {
        if v.is_some_and(|v| !v.is_finite()) {
            return Err(ApiError::invalid(
                Some(name),
                format!("{name} must be a finite number"),
            ));
        }
    }
    let b = &d.sampler;
    let seed = match c.seed {
        Some(s) if s >= 0 => s as u64,
        _ => d.seed.unwrap_or_else(fresh_seed),
    };
    let sampler = SamplerParams {
        temperature: c.temperature.unwrap_or(b.temperature),
        top_k: match c.top_k {
            Some(k) => k.max(0) as usize,
            None => b.top_k,
        },
        top_p: c.top_p.unwrap_or(b.top_p),
        min_p: c.min_p.unwrap_or(b.min_p),
        repeat_penalty: c.repeat_penalty.unwrap_or(b.repeat_penalty),
        frequency_penalty: c.frequency_penalty.unwrap_or(b.frequency_penalty),
        presence_penalty: c.presence_penalty.unwrap_or(b.presence_penalty),
        seed,
        ..b.clone()
    };
    let stop = c.stop.as_ref().map(Stop::to_vec).unwrap_or_default();
    Ok(Asked {
        params: GenerateParams {
            sampler,
            stop: stop.into_iter().filter(|s| !s.is_empty()).collect(),
            logprobs,
            top_logprobs: top_logprobs as usize,
            ignore_eos: c.ignore_eos,
            ..GenerateParams::default()
        },
        max_tokens: max_tokens.map(|m| usize::try_from(m).unwrap_or(usize::MAX)),
        cache_prompt: c.cache_prompt.unwrap_or(true),
        stream: c.stream,
        include_usage: c.stream_options.as_ref().is_some_and(|o| o.include_usage),
    })
}

/// A seed from the clock, different for each call.
pub(crate) fn fresh_seed() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos() as u64;
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    engine::sampler::SplitMix64::new(now ^ n.rotate_left(32)).next_u64() >> 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_override_defaults_and_n_must_be_one() {
        let d = Defaults::default();
        let c = Common {
            temperature: Some(0.0),
            seed: Some(7),
            stop: Some(Stop::Many(vec!["a".into(), String::new()])),
            top_k: Some(-1),
            ..Common::default()
        };
        let a = asked(&c, &d, Some(5), false, 2).unwrap();
        let s = &a.params.sampler;
        assert_eq!(
            (s.temperature, s.seed, s.top_k, s.top_p),
            (0.0, 7, 0, d.sampler.top_p)
        );
        assert_eq!(a.params.stop, ["a"]);
        assert_eq!(
            (a.max_tokens, a.params.top_logprobs, a.cache_prompt),
            (Some(5), 2, true)
        );
        let two = Common {
            n: Some(2),
            ..Common::default()
        };
        assert_eq!(
            asked(&two, &d, None, false, 0)
                .unwrap_err()
                .param
                .as_deref(),
            Some("n")
        );
        assert!(asked(&Common::default(), &d, None, false, 21).is_err());
        // no seed: a different one per request
        let a = asked(&Common::default(), &d, None, false, 0).unwrap();
        let b = asked(&Common::default(), &d, None, false, 0).unwrap();
        assert_ne!(a.params.sampler.seed, b.params.sampler.seed);
    }
}
