//! The worker threads of a [`ThreadPool`](super::ThreadPool) (not on wasm32).
//!
//! Protocol: one atomic word `region` holds an epoch, an "open" bit and the
//! number of workers running the current job. The caller publishes a job
//! pointer and opens a new epoch; a worker that sees the new epoch joins it
//! (compare-and-swap: same epoch, still open, active + 1), runs the job and
//! leaves (active - 1). When its own share is done the caller closes the
//! region and waits only for the workers that joined: a worker that was
//! descheduled (the machine is shared) and wakes late finds the region
//! closed and skips it, so the caller never waits for a thread that has not
//! started. Waiting (workers for an epoch, the caller for active == 0)
//! spins, then yields, then parks on a condvar. Parking uses a Dekker-style handshake
//! (SeqCst flag store, then re-check) so a wake-up is never lost and no
//! syscall is made while everyone is awake.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Spin (with `spin_loop` hints) this many rounds before yielding.
const SPIN_ROUNDS: u32 = 1 << 12;
/// Then yield for up to this long before parking.
const YIELD_FOR: Duration = Duration::from_micros(500);

/// A job: the region's closure with its lifetime erased (see `Workers::run`).
#[derive(Clone, Copy)]
struct Job(*const (dyn Fn(usize) + Sync + 'static));

// SAFETY: the pointee is `Sync`, so calling it from several threads through
// shared references is allowed; `Workers::run` keeps it alive while any
// worker may use it.
unsafe impl Send for Job {}

/// `region` layout: epoch in the high 32 bits, `OPEN`, active workers below.
const OPEN: u64 = 1 << 31;
const ACTIVE: u64 = OPEN - 1;

fn epoch_of(r: u64) -> u64 {
    r >> 32
}

struct Shared {
    region: AtomicU64,
    shutdown: AtomicBool,
    panicked: AtomicBool,
    /// Held by the caller of a region; a second caller (another thread, or
    /// a region started from inside a region) runs its job inline instead.
    busy: AtomicBool,
    job: Mutex<Option<Job>>,
    /// Workers parked (or about to park) waiting for an epoch.
    sleepers: AtomicUsize,
    wake_lock: Mutex<()>,
    wake: Condvar,
    /// The caller parked (or about to park) waiting for no active worker.
    caller_waiting: AtomicBool,
    done_lock: Mutex<()>,
    done: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Spin, then yield, until `ready()`; false if it did not happen in time.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    for _ in 0..SPIN_ROUNDS {
        if ready() {
            return true;
        }
        std::hint::spin_loop();
    }
    let t0 = Instant::now();
    while t0.elapsed() < YIELD_FOR {
        if ready() {
            return true;
        }
        std::thread::yield_now();
    }
    ready()
}

pub(super) struct Workers {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Spawns up to `n` workers (fewer if the OS refuses threads).
    pub(super) fn spawn(n: usize) -> Workers {
        let shared = Arc::new(Shared {
            region: AtomicU64::new(0),
            shutdown: AtomicBool::new(false),
            panicked: AtomicBool::new(false),
            busy: AtomicBool::new(false),
            job: Mutex::new(None),
            sleepers: AtomicUsize::new(0),
            wake_lock: Mutex::new(()),
            wake: Condvar::new(),
            caller_waiting: AtomicBool::new(false),
            done_lock: Mutex::new(()),
            done: Condvar::new(),
        });
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let sh = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(format!("wasm-chord-{}", i + 1))
                .spawn(move || worker(&sh, i + 1));
            match spawned {
                Ok(h) => handles.push(h),
                Err(_) => break,
            }
        }
        Workers { shared, handles }
    }

    pub(super) fn len(&self) -> usize {
        self.handles.len()
    }

    /// Runs `f(0)` here and `f(i)` on worker `i`, returning when all are done.
    pub(super) fn run(&self, f: &(dyn Fn(usize) + Sync)) {
        let sh = &*self.shared;
        if sh.busy.swap(true, SeqCst) {
            for tid in 0..=self.handles.len() {
                f(tid);
            }
            return;
        }
        let _busy = Release(&sh.busy);
        sh.panicked.store(false, SeqCst);
        // SAFETY: only the lifetime is changed. A worker uses the erased
        // reference only between joining the open region (active + 1) and
        // leaving it (active - 1); `WaitGuard` (also while unwinding from a
        // panic in `f(0)`) closes the region, so no worker can join any
        // more, and waits for active == 0 before this function returns and
        // the borrow of `f` ends.
        let job: &'static (dyn Fn(usize) + Sync) = unsafe { std::mem::transmute(f) };
        *lock(&sh.job) = Some(Job(job));
        let next = (epoch_of(sh.region.load(SeqCst)) + 1) & 0xffff_ffff;
        sh.region.store(next << 32 | OPEN, SeqCst);
        if sh.sleepers.load(SeqCst) > 0 {
            let _g = lock(&sh.wake_lock);
            sh.wake.notify_all();
        }
        let guard = WaitGuard(sh);
        f(0);
        drop(guard);
        if sh.panicked.swap(false, SeqCst) {
            panic!("a thread-pool worker panicked");
        }
    }
}

/// Clears the `busy` flag when dropped.
struct Release<'a>(&'a AtomicBool);

impl Drop for Release<'_> {
    fn drop(&mut self) {
        self.0.store(false, SeqCst);
    }
}

/// Waits for every worker to finish the current job when dropped.
struct WaitGuard<'a>(&'a Shared);

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        let sh = self.0;
        sh.region.fetch_and(!OPEN, SeqCst);
        let done = || sh.region.load(SeqCst) & ACTIVE == 0;
        if !spin_until(done) {
            let mut g = lock(&sh.done_lock);
            sh.caller_waiting.store(true, SeqCst);
            while !done() {
                g = sh.done.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            sh.caller_waiting.store(false, SeqCst);
        }
        *lock(&sh.job) = None;
    }
}

fn worker(sh: &Shared, tid: usize) {
    let mut seen = 0u64;
    loop {
        let fresh = || epoch_of(sh.region.load(SeqCst)) != seen;
        if !spin_until(fresh) {
            let mut g = lock(&sh.wake_lock);
            sh.sleepers.fetch_add(1, SeqCst);
            while !fresh() {
                g = sh.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            sh.sleepers.fetch_sub(1, SeqCst);
        }
        let mut r = sh.region.load(SeqCst);
        seen = epoch_of(r);
        if sh.shutdown.load(SeqCst) {
            return;
        }
        // join the region if it is still open (and still this epoch)
        let joined = loop {
            if r & OPEN == 0 || epoch_of(r) != seen {
                break false;
            }
            match sh.region.compare_exchange_weak(r, r + 1, SeqCst, SeqCst) {
                Ok(_) => break true,
                Err(now) => r = now,
            }
        };
        if !joined {
            continue;
        }
        let job = *lock(&sh.job);
        if let Some(Job(f)) = job {
            // SAFETY: this worker joined the open region, so the caller
            // keeps the closure alive until it leaves (below).
            let f = unsafe { &*f };
            if catch_unwind(AssertUnwindSafe(|| f(tid))).is_err() {
                sh.panicked.store(true, SeqCst);
            }
        }
        let prev = sh.region.fetch_sub(1, SeqCst);
        if prev & ACTIVE == 1 && sh.caller_waiting.load(SeqCst) {
            let _g = lock(&sh.done_lock);
            sh.done.notify_all();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        let sh = &*self.shared;
        sh.shutdown.store(true, SeqCst);
        let next = (epoch_of(sh.region.load(SeqCst)) + 1) & 0xffff_ffff;
        sh.region.store(next << 32, SeqCst);
        {
            let _g = lock(&sh.wake_lock);
            sh.wake.notify_all();
        }
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
