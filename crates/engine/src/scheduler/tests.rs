//! The scheduler against sessions run alone, on the tiny fixture models.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use model::{CacheType, Model};
use tokenizer::Tokenizer;

use model::{KvCache, LogitsMode, Scratch};

use super::*;
use crate::sampler::SamplerParams;
use crate::session::turn::Turn;

/// What a request gets alone: its prompt in chunks of `N_BATCH` through
/// `Model::forward` on a fresh cache, then one token per forward pass.
struct Alone {
    tokens: Vec<u32>,
    finish: FinishReason,
}

fn alone(m: &Model, tok: &Arc<Tokenizer>, req: &Request) -> Alone {
    let mut kv = KvCache::new(m.config(), N_CTX, CacheType::F32).unwrap();
    let mut s = Scratch::new(m, N_BATCH, N_CTX, 1).unwrap();
    let mut turn = Turn::new(tok, &req.params, req.end_of_turn.as_deref(), N_CTX);
    turn.accept_prompt(&req.prompt);
    let mut logits = Vec::new();
    for (i, c) in req.prompt.chunks(N_BATCH).enumerate() {
        let l = m
            .forward(c, i * N_BATCH, &mut kv, &mut s, LogitsMode::Last)
            .unwrap();
        logits = l.to_vec();
    }
    let mut tokens = Vec::new();
    loop {
        let p = turn.next_piece(tok, Row::Logits(&logits)).unwrap();
        tokens.push(p.id);
        if let Some(finish) = turn.finish {
            return Alone { tokens, finish };
        }
        let pos = req.prompt.len() + tokens.len() - 1;
        logits = m
            .forward(&[p.id], pos, &mut kv, &mut s, LogitsMode::Last)
            .unwrap()
            .to_vec();
    }
}

const N_CTX: usize = 96;
const N_BATCH: usize = 8;

fn tiny(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../tests/fixtures/models/{name}.gguf"))
}

fn scheduler(name: &str, n_seq: usize, max_queue: usize) -> Scheduler {
    let mut m = Model::load(tiny(name)).unwrap().with_threads(2);
    m.pack_for_decode(usize::MAX).unwrap();
    let tok = Arc::new(Tokenizer::from_gguf(m.file().metadata()).unwrap());
    let opts = SchedulerOptions {
        n_seq,
        n_ctx: N_CTX,
        n_batch: N_BATCH,
        max_queue,
        cache_type: CacheType::F32,
    };
    Scheduler::new(Arc::new(m), tok, opts).unwrap()
}

fn params(i: usize) -> GenerateParams {
    let sampler = if i.is_multiple_of(2) {
        SamplerParams::greedy()
    } else {
        SamplerParams {
            seed: 1000 + i as u64,
            ..SamplerParams::default()
        }
    };
    GenerateParams {
        sampler,
        max_tokens: 6 + 3 * i,
        ..GenerateParams::default()
    }
}

fn prompt(i: usize, n_vocab: u32) -> Vec<u32> {
    (0..1 + (i * 7) % 20)
        .map(|j| ((i * 31 + j * 17 + 3) as u32) % n_vocab)
        .collect()
}

/// Runs the scheduler until nothing is pending; per request its pieces and
/// its last event.
fn drain(
    s: &mut Scheduler,
    cancel: Option<(RequestId, usize)>,
) -> HashMap<RequestId, (Vec<u32>, Event)> {
    let mut out: HashMap<RequestId, (Vec<u32>, Option<Event>)> = HashMap::new();
    for step in 0..1000 {
        if let Some((id, at)) = cancel {
            if step == at {
                assert!(s.cancel(id));
            }
        }
        let left = s
            .step(|id, e| {
                let entry = out.entry(id).or_default();
                match e {
                    Event::Piece(p) => entry.0.push(p.id),
                    e => entry.1 = Some(e),
                }
            })
            .unwrap();
        if left == 0 {
            return out
                .into_iter()
                .map(|(id, (t, e))| (id, (t, e.expect("an end event"))))
                .collect();
        }
    }
    panic!("the scheduler did not finish in 1000 steps");
}

#[test]
fn every_request_gets_what_it_gets_alone() {
    let name = "tiny-q4_k_m";
    let mut s = scheduler(name, 3, 16);
    let n_vocab = s.model.config().n_vocab as u32;
    let reqs: Vec<Request> = (0..7)
        .map(|i| Request {
            prompt: prompt(i, n_vocab),
            params: params(i),
            end_of_turn: None,
            cache_prompt: false,
        })
        .collect();
    let ids: Vec<RequestId> = reqs.iter().map(|r| s.submit(r.clone()).unwrap()).collect();
    // request 4 is cancelled while it waits or runs
    let got = drain(&mut s, Some((ids[4], 3)));
    let m = Model::load(tiny(name)).unwrap();
    let tok = Arc::new(Tokenizer::from_gguf(m.file().metadata()).unwrap());
    for (i, (id, req)) in ids.iter().zip(&reqs).enumerate() {
        let (tokens, end) = &got[id];
        if i == 4 {
            assert!(
                matches!(
                    end,
                    Event::Done {
                        finish: FinishReason::Cancelled,
                        ..
                    }
                ),
                "{end:?}"
            );
            continue;
        }
        let c = alone(&m, &tok, req);
        assert_eq!(tokens, &c.tokens, "request {i}");
        match end {
            Event::Done {
                finish,
                prompt_tokens,
                cached_tokens: 0,
                generated,
            } => {
                assert_eq!(*finish, c.finish, "request {i}");
                assert_eq!(
                    (*prompt_tokens, *generated),
                    (req.prompt.len(), c.tokens.len())
                );
            }
            e => panic!("request {i}: {e:?}"),
        }
    }
}

#[test]
fn queue_bounds_and_bad_requests() {
    let mut s = scheduler("tiny-q8_0", 1, 2);
    let req = |prompt: Vec<u32>, max_tokens| Request {
        prompt,
        params: GenerateParams {
            sampler: SamplerParams::greedy(),
            max_tokens,
            ..GenerateParams::default()
        },
        end_of_turn: None,
        cache_prompt: false,
    };
    let empty = s.submit(req(vec![], 4)).unwrap();
    let zero = s.submit(req(vec![1, 2], 0)).unwrap();
    assert!(matches!(
        s.submit(req(vec![1], 4)),
        Err(EngineError::QueueFull { max: 2 })
    ));
    let got = drain(&mut s, None);
    assert!(matches!(
        got[&empty].1,
        Event::Failed(EngineError::EmptyPrompt)
    ));
    assert!(matches!(
        got[&zero].1,
        Event::Done {
            finish: FinishReason::MaxTokens,
            generated: 0,
            ..
        }
    ));
    // too long a prompt fails; a generation that fills the context fails
    let long = s.submit(req(vec![1; N_CTX], 4)).unwrap();
    let fills = s.submit(req(vec![1; N_CTX - 3], 100)).unwrap();
    let got = drain(&mut s, None);
    assert!(matches!(
        got[&long].1,
        Event::Failed(EngineError::PromptTooLong { .. })
    ));
    assert!(matches!(
        got[&fills].1,
        Event::Failed(EngineError::ContextFull { .. })
    ));
    // as a session: one token from the prompt's logits, then one per free position
    assert_eq!(got[&fills].0.len(), 4);
    // cancelling a request that is not pending
    assert!(!s.cancel(fills));
}

/// A slot keeps its last sequence's tokens: a request with `cache_prompt`
/// whose prompt extends them goes to that slot and evaluates only the new
/// tokens, with the tokens it would get alone; a request without it takes
/// the other slot; a prompt that diverges keeps the common prefix.
#[test]
fn a_slot_keeps_its_tokens_for_the_next_prompt() {
    let name = "tiny-q4_k_m";
    let mut s = scheduler(name, 2, 4);
    let m = Model::load(tiny(name)).unwrap();
    let tok = Arc::new(Tokenizer::from_gguf(m.file().metadata()).unwrap());
    let n_vocab = m.config().n_vocab as u32;
    let req = |prompt: Vec<u32>, i: usize, cache_prompt: bool| Request {
        prompt,
        params: params(i),
        end_of_turn: None,
        cache_prompt,
    };
    let first = req(prompt(5, n_vocab), 0, true);
    let id = s.submit(first.clone()).unwrap();
    let gen = drain(&mut s, None)[&id].0.clone();
    // the prompt and every generated token but the last (never evaluated)
    let mut held = first.prompt.clone();
    held.extend_from_slice(&gen[..gen.len() - 1]);
    let slot = (0..2).find(|&i| !s.cached(i).is_empty()).expect("a slot");
    assert_eq!(s.cached(slot), &held[..]);
    assert!(s.cached(1 - slot).is_empty());

    let mut longer = held.clone();
    longer.extend_from_slice(&[7, 8, 9]);
    let mut diverging = held[..10].to_vec();
    diverging.extend_from_slice(&[11, 12]);
    // submits the requests together; each gets its tokens alone and reuses
    // the wanted number of cached prompt tokens
    let check = |s: &mut Scheduler, cases: &[(Request, usize)]| {
        let ids: Vec<_> = cases
            .iter()
            .map(|(r, _)| s.submit(r.clone()).unwrap())
            .collect();
        let got = drain(s, None);
        for ((r, want_cached), id) in cases.iter().zip(&ids) {
            let (tokens, end) = &got[id];
            assert_eq!(tokens, &alone(&m, &tok, r).tokens);
            let Event::Done { cached_tokens, .. } = end else {
                panic!("{end:?}")
            };
            assert_eq!(cached_tokens, want_cached);
        }
    };
    check(
        &mut s,
        &[
            (req(longer, 1, true), held.len()),
            (req(prompt(3, n_vocab), 2, false), 0),
        ],
    );
    // the first slot still holds the longer prompt's tokens: keep 10
    check(&mut s, &[(req(diverging, 3, true), 10)]);
    // the same prompt again keeps all but its last token, whose logits it needs
    let again = s.cached(slot)[..12].to_vec();
    check(&mut s, &[(req(again, 4, true), 11)]);
    // a prompt that shares nothing takes the slot holding the fewest tokens
    // (none shares more), so the first slot keeps its tokens for later
    let kept = s.cached(slot).to_vec();
    let other = s.cached(1 - slot).len();
    assert!(other < kept.len());
    let mut unrelated = prompt(6, n_vocab);
    unrelated[0] = kept[0].wrapping_add(1) % n_vocab;
    check(&mut s, &[(req(unrelated, 5, true), 0)]);
    assert_eq!(s.cached(slot), &kept[..]);
    // forget empties the slots
    s.forget();
    assert!(s.cached(0).is_empty() && s.cached(1).is_empty());
}

/// `queued` and `busy` follow the requests; `top_logprobs` come best
/// first with the greedy token on top; `ignore_eos` never samples an
/// end-of-generation token even when it is the argmax.
#[test]
fn status_top_logprobs_and_ignore_eos() {
    let name = "tiny-q4_k_m";
    let mut s = scheduler(name, 1, 4);
    let n_vocab = s.model.config().n_vocab as u32;
    let req = |i: usize| Request {
        prompt: prompt(i, n_vocab),
        params: GenerateParams {
            sampler: SamplerParams::greedy(),
            max_tokens: 3,
            top_logprobs: 4,
            ..GenerateParams::default()
        },
        end_of_turn: None,
        cache_prompt: false,
    };
    assert!(s.kv_bytes() > 0);
    let a = s.submit(req(1)).unwrap();
    s.submit(req(2)).unwrap();
    assert_eq!((s.queued(), s.busy().collect::<Vec<_>>()), (2, vec![false]));
    let mut pieces = Vec::new();
    s.step(|id, e| {
        if let (true, Event::Piece(p)) = (id == a, e) {
            pieces.push(p)
        }
    })
    .unwrap();
    assert_eq!((s.queued(), s.busy().collect::<Vec<_>>()), (1, vec![true]));
    let p = &pieces[0];
    assert_eq!(p.top_logprobs.len(), 4);
    assert_eq!(p.top_logprobs[0], (p.id, p.logprob.unwrap()));
    assert!(p.top_logprobs.windows(2).all(|w| w[0].1 >= w[1].1));
    drain(&mut s, None);
    assert_eq!((s.queued(), s.busy().collect::<Vec<_>>()), (0, vec![false]));

    let tok = Arc::clone(&s.tok);
    let eog = tok.eog_ids()[0];
    let mut row = vec![0.0f32; n_vocab as usize];
    row[eog as usize] = 10.0;
    row[5] = 1.0;
    let params = |ignore_eos| GenerateParams {
        sampler: SamplerParams::greedy(),
        ignore_eos,
        ..GenerateParams::default()
    };
    let mut t = Turn::new(&tok, &params(false), None, N_CTX);
    assert_eq!(t.next_piece(&tok, Row::Logits(&row)).unwrap().id, eog);
    let mut t = Turn::new(&tok, &params(true), None, N_CTX);
    assert_eq!(t.read_kind(), model::ReadKind::Logits);
    assert_eq!(t.next_piece(&tok, Row::Logits(&row)).unwrap().id, 5);
    assert_eq!(t.finish, None);
}
