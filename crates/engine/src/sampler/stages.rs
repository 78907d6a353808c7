//! The individual stages of the sampler chain, each a transformation of a candidate list.
//!
//! Semantics follow llama.cpp's `src/llama-sampling.cpp` (facts, not code): every stage keeps
//! at least one candidate, works on the candidates left by the previous stage, and
//! probability-based stages (top-p, typical) renormalise over those candidates first.
//! Ties between equal logits are broken by the lower token id, so results are deterministic.

use std::cmp::Ordering;

/// One token under consideration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// Token id.
    pub id: u32,
    /// Current (possibly modified) logit.
    pub logit: f32,
    /// Probability, valid only right after [`Candidates::softmax`].
    pub p: f32,
}

/// Candidate with a sort key, used by the typical-p stage.
#[derive(Debug, Clone, Copy)]
struct Keyed {
    key: f32,
    cand: Candidate,
}

/// The candidate list plus reusable scratch space; no stage allocates once the buffers
/// have reached vocabulary size.
#[derive(Debug, Default, Clone)]
pub struct Candidates {
    data: Vec<Candidate>,
    /// True when `data` is ordered by descending logit (ties: ascending id).
    sorted: bool,
    keyed: Vec<Keyed>,
}

/// Descending logit, ascending id on ties: a total order even with NaN.
fn by_logit_desc(a: &Candidate, b: &Candidate) -> Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

impl Candidates {
    /// Empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Refills the list with one candidate per token id: `logits: [n_vocab]`.
    pub fn fill(&mut self, logits: &[f32]) {
        self.data.clear();
        self.data
            .extend(logits.iter().enumerate().map(|(i, &logit)| Candidate {
                id: i as u32,
                logit,
                p: 0.0,
            }));
        self.sorted = false;
    }

    /// Refills the list with the given candidates, already ordered by
    /// descending logit (ties: ascending id), as a top-k read returns them.
    pub fn fill_sorted(&mut self, ids: &[u32], logits: &[f32]) {
        self.data.clear();
        self.data
            .extend(
                ids.iter()
                    .zip(logits)
                    .map(|(&id, &logit)| Candidate { id, logit, p: 0.0 }),
            );
        self.sorted = true;
    }

    /// Current candidates, in stage order.
    pub fn as_slice(&self) -> &[Candidate] {
        &self.data
    }

    /// Number of candidates left.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no candidate is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Whether the list is known to be sorted by descending logit.
    pub fn is_sorted(&self) -> bool {
        self.sorted
    }

    /// Penalties for recently seen tokens. Must run first, while `data[i].id == i`.
    ///
    /// `counts: [n_vocab]` must be all zero on entry and is all zero again on return;
    /// `window` holds the last-N accepted token ids (ids outside the vocabulary are ignored).
    /// For a token seen `c > 0` times: a logit `<= 0` is multiplied by `repeat`, a positive
    /// one divided by it; then `c * frequency + presence` is subtracted.
    pub fn penalize(
        &mut self,
        window: impl Iterator<Item = u32> + Clone,
        counts: &mut [u32],
        repeat: f32,
        frequency: f32,
        presence: f32,
    ) {
        debug_assert!(self
            .data
            .iter()
            .enumerate()
            .all(|(i, c)| c.id as usize == i));
        let n = self.data.len().min(counts.len());
        for t in window.clone() {
            if let Some(c) = counts.get_mut(t as usize).filter(|_| (t as usize) < n) {
                *c += 1;
            }
        }
        for t in window {
            let t = t as usize;
            if t >= n || counts[t] == 0 {
                continue;
            }
            let c = counts[t];
            counts[t] = 0;
            let cand = &mut self.data[t];
            if cand.logit <= 0.0 {
                cand.logit *= repeat;
            } else {
                cand.logit /= repeat;
            }
            cand.logit -= c as f32 * frequency + presence;
        }
        self.sorted = false;
    }

    /// Orders the whole list by descending logit.
    pub fn sort(&mut self) {
        if !self.sorted {
            self.data.sort_unstable_by(by_logit_desc);
            self.sorted = true;
        }
    }

    /// Moves the `m` largest candidates to the front, sorted; the rest stay unordered.
    fn sort_prefix(&mut self, m: usize) {
        if self.sorted || m == 0 {
            return;
        }
        if m >= self.data.len() {
            self.sort();
            return;
        }
        self.data.select_nth_unstable_by(m - 1, by_logit_desc);
        self.data[..m].sort_unstable_by(by_logit_desc);
    }

    /// Keeps the `k` highest logits, sorted. `k == 0` disables the stage.
    pub fn top_k(&mut self, k: usize) {
        if k == 0 {
            return;
        }
        let k = k.min(self.data.len());
        self.sort_prefix(k);
        self.data.truncate(k);
        self.sorted = true;
    }

    /// Fills `p` with the softmax of the current logits (order unchanged).
    pub fn softmax(&mut self) {
        let max = self.data.iter().fold(
            f32::NEG_INFINITY,
            |m, c| if c.logit > m { c.logit } else { m },
        );
        let mut sum = 0.0f32;
        for c in &mut self.data {
            c.p = (c.logit - max).exp();
            sum += c.p;
        }
        if sum > 0.0 && sum.is_finite() {
            for c in &mut self.data {
                c.p /= sum;
            }
        }
    }

    /// Nucleus sampling: keeps the shortest prefix (by descending probability) whose
    /// cumulative probability is `>= p`, and at least `min_keep` (and one) candidates.
    /// `p >= 1` disables the stage.
    pub fn top_p(&mut self, p: f32, min_keep: usize) {
        if p >= 1.0 || self.data.is_empty() {
            return;
        }
        self.softmax();
        // Large unsorted vocabularies: the nucleus is usually small, so try a sorted
        // prefix of 256 first and sort everything only if that is not enough.
        if !self.sorted && self.data.len() > 1024 {
            self.sort_prefix(256);
            if let Some(n) = nucleus_len(&self.data[..256], p, min_keep) {
                self.data.truncate(n);
                self.sorted = true;
                return;
            }
        }
        self.sort();
        let n = nucleus_len(&self.data, p, min_keep).unwrap_or(self.data.len());
        self.data.truncate(n);
    }

    /// Keeps candidates whose probability is at least `p` times the largest probability,
    /// i.e. `logit >= max_logit + ln(p)`; if fewer than `min_keep` qualify, keeps the
    /// `min_keep` best instead. `p <= 0` disables the stage.
    pub fn min_p(&mut self, p: f32, min_keep: usize) {
        if p <= 0.0 || self.data.is_empty() {
            return;
        }
        let min_keep = min_keep.max(1);
        let max = self.data.iter().fold(
            f32::NEG_INFINITY,
            |m, c| if c.logit > m { c.logit } else { m },
        );
        let threshold = max + p.ln();
        let kept = self.data.iter().filter(|c| c.logit >= threshold).count();
        if kept >= min_keep {
            // `retain` keeps the relative order, so a sorted list stays sorted.
            self.data.retain(|c| c.logit >= threshold);
        } else {
            self.top_k(min_keep);
        }
    }

    /// Locally typical sampling: orders candidates by `|-ln p - H|` (H = entropy) and keeps
    /// the shortest prefix whose cumulative probability exceeds `p`, at least `min_keep`.
    /// `p >= 1` disables the stage. The result is in typicality order, not logit order.
    pub fn typical(&mut self, p: f32, min_keep: usize) {
        if p >= 1.0 || self.data.is_empty() {
            return;
        }
        self.softmax();
        let entropy: f32 = -self
            .data
            .iter()
            .filter(|c| c.p > 0.0)
            .map(|c| c.p * c.p.ln())
            .sum::<f32>();
        self.keyed.clear();
        self.keyed.extend(self.data.iter().map(|&cand| Keyed {
            key: (-cand.p.ln() - entropy).abs(),
            cand,
        }));
        self.keyed
            .sort_unstable_by(|a, b| a.key.total_cmp(&b.key).then(a.cand.id.cmp(&b.cand.id)));
        let mut cum = 0.0f32;
        let mut n = self.keyed.len();
        for (i, k) in self.keyed.iter().enumerate() {
            cum += k.cand.p;
            if cum > p && i + 1 >= min_keep.max(1) {
                n = i + 1;
                break;
            }
        }
        self.data.clear();
        self.data.extend(self.keyed[..n].iter().map(|k| k.cand));
        self.sorted = false;
    }

    /// Divides logits by `t`; `t <= 0` keeps only the best candidate (greedy).
    pub fn temperature(&mut self, t: f32) {
        if t <= 0.0 {
            if let Some(best) = self.data.iter().copied().min_by(by_logit_desc) {
                self.data.clear();
                self.data.push(best);
                self.sorted = true;
            }
            return;
        }
        for c in &mut self.data {
            c.logit /= t;
        }
    }

    /// Draws one candidate from the softmax of the current logits, using `u` uniform in
    /// `[0, 1)`. Returns `None` only for an empty list.
    pub fn pick(&mut self, u: f64) -> Option<u32> {
        self.softmax();
        let total: f64 = self.data.iter().map(|c| c.p as f64).sum();
        let target = u * total;
        let mut cum = 0.0f64;
        for c in &self.data {
            cum += c.p as f64;
            if target < cum {
                return Some(c.id);
            }
        }
        // Rounding (or all-zero probabilities): fall back to the last candidate with p > 0,
        // else the first one.
        self.data
            .iter()
            .rev()
            .find(|c| c.p > 0.0)
            .or(self.data.first())
            .map(|c| c.id)
    }
}

/// Length of the shortest prefix of `sorted` with cumulative probability `>= p` and at
/// least `min_keep` (and one) elements, or `None` if the slice never reaches `p`.
fn nucleus_len(sorted: &[Candidate], p: f32, min_keep: usize) -> Option<usize> {
    let mut cum = 0.0f32;
    for (i, c) in sorted.iter().enumerate() {
        cum += c.p;
        if cum >= p && i + 1 >= min_keep.max(1) {
            return Some(i + 1);
        }
    }
    None
}
