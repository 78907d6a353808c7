//! The scheduler against sessions run alone, on the tiny fixture models.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use model::{CacheType, Model};
use tokenizer::Tokenizer;

use super::*;
use crate::sampler::SamplerParams;
use crate::session::{Session, SessionOptions};

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
        })
        .collect();
    let ids: Vec<RequestId> = reqs.iter().map(|r| s.submit(r.clone()).unwrap()).collect();
    // request 4 is cancelled while it waits or runs
    let got = drain(&mut s, Some((ids[4], 3)));
    let opts = SessionOptions {
        n_ctx: N_CTX,
        n_batch: N_BATCH,
        cache_type: CacheType::F32,
        threads: 1,
        ..SessionOptions::default()
    };
    let mut alone = Session::load(tiny(name), opts).unwrap();
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
        alone.reset();
        let c = alone
            .generate_ids(&req.prompt, &req.params)
            .run(|_| std::ops::ControlFlow::Continue(()))
            .unwrap();
        assert_eq!(tokens, &c.tokens, "request {i}");
        match end {
            Event::Done {
                finish,
                prompt_tokens,
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
