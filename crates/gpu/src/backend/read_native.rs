//! A step's read on a native device: the wait blocks, bounded by the
//! device's timeout.

use std::time::{Duration, Instant};

use super::read::{finished, MapDone, Pending};
use crate::device::Gpu;
use crate::error::GpuError;

/// How long a map callback may lag behind the completed wait.
const MAP_CALLBACK_GRACE: Duration = Duration::from_secs(10);

/// A read that failed to settle is dropped (the wait was bounded).
pub(super) const KEEP_UNFINISHED: bool = false;

/// Whether the map completed (polls the device, never blocks).
pub(super) fn ready(gpu: &Gpu, done: &MapDone) -> bool {
    if !finished(done) {
        let _ = gpu.device.poll(wgpu::PollType::Poll);
    }
    finished(done)
}

/// Waits until the map of `p` completed.
pub(super) fn settle(gpu: &Gpu, p: &Pending, done: &MapDone) -> Result<(), GpuError> {
    if !finished(done) {
        gpu.wait_for(p.index.clone(), "a step's read")?;
    }
    let start = Instant::now();
    while !finished(done) {
        // another thread's poll may run the callback a little later
        if start.elapsed() > MAP_CALLBACK_GRACE {
            return Err(GpuError::Device {
                what: "mapping a step's read".into(),
                reason: format!("no map callback within {MAP_CALLBACK_GRACE:?} of the wait"),
            });
        }
        let _ = gpu.device.poll(wgpu::PollType::Poll);
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}
