//! The scheduler's thread: it owns the [`Scheduler`], takes jobs from a
//! channel between steps, steps while work exists and blocks on the channel
//! when idle. Each event goes to its request's channel; a request whose
//! receiver is gone (the client left) is cancelled before the next step.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use engine::{Event, Request, RequestId, Scheduler};
use model::Backend;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::metrics::Metrics;

/// What a request's channel receives: its acceptance into the queue, then
/// the scheduler's events (a refusal comes as `Event::Failed`).
#[derive(Debug)]
pub enum Update {
    Accepted,
    Event(Event),
}

/// `(index of the prompt in its HTTP request, update)`.
pub type Tx = UnboundedSender<(usize, Update)>;

/// A request's updates: those read ahead while waiting for every prompt
/// to be accepted, then the channel.
#[derive(Debug)]
pub struct Updates {
    pub early: VecDeque<(usize, Update)>,
    pub rx: UnboundedReceiver<(usize, Update)>,
}

impl Updates {
    /// The next update; `None` when the scheduler thread is gone.
    pub async fn next(&mut self) -> Option<(usize, Update)> {
        match self.early.pop_front() {
            Some(u) => Some(u),
            None => self.rx.recv().await,
        }
    }
}

/// One prompt to run.
#[derive(Debug)]
pub struct Job {
    pub req: Request,
    pub index: usize,
    pub tx: Tx,
}

/// What the scheduler looks like after its last step.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub busy: Vec<bool>,
    pub queued: usize,
}

struct Live {
    index: usize,
    tx: Tx,
    submitted: Instant,
    last_piece: Option<Instant>,
    cancelled: bool,
}

/// Runs until the job channel closes (and no work is left).
pub fn run<B: Backend>(
    mut sched: Scheduler<B>,
    jobs: Receiver<Job>,
    status: Arc<Mutex<Status>>,
    metrics: Arc<Metrics>,
) {
    let mut live: HashMap<RequestId, Live> = HashMap::new();
    let publish = |sched: &Scheduler<B>| {
        let mut s = status.lock().unwrap_or_else(|e| e.into_inner());
        s.busy.clear();
        s.busy.extend(sched.busy());
        s.queued = sched.queued();
    };
    loop {
        if sched.pending() == 0 {
            publish(&sched);
            match jobs.recv() {
                Ok(job) => submit(&mut sched, &mut live, job),
                Err(_) => return,
            }
        }
        loop {
            match jobs.try_recv() {
                Ok(job) => submit(&mut sched, &mut live, job),
                Err(TryRecvError::Empty) => break,
                // the server is gone: finish what runs
                Err(TryRecvError::Disconnected) => break,
            }
        }
        for (&id, l) in live.iter_mut() {
            if !l.cancelled && l.tx.is_closed() {
                l.cancelled = true;
                sched.cancel(id);
            }
        }
        let stepped = sched.step(|id, e| forward(&mut live, &metrics, id, e));
        if let Err(e) = stepped {
            eprintln!("serve: a batch failed: {e}");
        }
        publish(&sched);
    }
}

fn submit<B: Backend>(sched: &mut Scheduler<B>, live: &mut HashMap<RequestId, Live>, job: Job) {
    if job.tx.is_closed() {
        return;
    }
    match sched.submit(job.req) {
        Ok(id) => {
            let _ = job.tx.send((job.index, Update::Accepted));
            live.insert(
                id,
                Live {
                    index: job.index,
                    tx: job.tx,
                    submitted: Instant::now(),
                    last_piece: None,
                    cancelled: false,
                },
            );
        }
        Err(e) => {
            let _ = job.tx.send((job.index, Update::Event(Event::Failed(e))));
        }
    }
}

fn forward(live: &mut HashMap<RequestId, Live>, m: &Metrics, id: RequestId, e: Event) {
    let ends = !matches!(e, Event::Piece(_));
    let Some(l) = live.get_mut(&id) else { return };
    match &e {
        Event::Piece(_) => {
            let now = Instant::now();
            match l.last_piece {
                None => m.ttft.observe(now - l.submitted),
                Some(t) => m.token_latency.observe(now - t),
            }
            l.last_piece = Some(now);
            m.generated_tokens.fetch_add(1, Relaxed);
        }
        Event::Done {
            prompt_tokens,
            cached_tokens,
            ..
        } => {
            m.prompt_tokens.fetch_add(*prompt_tokens as u64, Relaxed);
            m.cached_tokens.fetch_add(*cached_tokens as u64, Relaxed);
        }
        Event::Failed(_) => {}
    }
    let _ = l.tx.send((l.index, Update::Event(e)));
    if ends {
        live.remove(&id);
    }
}
