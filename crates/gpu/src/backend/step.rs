//! The recording of one step: every op of a step goes into one command
//! encoder, with its parameters in the [`Arena`] and the step's host data
//! (token ids, RoPE angle caches) staged on the host, all written to the
//! device and submitted once, when the step is read (or when the next step
//! begins, for a step whose outputs nobody reads).

use std::sync::Arc;

use crate::arena::Arena;
use crate::device::Gpu;
use crate::error::GpuError;
use crate::kernel::Encoder;

/// Counts of the last submitted step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StepStats {
    /// Kernel dispatches.
    pub dispatches: usize,
    /// Bind groups created while recording it (0 once a decode loop of one
    /// shape runs steady: every slot's group is reused).
    pub bind_groups: usize,
}

/// A step being recorded.
pub(crate) struct Step {
    pub(crate) gpu: Arc<Gpu>,
    rec: Option<wgpu::CommandEncoder>,
    arena: Arena,
    /// The first error of the step (ops that return nothing report later).
    err: Option<GpuError>,
    /// Token ids of the step, for `ids`.
    pub(crate) ids_host: Vec<u32>,
    pub(crate) ids: wgpu::Buffer,
    pub(crate) n_ids: usize,
    /// RoPE (cos, sin) caches of the step, for `rope`: one per distinct
    /// (parameters, frequency factors), at `rope_keys`' offsets.
    pub(crate) rope_host: Vec<f32>,
    pub(crate) rope: wgpu::Buffer,
    pub(crate) rope_used: usize,
    pub(crate) rope_keys: Vec<RopeKey>,
}

/// Which cache of the step's rope buffer holds which angles.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct RopeKey {
    pub(crate) params: kernels::ops::RopeParams,
    /// The address of the frequency factors' host copy (0: none).
    pub(crate) factors: usize,
    pub(crate) offset: usize,
}

impl Step {
    pub(crate) fn new(gpu: Arc<Gpu>, ids: usize, rope: usize) -> Step {
        Step {
            arena: Arena::new(&gpu),
            ids: gpu.storage("step.ids", 4 * ids as u64),
            ids_host: vec![0; ids],
            n_ids: 0,
            rope: gpu.storage("step.rope", 4 * rope as u64),
            rope_host: vec![0.0; rope],
            rope_used: 0,
            rope_keys: Vec::new(),
            rec: None,
            err: None,
            gpu,
        }
    }

    /// Records `f`'s dispatches; after an error nothing more is recorded.
    pub(crate) fn run(&mut self, f: impl FnOnce(&mut Encoder) -> Result<(), GpuError>) {
        if self.err.is_some() {
            return;
        }
        let rec = match self.rec.take() {
            Some(r) => r,
            None => self.gpu.device.create_command_encoder(&Default::default()),
        };
        let mut enc = Encoder::with_arena(&self.gpu, rec, &mut self.arena);
        let r = f(&mut enc);
        self.rec = Some(enc.finish_recording());
        if let Err(e) = r {
            self.err = Some(e);
        }
    }

    /// Notes an error found outside a recording.
    pub(crate) fn fail(&mut self, e: GpuError) {
        self.err.get_or_insert(e);
    }

    /// The step's first error, if any (taken: reported once).
    pub(crate) fn take_error(&mut self) -> Result<(), GpuError> {
        match self.err.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Whether anything was recorded since the last submission.
    pub(crate) fn pending(&self) -> bool {
        self.rec.is_some()
    }

    /// Uploads the step's parameters and host data, then submits what was
    /// recorded and `extra` (copies for a read) as one command buffer.
    pub(crate) fn submit(
        &mut self,
        extra: impl FnOnce(&mut wgpu::CommandEncoder),
    ) -> Result<(StepStats, wgpu::SubmissionIndex), GpuError> {
        let mut rec = match self.rec.take() {
            Some(r) => r,
            None => self.gpu.device.create_command_encoder(&Default::default()),
        };
        extra(&mut rec);
        let q = &self.gpu.queue;
        self.arena.upload(q);
        if self.n_ids > 0 {
            q.write_buffer(
                &self.ids,
                0,
                bytemuck::cast_slice(&self.ids_host[..self.n_ids]),
            );
        }
        if self.rope_used > 0 {
            let data = bytemuck::cast_slice(&self.rope_host[..self.rope_used]);
            q.write_buffer(&self.rope, 0, data);
        }
        self.rope_used = 0;
        self.rope_keys.clear();
        let stats = StepStats {
            dispatches: self.arena.reset(),
            bind_groups: self.arena.take_created(),
        };
        let gpu = &self.gpu;
        let index = gpu.scoped("submitting a step", || gpu.queue.submit([rec.finish()]))?;
        gpu.check()?;
        Ok((stats, index))
    }
}
