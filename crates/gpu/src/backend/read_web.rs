//! A step's read in the browser: WebGPU's `mapAsync` resolves only when
//! the JS event loop runs, so nothing here waits. The caller (the worker's
//! loop) yields to the event loop until `read_ready` is true and bounds
//! that wait with its own clock; a lost device makes the read ready, so
//! `read_wait` reports it instead of the loop waiting for a map that never
//! completes.

use super::read::{finished, MapDone, Pending};
use crate::device::Gpu;
use crate::error::GpuError;

/// A read asked for too early stays in flight: a later wait completes it.
pub(super) const KEEP_UNFINISHED: bool = true;

/// Whether the map completed, or the device is gone (never blocks).
pub(super) fn ready(gpu: &Gpu, done: &MapDone) -> bool {
    finished(done) || gpu.is_lost()
}

/// `Ok` once the map of `_p` completed; an error (without waiting) before.
pub(super) fn settle(gpu: &Gpu, _p: &Pending, done: &MapDone) -> Result<(), GpuError> {
    gpu.check()?;
    if finished(done) {
        return Ok(());
    }
    Err(GpuError::Device {
        what: "a step's read".into(),
        reason: "read before it completed: in the browser, poll read_ready between turns \
                 of the event loop and read once it is true"
            .into(),
    })
}
