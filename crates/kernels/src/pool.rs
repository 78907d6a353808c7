//! A persistent thread pool for the forward pass.
//!
//! The decode step runs ~150 small parallel regions per token (every matvec,
//! the attention), so workers are created once and wait for work by spinning
//! briefly, then yielding, then parking on a condvar; a region costs a few
//! atomic operations when the workers are awake. The calling thread is
//! worker 0 and takes part in every region. One thread (and every wasm32
//! build) runs regions inline with no synchronisation at all.
//!
//! [`ThreadPool::par_cols`] is the one safe entry point the kernels use: it
//! splits an output viewed as `[n, stride]` into column blocks claimed
//! dynamically (a slow or preempted thread takes fewer blocks), and hands
//! each thread its own part of a scratch buffer. Every output element is
//! written by exactly one closure call, so results do not depend on the
//! thread count.

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

pub use trace::{Span, ThreadSummary, Trace};

/// Columns `cols` of every row of an output `[n, stride]` (row-major), owned
/// exclusively by one task of [`ThreadPool::par_cols`].
pub struct ColsMut<'a, T> {
    ptr: *mut T,
    n: usize,
    stride: usize,
    cols: Range<usize>,
    _out: PhantomData<&'a mut [T]>,
}

impl<T> ColsMut<'_, T> {
    /// The columns this task owns.
    pub fn cols(&self) -> Range<usize> {
        self.cols.clone()
    }

    /// Number of rows of the output.
    pub fn n_rows(&self) -> usize {
        self.n
    }

    /// Row `t` restricted to the owned columns: `out[t * stride + cols]`.
    pub fn row(&mut self, t: usize) -> &mut [T] {
        assert!(t < self.n, "ColsMut::row: row {t} of {}", self.n);
        // SAFETY: `ptr` points to `n * stride` initialised elements borrowed
        // mutably for 'a (see `par_cols`); `t < n` and `cols.end <= stride`
        // keep the range in bounds; the columns `cols` of every row belong to
        // this task only, and `&mut self` prevents two live slices of it.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.ptr.add(t * self.stride + self.cols.start),
                self.cols.len(),
            )
        }
    }
}

/// Raw parts of the borrowed output and scratch, shared by the tasks of one
/// `par_cols` call (which hands out disjoint pieces only).
struct Parts<T, S> {
    out: *mut T,
    scratch: *mut S,
}

// SAFETY: the pointers come from `&mut [T]` / `&mut [S]` with `T, S: Send`;
// `par_cols` gives every thread disjoint pieces of them, so sharing the
// pointers between threads is sharing `&mut` pieces of Send data.
unsafe impl<T: Send, S: Send> Sync for Parts<T, S> {}

/// Worker threads plus the calling thread.
pub struct ThreadPool {
    n_threads: usize,
    #[cfg(not(target_arch = "wasm32"))]
    inner: Option<native::Workers>,
    tracer: trace::Tracer,
}

impl std::fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadPool")
            .field("n_threads", &self.n_threads)
            .finish()
    }
}

impl Default for ThreadPool {
    fn default() -> Self {
        Self::new(1)
    }
}

impl ThreadPool {
    /// A pool of `n_threads` threads in all (the caller included: `n - 1`
    /// workers are spawned). `0` means the available parallelism. On wasm32
    /// the pool is always single-threaded.
    pub fn new(n_threads: usize) -> ThreadPool {
        #[cfg(target_arch = "wasm32")]
        {
            let _ = n_threads;
            ThreadPool {
                n_threads: 1,
                tracer: trace::Tracer::default(),
            }
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            let n = match n_threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let inner = (n > 1).then(|| native::Workers::spawn(n - 1));
            // A failed spawn leaves a smaller pool rather than an error.
            let n = inner.as_ref().map_or(1, |w| w.len() + 1);
            ThreadPool {
                n_threads: n,
                inner: inner.filter(|w| w.len() > 0),
                tracer: trace::Tracer::default(),
            }
        }
    }

    /// Threads taking part in each region (the caller included).
    pub fn n_threads(&self) -> usize {
        self.n_threads
    }

    /// Starts recording per-thread timings of every `par_cols` region, with
    /// room for `capacity` spans (one per thread per region), allocated now.
    pub fn start_trace(&self, capacity: usize) {
        self.tracer.start(capacity);
    }

    /// Stops recording and returns the spans since `start_trace`.
    pub fn stop_trace(&self) -> Trace {
        self.tracer.stop()
    }

    /// Runs `f(0)` on the caller and `f(i)` on each worker `i` that starts
    /// while the caller is still in `f(0)` (a descheduled worker skips the
    /// region rather than making the caller wait: `f` must not rely on any
    /// index but 0 running; claim work dynamically, as `par_cols` does).
    /// Returns when every call that started has returned; a panic in any
    /// call is re-raised here after that.
    pub fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(w) = &self.inner {
            w.run(f);
            return;
        }
        f(0);
    }

    /// Splits `out`, viewed as `[out.len() / stride, stride]`, into column
    /// blocks `[0, block)`, `[block, 2 block)`, ... and calls `f` once per
    /// block, spread over the pool's threads. Each thread gets its own
    /// `scratch_per_thread` elements of `scratch`; the number of threads used
    /// is limited by how many such parts `scratch` holds (at least one thread
    /// always runs: its part is then shorter). With one thread, or one block,
    /// `f` runs inline on the whole column range `[0, stride)`.
    ///
    /// out: [n, stride] -> every element written by exactly one call of `f`.
    pub fn par_cols<T: Send, S: Send>(
        &self,
        out: &mut [T],
        stride: usize,
        block: usize,
        scratch: &mut [S],
        scratch_per_thread: usize,
        f: impl Fn(&mut ColsMut<'_, T>, &mut [S]) + Sync,
    ) {
        let stride = stride.max(1);
        let n = out.len() / stride;
        let block = block.max(1);
        let n_blocks = stride.div_ceil(block);
        let by_scratch = match scratch_per_thread {
            0 => usize::MAX,
            per => (scratch.len() / per).max(1),
        };
        let threads = self.n_threads.min(n_blocks).min(by_scratch);
        let region = self.tracer.open();
        if threads <= 1 {
            let per = match scratch_per_thread {
                0 => scratch.len(),
                per => per.min(scratch.len()),
            };
            let mut cols = ColsMut {
                ptr: out.as_mut_ptr(),
                n,
                stride,
                cols: 0..stride,
                _out: PhantomData,
            };
            let started = region.map(|_| Instant::now());
            f(&mut cols, &mut scratch[..per]);
            if let (Some(r), Some(t0)) = (region, started) {
                self.tracer.record(r, 0, t0, 1);
            }
            return;
        }
        let per = scratch_per_thread;
        let parts = Parts {
            out: out.as_mut_ptr(),
            scratch: scratch.as_mut_ptr(),
        };
        let next = AtomicUsize::new(0);
        let task = |tid: usize| {
            if tid >= threads {
                return;
            }
            let parts = &parts;
            // SAFETY: `tid < threads <= scratch.len() / per` (or per == 0),
            // and each thread index runs exactly once per region, so this
            // thread's scratch part is disjoint from every other thread's.
            let my_scratch =
                unsafe { std::slice::from_raw_parts_mut(parts.scratch.add(tid * per), per) };
            let started = region.map(|_| Instant::now());
            let mut claimed = 0;
            loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= n_blocks {
                    break;
                }
                let c0 = b * block;
                let mut cols = ColsMut {
                    ptr: parts.out,
                    n,
                    stride,
                    cols: c0..(c0 + block).min(stride),
                    _out: PhantomData,
                };
                f(&mut cols, my_scratch);
                claimed += 1;
            }
            if let (Some(r), Some(t0)) = (region, started) {
                self.tracer.record(r, tid, t0, claimed);
            }
        };
        self.run(&task);
    }
}

/// Splits `len` items into about `4 * threads` blocks of a multiple of
/// `align` items (for `par_cols`); one block when single-threaded.
pub fn block_size(len: usize, threads: usize, align: usize) -> usize {
    if threads <= 1 {
        return len.max(1);
    }
    let align = align.max(1);
    let target = len.div_ceil(threads * 4);
    target.div_ceil(align).max(1) * align
}

#[cfg(not(target_arch = "wasm32"))]
mod native;
mod trace;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn par_cols_writes_every_element_once() {
        for threads in [1, 2, 3] {
            let pool = ThreadPool::new(threads);
            for (n, stride, block) in [(1, 1000, 16), (3, 37, 5), (4, 8, 100), (2, 64, 64)] {
                let mut out = vec![0u32; n * stride];
                let mut scratch = vec![0usize; threads * 2];
                pool.par_cols(&mut out, stride, block, &mut scratch, 2, |c, s| {
                    s[0] += 1;
                    for t in 0..c.n_rows() {
                        let cols = c.cols();
                        for (v, j) in c.row(t).iter_mut().zip(cols) {
                            *v += (t * stride + j) as u32 + 1;
                        }
                    }
                });
                let want: Vec<u32> = (1..=(n * stride) as u32).collect();
                assert_eq!(out, want, "threads {threads} n {n} stride {stride}");
                let calls: usize = scratch.iter().step_by(2).sum();
                let blocks = if pool.n_threads() == 1 {
                    1
                } else {
                    stride.div_ceil(block)
                };
                assert_eq!(calls, blocks);
            }
        }
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))] // needs worker threads
    fn run_waits_for_every_worker_that_started() {
        let pool = ThreadPool::new(3);
        assert_eq!(pool.n_threads(), 3);
        let hits = [const { AtomicUsize::new(0) }; 3];
        let busy = AtomicUsize::new(0);
        for _ in 0..2000 {
            pool.run(&|tid| {
                busy.fetch_add(1, Ordering::SeqCst);
                hits[tid].fetch_add(1, Ordering::Relaxed);
                std::hint::black_box(0..100).for_each(drop);
                busy.fetch_sub(1, Ordering::SeqCst);
            });
            assert_eq!(busy.load(Ordering::SeqCst), 0, "a call outlived run");
        }
        assert_eq!(hits[0].load(Ordering::Relaxed), 2000);
        for h in &hits[1..] {
            assert!(h.load(Ordering::Relaxed) <= 2000);
        }
        // a caller that waits for the workers sees every one of them
        let seen = [const { AtomicUsize::new(0) }; 3];
        pool.run(&|tid| {
            seen[tid].store(1, Ordering::SeqCst);
            if tid == 0 {
                while seen.iter().any(|s| s.load(Ordering::SeqCst) == 0) {
                    std::thread::yield_now();
                }
            }
        });
    }

    #[test]
    fn scratch_limits_threads() {
        let pool = ThreadPool::new(4);
        let mut out = vec![0u8; 64];
        // room for two threads' scratch only
        let mut scratch = vec![0u8; 2 * 3];
        pool.par_cols(&mut out, 64, 4, &mut scratch, 3, |c, s| {
            assert_eq!(s.len(), 3);
            s[0] = 1;
            c.row(0).fill(7);
        });
        assert!(out.iter().all(|&v| v == 7));
    }

    #[test]
    #[cfg(not(target_arch = "wasm32"))] // needs worker threads
    fn worker_panic_is_reraised_and_pool_survives() {
        let pool = ThreadPool::new(2);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let started = AtomicUsize::new(0);
            pool.run(&|tid| {
                if tid == 1 {
                    started.store(1, Ordering::SeqCst);
                    panic!("boom");
                }
                while started.load(Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
            })
        }));
        assert!(r.is_err());
        let hits = AtomicUsize::new(0);
        pool.run(&|_| {
            hits.fetch_add(1, Ordering::SeqCst);
            while hits.load(Ordering::SeqCst) < 2 {
                std::thread::yield_now();
            }
        });
        assert_eq!(hits.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn block_sizes_are_aligned() {
        assert_eq!(block_size(640, 1, 16), 640);
        assert_eq!(block_size(640, 2, 16), 80);
        assert_eq!(block_size(100, 2, 16), 16);
        assert_eq!(block_size(262144, 2, 16), 32768);
    }
}
