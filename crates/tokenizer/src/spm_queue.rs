//! The priority queue of the SentencePiece merge loop: a bucket queue keyed
//! by score rank (highest score first), each bucket yielding its pairs
//! leftmost first.
//!
//! A long text queues millions of pairs. One binary heap over all of them
//! misses the cache on every level of every pop; here the hot structure is a
//! small heap of the ranks that have pairs, and inside a bucket the pairs
//! mostly arrive in ascending position (the initial pairs are laid out
//! sorted, later ones come from left-to-right sweeps of other buckets), so
//! they are read from sorted runs; only out-of-order arrivals go through a
//! per-bucket heap.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};

/// Ranks of token scores: equal scores (by bits, as `f32::total_cmp` orders
/// them) share a rank, and a higher score has a higher rank. Built once per
/// SentencePiece vocabulary.
#[derive(Debug, Default)]
pub(crate) struct ScoreRanks {
    /// Token id -> rank.
    pub by_token: Vec<u32>,
    /// Number of distinct ranks.
    pub count: usize,
}

impl ScoreRanks {
    pub fn build(scores: &[f32]) -> ScoreRanks {
        let mut distinct: Vec<f32> = scores.to_vec();
        distinct.sort_unstable_by(f32::total_cmp);
        distinct.dedup_by(|a, b| a.to_bits() == b.to_bits());
        let by_token = scores
            .iter()
            .map(|s| {
                // Present by construction; the index fits u32 like the ids.
                distinct
                    .binary_search_by(|d| d.total_cmp(s))
                    .unwrap_or_default() as u32
            })
            .collect();
        ScoreRanks {
            by_token,
            count: distinct.len(),
        }
    }
}

/// A queued pair: `(left << 32) | size` (size 0: an initial pair, see
/// [`PairQueue::pop`]), so that integer order is position order.
type Entry = u64;

fn entry(left: u32, size: u32) -> Entry {
    (u64::from(left) << 32) | u64::from(size)
}

/// An entry of [`PairQueue::ranks`].
fn ranked(rank: u32, bucket: usize) -> u64 {
    (u64::from(rank) << 32) | bucket as u64
}

/// The pairs of one rank.
#[derive(Debug, Default)]
struct Bucket {
    /// Initial pairs: `PairQueue::initial[init..init_end]`, ascending.
    init: u32,
    init_end: u32,
    /// Later pairs that arrived in ascending order: `run[run_pos..]`.
    run: Vec<Entry>,
    run_pos: usize,
    /// Later pairs that arrived out of order.
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Bucket {
    fn is_empty(&self) -> bool {
        self.init == self.init_end && self.run_pos == self.run.len() && self.heap.is_empty()
    }

    fn push(&mut self, e: Entry) {
        if self.run_pos == self.run.len() {
            self.run.clear();
            self.run_pos = 0;
        }
        match self.run.last() {
            Some(&last) if e < last => self.heap.push(Reverse(e)),
            _ => self.run.push(e),
        }
    }

    /// The smallest entry; `initial` is [`PairQueue::initial`].
    fn pop(&mut self, initial: &[u32]) -> Option<Entry> {
        const NONE: Entry = Entry::MAX;
        let a = initial
            .get(self.init as usize..self.init_end as usize)
            .and_then(<[u32]>::first)
            .map_or(NONE, |&l| entry(l, 0));
        let b = self.run.get(self.run_pos).copied().unwrap_or(NONE);
        let c = self.heap.peek().map_or(NONE, |r| r.0);
        let min = a.min(b).min(c);
        if min == NONE {
            None
        } else if min == a {
            self.init += 1;
            Some(a)
        } else if min == b {
            self.run_pos += 1;
            Some(b)
        } else {
            self.heap.pop();
            Some(c)
        }
    }
}

/// Rank -> index into the buckets: a table over all ranks for a long text,
/// a hash map for a short one (a vocabulary has ~10^5 ranks, and short
/// texts are tokenized often: one call per text between special tokens).
#[derive(Debug)]
enum Slots {
    /// 1 + index (0: no bucket yet).
    Table(Vec<u32>),
    Map(HashMap<u32, u32, BuildHasherDefault<RankHasher>>),
}

/// Hashes a rank with murmur3's 64-bit finalizer, a bijection that mixes
/// every bit into the low ones (a plain multiply would put ranks that are
/// multiples of a power of two in one slot). Ranks come from the model
/// file, but they are fewer than its tokens, so no choice of them can pile
/// up many in one slot.
#[derive(Default)]
struct RankHasher(u64);

impl Hasher for RankHasher {
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^ (h >> 33)
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) ^ u64::from(b) ^ (self.0 >> 56);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.0 = (self.0 << 32) ^ u64::from(v);
    }
}

impl Slots {
    fn new(n_ranks: usize, text_len: usize) -> Slots {
        if n_ranks <= text_len.saturating_mul(4) {
            Slots::Table(vec![0; n_ranks])
        } else {
            Slots::Map(HashMap::with_capacity_and_hasher(
                text_len.min(1 << 12),
                Default::default(),
            ))
        }
    }

    /// The bucket index of `rank`, made with `add` (returning the new
    /// index) when there is none yet.
    #[inline]
    fn get_or(&mut self, rank: u32, add: impl FnOnce() -> usize) -> usize {
        match self {
            Slots::Table(t) => {
                let s = &mut t[rank as usize];
                if *s == 0 {
                    *s = add() as u32 + 1;
                }
                *s as usize - 1
            }
            Slots::Map(m) => *m.entry(rank).or_insert_with(|| add() as u32) as usize,
        }
    }

    fn get(&self, rank: u32) -> Option<usize> {
        match self {
            Slots::Table(t) => t.get(rank as usize)?.checked_sub(1).map(|s| s as usize),
            Slots::Map(m) => m.get(&rank).map(|&s| s as usize),
        }
    }
}

/// Pairs by (rank descending, left position ascending).
#[derive(Debug)]
pub(crate) struct PairQueue {
    slots: Slots,
    buckets: Vec<Bucket>,
    /// `(rank << 32) | bucket index` of each bucket that is not empty.
    ranks: BinaryHeap<u64>,
    /// Left positions of the initial pairs, grouped by rank, ascending.
    initial: Vec<u32>,
    /// The rank of the last pair popped.
    current: u32,
    /// `(rank, entry)` of pairs pushed with a rank below `current`: they
    /// cannot be popped before the queue drops below `current`, and many are
    /// stale by then (a neighbour merged first), so they wait here and only
    /// the live ones are queued (fewer stale entries held).
    pending: Vec<(u32, Entry)>,
}

/// Pending pairs checked at once.
const PENDING: usize = 1 << 12;

impl PairQueue {
    /// A queue holding the initial pairs: `ranks[k]` is the rank of the
    /// pair whose left symbol is the k-th, or `u32::MAX` for none, and
    /// `starts` yields the byte position of each symbol in order. Ranks
    /// must be below `n_ranks`.
    pub fn new(n_ranks: usize, ranks_of: &[u32], starts: impl Iterator<Item = u32>) -> PairQueue {
        let mut slots = Slots::new(n_ranks, ranks_of.len());
        let mut buckets: Vec<Bucket> = Vec::new();
        let mut ranks = Vec::new();
        for &r in ranks_of.iter().filter(|&&r| r != u32::MAX) {
            let s = slots.get_or(r, || {
                buckets.push(Bucket::default());
                ranks.push(ranked(r, buckets.len() - 1));
                buckets.len() - 1
            });
            buckets[s].init_end += 1; // a count for now
        }
        let mut start = 0;
        for b in &mut buckets {
            let n = b.init_end;
            b.init = start;
            b.init_end = start;
            start += n;
        }
        let mut initial = vec![0u32; start as usize];
        for (p, &r) in starts.zip(ranks_of) {
            if r != u32::MAX {
                if let Some(b) = slots.get(r).and_then(|s| buckets.get_mut(s)) {
                    initial[b.init_end as usize] = p;
                    b.init_end += 1;
                }
            }
        }
        PairQueue {
            slots,
            buckets,
            ranks: BinaryHeap::from(ranks),
            initial,
            current: 0,
            pending: Vec::new(),
        }
    }

    /// Queues the pair of `size` bytes starting at `left` (`size > 0`).
    pub fn push(&mut self, rank: u32, left: u32, size: u32) {
        if rank < self.current {
            self.pending.push((rank, entry(left, size)));
        } else {
            self.insert(rank, entry(left, size));
        }
    }

    fn insert(&mut self, rank: u32, e: Entry) {
        let buckets = &mut self.buckets;
        let s = self.slots.get_or(rank, || {
            buckets.push(Bucket::default());
            buckets.len() - 1
        });
        let b = &mut buckets[s];
        if b.is_empty() {
            self.ranks.push(ranked(rank, s));
        }
        b.push(e);
    }

    /// The pair with the highest rank, leftmost among equals, as
    /// `(left, size)`; `size` 0 for an initial pair (two single characters).
    /// May be stale. `live(left, size)` tells whether a pair pushed earlier
    /// (`size > 0`) is still as it was.
    pub fn pop(&mut self, live: impl Fn(u32, u32) -> bool) -> Option<(u32, u32)> {
        let below = |ranks: &BinaryHeap<u64>, current| {
            ranks.peek().is_none_or(|&t| ((t >> 32) as u32) < current)
        };
        if !self.pending.is_empty()
            && (self.pending.len() >= PENDING || below(&self.ranks, self.current))
        {
            let mut pending = std::mem::take(&mut self.pending);
            for (rank, e) in pending.drain(..) {
                if live((e >> 32) as u32, e as u32) {
                    self.insert(rank, e);
                }
            }
            self.pending = pending;
        }
        let &top = self.ranks.peek()?;
        self.current = (top >> 32) as u32;
        let b = self.buckets.get_mut(top as u32 as usize)?;
        let e = b.pop(&self.initial)?;
        if b.is_empty() {
            self.ranks.pop();
            // Give back what a drained bucket held; a long text fills many.
            b.run = Vec::new();
            b.run_pos = 0;
            b.heap = BinaryHeap::new();
        }
        Some(((e >> 32) as u32, e as u32))
    }
}
