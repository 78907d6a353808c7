//! The reference backend's reads, completed on another thread: the logits
//! buffer is lent to a reader thread (as a device buffer is mapped for the
//! host) and comes back with the result, later.

use std::sync::mpsc::{channel, Receiver, Sender, TryRecvError};
use std::thread;

use crate::backend::host::{host_read, host_readout};
use crate::backend::{ReadKind, Readout};

/// A read in flight or done: the lent buffers and what was asked.
#[derive(Debug)]
struct Job {
    logits: Vec<f32>,
    n_vocab: usize,
    rows: usize,
    kind: ReadKind,
    ids: Vec<u32>,
    vals: Vec<f32>,
}

/// The reader thread's two ends. The thread ends when this is dropped.
#[derive(Debug)]
pub(crate) struct Reader {
    to: Sender<Job>,
    from: Receiver<Job>,
    /// Whether a job is out.
    out: bool,
    /// The completed job, once it came back.
    done: Option<Job>,
    /// Kept between reads.
    ids: Vec<u32>,
    vals: Vec<f32>,
}

impl Reader {
    pub(crate) fn new() -> Reader {
        let (to, jobs) = channel::<Job>();
        let (back, from) = channel::<Job>();
        thread::spawn(move || {
            for mut j in jobs {
                // a device round trip takes a while
                thread::sleep(std::time::Duration::from_micros(200));
                host_read(
                    &j.logits,
                    j.n_vocab,
                    j.rows,
                    j.kind,
                    &mut j.ids,
                    &mut j.vals,
                );
                if back.send(j).is_err() {
                    break;
                }
            }
        });
        Reader {
            to,
            from,
            out: false,
            done: None,
            ids: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// Lends `logits` to the reader thread for a read of `kind`.
    pub(crate) fn begin(&mut self, logits: Vec<f32>, n_vocab: usize, rows: usize, kind: ReadKind) {
        let job = Job {
            logits,
            n_vocab,
            rows,
            kind,
            ids: std::mem::take(&mut self.ids),
            vals: std::mem::take(&mut self.vals),
        };
        self.to.send(job).expect("the reader thread is gone");
        self.out = true;
    }

    /// Whether the job came back (never blocks).
    pub(crate) fn ready(&mut self) -> bool {
        if self.done.is_none() && self.out {
            match self.from.try_recv() {
                Ok(j) => {
                    self.done = Some(j);
                    self.out = false;
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => panic!("the reader thread is gone"),
            }
        }
        self.done.is_some()
    }

    /// Waits for the job; returns the logits buffer it lent.
    pub(crate) fn finish(&mut self) -> Option<Vec<f32>> {
        if self.done.is_none() && self.out {
            self.done = Some(self.from.recv().expect("the reader thread is gone"));
            self.out = false;
        }
        let j = self.done.as_mut()?;
        self.ids = std::mem::take(&mut j.ids);
        self.vals = std::mem::take(&mut j.vals);
        Some(std::mem::take(&mut j.logits))
    }

    /// The result of the last finished job, over `logits` (given back).
    pub(crate) fn readout<'a>(&'a mut self, logits: &'a [f32]) -> Readout<'a> {
        let (n_vocab, rows, kind) = match self.done.take() {
            Some(j) => (j.n_vocab, j.rows, j.kind),
            None => (0, 0, ReadKind::Logits),
        };
        host_readout(logits, n_vocab, rows, kind, &self.ids, &self.vals)
    }
}
