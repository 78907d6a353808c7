//! The SentencePiece merge loop against a straightforward reference (one
//! binary heap of every queued pair, as llama.cpp writes it): random small
//! vocabularies with many equal scores, and Gemma 3's vocabulary on real text.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::config::{SpecialTokens, TokenType, TokenizerConfig, VocabKind};
use crate::spm::{self, utf8_len};
use crate::vocab::Vocab;

/// A queued pair of the reference: max-heap on (score, then leftmost).
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl PartialEq for Pair {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Pair {}
impl PartialOrd for Pair {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pair {
    fn cmp(&self, o: &Self) -> Ordering {
        self.score
            .total_cmp(&o.score)
            .then_with(|| o.left.cmp(&self.left))
    }
}

/// (start, len, prev, next); `len` 0 = merged into the previous symbol.
type Sym = (usize, usize, usize, usize);

/// Symbols as a linked list, pairs in one heap.
fn reference(vocab: &Vocab, scores: &[f32], text: &[u8]) -> Vec<u32> {
    const NONE: usize = usize::MAX;
    let mut syms: Vec<Sym> = Vec::new();
    let mut off = 0;
    while off < text.len() {
        let len = utf8_len(text[off]).min(text.len() - off);
        let i = syms.len();
        let next = if off + len < text.len() { i + 1 } else { NONE };
        let prev = if i == 0 { NONE } else { i - 1 };
        syms.push((off, len, prev, next));
        off += len;
    }
    let mut heap = BinaryHeap::new();
    let add = |heap: &mut BinaryHeap<Pair>, syms: &[Sym], l: usize, r: usize| {
        if l == NONE || r == NONE {
            return;
        }
        let piece = &text[syms[l].0..syms[r].0 + syms[r].1];
        if let Some(id) = vocab.lookup(piece) {
            let (score, size) = (scores[id as usize], piece.len());
            heap.push(Pair {
                score,
                left: l,
                right: r,
                size,
            });
        }
    };
    for i in 1..syms.len() {
        add(&mut heap, &syms, i - 1, i);
    }
    while let Some(p) = heap.pop() {
        let (l, r) = (syms[p.left], syms[p.right]);
        if l.1 == 0 || r.1 == 0 || l.1 + r.1 != p.size {
            continue;
        }
        syms[p.left].1 += r.1;
        syms[p.right].1 = 0;
        syms[p.left].3 = r.3;
        if r.3 != NONE {
            syms[r.3].2 = p.left;
        }
        add(&mut heap, &syms, syms[p.left].2, p.left);
        add(&mut heap, &syms, p.left, syms[p.left].3);
    }
    let mut out = Vec::new();
    let mut cur = if syms.is_empty() { NONE } else { 0 };
    while cur != NONE {
        let (start, len, _, next) = syms[cur];
        let piece = &text[start..start + len];
        match vocab.lookup(piece) {
            Some(id) => out.push(id),
            None => out.extend(piece.iter().filter_map(|&b| {
                vocab.byte_token[b as usize]
                    .or_else(|| vocab.lookup(&[b]))
                    .or(vocab.special.unk)
            })),
        }
        cur = next;
    }
    out
}

fn ours(vocab: &Vocab, text: &[u8]) -> Vec<u32> {
    let mut out = Vec::new();
    spm::tokenize(vocab, text, &mut out);
    out
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Characters of 1 to 4 bytes, `▁` among them.
const ALPHABET: [&str; 7] = ["a", "b", "c", "▁", "é", "中", "😀"];

fn random_text(rng: &mut Rng, max_chars: usize) -> String {
    let n = rng.below(max_chars + 1);
    let k = 2 + rng.below(ALPHABET.len() - 1); // a smaller alphabet repeats more
    (0..n).map(|_| ALPHABET[rng.below(k)]).collect()
}

/// A vocabulary with byte tokens (sometimes), random pieces of 1 to 6
/// characters and scores drawn from a few values (ties, and both zeros).
fn random_vocab(rng: &mut Rng) -> (Vocab, Vec<f32>) {
    let mut tokens = vec!["<unk>".to_owned()];
    let mut types = vec![TokenType::Unknown];
    if rng.below(4) != 0 {
        for b in 0..=255u8 {
            tokens.push(format!("<0x{b:02X}>"));
            types.push(TokenType::Byte);
        }
    }
    let mut scores = vec![0.0; tokens.len()];
    let values = [-2.0, -1.0, -0.0, 0.0, 0.5, -1.5];
    let n_values = 1 + rng.below(values.len());
    let distinct = rng.below(3) == 0; // many distinct scores: few ties
    for i in 0..rng.below(120) {
        let len = 1 + rng.below(6);
        tokens.push((0..len).map(|_| ALPHABET[rng.below(4)]).collect());
        types.push(TokenType::Normal);
        scores.push(if distinct {
            -(i as f32) / 7.0
        } else {
            values[rng.below(n_values)]
        });
    }
    if rng.below(8) == 0 {
        // One piece past 255 bytes: symbols need 32-bit lengths.
        tokens.push("a".repeat(300));
        types.push(TokenType::Normal);
        scores.push(-9.0);
    }
    let mut c = TokenizerConfig {
        kind: VocabKind::Spm,
        model: "llama".into(),
        pre: String::new(),
        tokens,
        scores: scores.clone(),
        token_types: types,
        merges: Vec::new(),
        special: SpecialTokens {
            unk: Some(0),
            ..SpecialTokens::default()
        },
        add_bos: false,
        add_eos: false,
        add_space_prefix: true,
        model_name: String::new(),
    };
    (Vocab::build(&mut c).expect("vocabulary builds"), scores)
}

#[test]
fn random_vocabularies_match_the_reference() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for round in 0..600 {
        let (vocab, scores) = random_vocab(&mut rng);
        for _ in 0..12 {
            let max = [8, 60, 400, 3000][rng.below(4)];
            let text = random_text(&mut rng, max);
            assert_eq!(
                ours(&vocab, text.as_bytes()),
                reference(&vocab, &scores, text.as_bytes()),
                "round {round}: {text:?}"
            );
        }
    }
}

#[test]
fn runs_of_one_character_match_the_reference() {
    // Every pair ties with its neighbours: the leftmost rule decides all.
    let mut rng = Rng(7);
    for _ in 0..100 {
        let (vocab, scores) = random_vocab(&mut rng);
        for ch in ["a", "▁", "中"] {
            let text = ch.repeat(rng.below(2000));
            assert_eq!(
                ours(&vocab, text.as_bytes()),
                reference(&vocab, &scores, text.as_bytes())
            );
        }
    }
}

#[test]
fn gemma_matches_the_reference_on_real_and_random_text() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let Some(path) = test_support::require(
        &root.join("models/gemma-3-270m-q4_k_m.gguf"),
        test_support::FETCH_MODEL,
    ) else {
        return;
    };
    let file = gguf::GgufFile::open(&path).expect("model parses");
    let mut c = TokenizerConfig::from_gguf(file.metadata()).expect("tokenizer config");
    let scores = c.scores.clone();
    let vocab = Vocab::build(&mut c).expect("vocabulary builds");

    let mut texts = Vec::new();
    for doc in ["README.md", "crates/tokenizer/src/lib.rs", "fuzz/README.md"] {
        if let Ok(s) = std::fs::read_to_string(root.join(doc)) {
            texts.push(s.replace(' ', "▁"));
        }
    }
    assert!(!texts.is_empty(), "the repository's own text files");
    let mut rng = Rng(42);
    let letters: String = (0..100_000)
        .map(|_| char::from(b'a' + rng.below(26) as u8))
        .collect();
    texts.push(letters);
    texts.push("a".repeat(20_000));
    let cjk: String = (0..20_000)
        .map(|_| char::from_u32(0x4E00 + rng.below(0x5000) as u32).unwrap_or('中'))
        .collect();
    texts.push(cjk);
    for t in &texts {
        assert_eq!(
            ours(&vocab, t.as_bytes()),
            reference(&vocab, &scores, t.as_bytes()),
            "{}",
            &t[..t.len().min(60)]
        );
    }
}
