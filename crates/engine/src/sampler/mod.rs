//! Token sampler: llama.cpp's default sampler chain over one row of logits.
//!
//! Order (llama.cpp `common/sampling.cpp` default): penalties → top-k → typical-p → top-p →
//! min-p → temperature → draw. Every filtering stage runs before temperature, so top-p and
//! min-p see the untempered distribution. A temperature `<= 0` keeps only the best remaining
//! candidate (greedy). Penalties use the last `penalty_last_n` tokens passed to
//! [`Sampler::accept`]; the session accepts prompt tokens as well as generated ones, as
//! llama.cpp's CLI does.

mod rng;
mod stages;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;

use model::ReadKind;

pub use rng::SplitMix64;
pub use stages::{Candidate, Candidates};

/// Sampling parameters; [`Default`] gives llama.cpp's defaults (with a fixed seed).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplerParams {
    /// Softmax temperature; `<= 0` means greedy.
    pub temperature: f32,
    /// Keep the `top_k` most likely tokens; `0` disables.
    pub top_k: usize,
    /// Nucleus threshold; `>= 1` disables.
    pub top_p: f32,
    /// Minimum probability relative to the most likely token; `<= 0` disables.
    pub min_p: f32,
    /// Locally typical sampling threshold; `>= 1` disables.
    pub typical_p: f32,
    /// Repetition penalty (divide positive logits, multiply negative ones); `1` disables.
    pub repeat_penalty: f32,
    /// Subtracted once per occurrence in the window; `0` disables.
    pub frequency_penalty: f32,
    /// Subtracted once if the token occurs in the window; `0` disables.
    pub presence_penalty: f32,
    /// Size of the penalty window in tokens; `0` disables all penalties.
    pub penalty_last_n: usize,
    /// Minimum number of candidates kept by top-p, min-p and typical-p.
    pub min_keep: usize,
    /// Seed of the random generator (see [`SplitMix64`]).
    pub seed: u64,
}

impl Default for SamplerParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            min_p: 0.05,
            typical_p: 1.0,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            penalty_last_n: 64,
            min_keep: 0,
            seed: 0x5EED,
        }
    }
}

impl SamplerParams {
    /// Pure argmax decoding: temperature 0, no penalties, no filters.
    pub fn greedy() -> Self {
        Self {
            temperature: 0.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            typical_p: 1.0,
            repeat_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            ..Self::default()
        }
    }

    fn penalties_active(&self) -> bool {
        self.penalty_last_n > 0
            && (self.repeat_penalty != 1.0
                || self.frequency_penalty != 0.0
                || self.presence_penalty != 0.0)
    }
}

/// Errors from [`Sampler::sample`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SamplerError {
    /// The logits row was empty.
    #[error("cannot sample from an empty logits row (n_vocab = 0)")]
    EmptyLogits,
}

/// A sampled token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    /// Token id.
    pub id: u32,
    /// Natural log-probability of `id` under the model's raw distribution (softmax of the
    /// unmodified logits, before penalties and temperature), when requested.
    pub logprob: Option<f32>,
}

/// Stateful sampler: parameters, random generator, penalty window and reusable buffers.
/// After the first call, sampling allocates nothing.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplerParams,
    rng: SplitMix64,
    cands: Candidates,
    /// Last `penalty_last_n` accepted tokens, oldest first.
    history: VecDeque<u32>,
    /// Per-token occurrence scratch for the penalty stage, all zero between calls.
    counts: Vec<u32>,
}

impl Sampler {
    /// The most penalty-window slots [`Sampler::new`] reserves.
    pub const MAX_RESERVED_WINDOW: usize = 1 << 20;

    /// New sampler with the given parameters. The penalty window is reserved up front
    /// up to [`Sampler::MAX_RESERVED_WINDOW`] tokens (a larger one grows as tokens come;
    /// a session caps the window at its context).
    pub fn new(params: SamplerParams) -> Self {
        let reserve = params.penalty_last_n.min(Self::MAX_RESERVED_WINDOW);
        Self {
            rng: SplitMix64::new(params.seed),
            history: VecDeque::with_capacity(reserve),
            params,
            cands: Candidates::new(),
            counts: Vec::new(),
        }
    }

    /// Current parameters.
    pub fn params(&self) -> &SamplerParams {
        &self.params
    }

    /// Records a token in the penalty window (prompt or generated).
    pub fn accept(&mut self, token: u32) {
        let n = self.params.penalty_last_n;
        if n == 0 {
            return;
        }
        if self.history.len() >= n {
            self.history.pop_front();
        }
        self.history.push_back(token);
    }

    /// Tokens currently in the penalty window, oldest first.
    pub fn history(&self) -> impl Iterator<Item = u32> + '_ {
        self.history.iter().copied()
    }

    /// Clears the penalty window and restarts the generator from the seed.
    pub fn reset(&mut self) {
        self.history.clear();
        self.rng = SplitMix64::new(self.params.seed);
    }

    /// Candidates left after the last [`Sampler::sample`] call, before the draw.
    pub fn candidates(&self) -> &[Candidate] {
        self.cands.as_slice()
    }

    /// Whether sampling is the argmax of the logits: every stage keeps the
    /// best candidate.
    fn is_argmax(&self) -> bool {
        let p = &self.params;
        p.temperature <= 0.0 && !p.penalties_active() && p.typical_p >= 1.0
    }

    /// What this sampler needs the backend to read back of a row: only the
    /// argmax (`TopK(1)`: a GPU reads back one token) when it is greedy,
    /// only the `top_k` best when the chain starts with top-k (no
    /// penalties, `top_k` at most [`MAX_READ_TOP_K`]), else every logit
    /// (and always when a log-probability is wanted).
    pub fn read_kind(&self, want_logprob: bool) -> ReadKind {
        let p = &self.params;
        match () {
            _ if want_logprob => ReadKind::Logits,
            _ if self.is_argmax() => ReadKind::TopK(1),
            _ if !p.penalties_active() && (1..=MAX_READ_TOP_K).contains(&p.top_k) => {
                ReadKind::TopK(p.top_k)
            }
            _ => ReadKind::Logits,
        }
    }

    /// Samples one token from a row read as [`Sampler::read_kind`] asked (or
    /// from every logit, which gives the same token); does not
    /// [`accept`](Sampler::accept) it.
    pub fn sample_row(&mut self, row: Row, want_logprob: bool) -> Result<Sampled, SamplerError> {
        match row {
            Row::Logits(l) => self.sample(l, want_logprob),
            Row::TopK { ids, logits } => {
                debug_assert!(!want_logprob && !self.params.penalties_active());
                if ids.is_empty() {
                    return Err(SamplerError::EmptyLogits);
                }
                if self.is_argmax() {
                    self.cands.fill(&[]);
                    return Ok(Sampled {
                        id: ids[0],
                        logprob: None,
                    });
                }
                // the backend's top-k is the chain's top-k stage: same
                // candidates, same order (descending logit, lower id first)
                self.cands.fill_sorted(ids, logits);
                Ok(Sampled {
                    id: self.run_stages(),
                    logprob: None,
                })
            }
        }
    }

    /// Samples one token from `logits: [n_vocab]`; does not [`accept`](Sampler::accept) it.
    pub fn sample(&mut self, logits: &[f32], want_logprob: bool) -> Result<Sampled, SamplerError> {
        if logits.is_empty() {
            return Err(SamplerError::EmptyLogits);
        }
        let id = if self.is_argmax() {
            // Every remaining stage keeps the best candidate, so this is the argmax.
            self.cands.fill(&[]);
            argmax(logits)
        } else {
            self.run_chain(logits)
        };
        let logprob = want_logprob.then(|| log_softmax_at(logits, id as usize));
        Ok(Sampled { id, logprob })
    }

    fn run_chain(&mut self, logits: &[f32]) -> u32 {
        let p = &self.params;
        let c = &mut self.cands;
        c.fill(logits);
        if p.penalties_active() {
            if self.counts.len() < logits.len() {
                self.counts.resize(logits.len(), 0);
            }
            c.penalize(
                self.history.iter().copied(),
                &mut self.counts,
                p.repeat_penalty,
                p.frequency_penalty,
                p.presence_penalty,
            );
        }
        self.run_stages()
    }

    /// The chain after the penalties, on the filled candidates.
    fn run_stages(&mut self) -> u32 {
        let p = &self.params;
        let c = &mut self.cands;
        c.top_k(p.top_k);
        c.typical(p.typical_p, p.min_keep);
        c.top_p(p.top_p, p.min_keep);
        c.min_p(p.min_p, p.min_keep);
        c.temperature(p.temperature);
        let u = self.rng.next_f64();
        // The list is never empty here: `logits` was not, and every stage keeps one.
        c.pick(u).unwrap_or(0)
    }
}

/// One row of a step's output, as read back from the backend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Row<'a> {
    /// Every logit, [n_vocab].
    Logits(&'a [f32]),
    /// The `k` best (the backend's top-k): ids and logits, best first,
    /// the lower id first on ties.
    TopK { ids: &'a [u32], logits: &'a [f32] },
}

/// Largest `top_k` read back from the backend instead of every logit (a
/// host-side top-k costs about `n_vocab * log k`).
pub const MAX_READ_TOP_K: usize = 128;

/// Index of the largest value (first one on ties); NaN never wins.
pub fn argmax(xs: &[f32]) -> u32 {
    let mut best = 0usize;
    let mut best_v = f32::NEG_INFINITY;
    for (i, &v) in xs.iter().enumerate() {
        if v > best_v {
            best_v = v;
            best = i;
        }
    }
    best as u32
}

/// The `k` largest values of `ln softmax(xs)` with their indices, best
/// first (the lower index first on ties; NaN never included), into `out`.
pub fn top_log_softmax(xs: &[f32], k: usize, out: &mut Vec<(u32, f32)>) {
    out.clear();
    if k == 0 || xs.is_empty() {
        return;
    }
    for (i, &v) in xs.iter().enumerate() {
        if v.is_nan() || (out.len() == k && v <= out[k - 1].1) {
            continue;
        }
        let at = out.partition_point(|&(_, w)| w >= v);
        if out.len() == k {
            out.pop();
        }
        out.insert(at, (i as u32, v));
    }
    let max = xs.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = xs.iter().map(|&v| ((v - max) as f64).exp()).sum();
    let ln = sum.ln() as f32;
    for e in out.iter_mut() {
        e.1 = (e.1 - max) - ln;
    }
}

/// `ln softmax(xs)[i]`, computed stably.
pub fn log_softmax_at(xs: &[f32], i: usize) -> f32 {
    let max = xs.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let sum: f64 = xs.iter().map(|&v| ((v - max) as f64).exp()).sum();
    (xs[i] - max) - sum.ln() as f32
}
