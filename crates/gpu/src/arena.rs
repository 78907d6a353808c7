//! Parameters and bind groups of a step, kept from step to step.
//!
//! An [`Arena`] gives dispatch i of a step slot i: the i-th aligned range
//! of a set of uniform buffers (made once, in chunks, as the steps grow).
//! The parameters are written to a host copy while the step is recorded
//! and uploaded in one write per chunk before it is submitted
//! ([`Arena::upload`]). Slot i keeps the bind group it was last given:
//! when the next step's dispatch i binds the same kernel and buffers (a
//! decode step of the same shape does), it is reused, so a steady decode
//! loop creates no buffers and no bind groups.

use std::sync::Arc;

use crate::device::Gpu;
use crate::error::GpuError;
use crate::kernel::{bind_group, KernelId};

/// Slots per uniform buffer.
const CHUNK_SLOTS: usize = 256;
/// The most parameter words a kernel takes.
const MAX_WORDS: usize = 16;

/// A buffer binding as kept for comparison.
#[derive(PartialEq)]
struct Binding {
    binding: u32,
    buffer: wgpu::Buffer,
    offset: u64,
    size: Option<wgpu::BufferSize>,
}

/// What slot i was last bound to.
struct Bound {
    id: KernelId,
    words: usize,
    buffers: Vec<Binding>,
    pipeline: Arc<wgpu::ComputePipeline>,
    group: wgpu::BindGroup,
}

/// The uniform slots and bind groups of a step (see the module comment).
pub struct Arena {
    /// Bytes per slot (the device's uniform offset alignment).
    slot: u64,
    max_groups: u32,
    chunks: Vec<wgpu::Buffer>,
    /// The host copy of the step's parameters: [used, slot / 4] words.
    words: Vec<u32>,
    used: usize,
    bound: Vec<Option<Bound>>,
    /// Bind groups made since [`Arena::take_created`].
    created: usize,
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("slots", &self.bound.len())
            .field("used", &self.used)
            .finish()
    }
}

/// Whether two kernel ids are the same kernel (the sources compared by
/// address: the same constant gives the same text).
fn same_kernel(a: &KernelId, b: &KernelId) -> bool {
    a.entry == b.entry
        && a.family == b.family
        && std::ptr::eq(a.source, b.source)
        && std::ptr::eq(a.variant, b.variant)
}

impl Arena {
    pub fn new(gpu: &Gpu) -> Arena {
        let l = gpu.limits();
        Arena {
            slot: (l.min_uniform_buffer_offset_alignment as u64).max(4 * MAX_WORDS as u64),
            max_groups: l.max_compute_workgroups_per_dimension,
            chunks: Vec::new(),
            words: Vec::new(),
            used: 0,
            bound: Vec::new(),
            created: 0,
        }
    }

    /// The device's workgroups per grid dimension.
    pub fn max_groups(&self) -> u32 {
        self.max_groups
    }

    /// Dispatches recorded since the last [`Arena::reset`].
    pub fn dispatches(&self) -> usize {
        self.used
    }

    /// Bind groups created since the last call (0 in a steady decode loop).
    pub fn take_created(&mut self) -> usize {
        std::mem::take(&mut self.created)
    }

    /// The next slot for `id` with `params` and `buffers`: its pipeline
    /// and bind group (reused when slot i was bound the same way before).
    pub(crate) fn bind<'r>(
        &mut self,
        gpu: &Gpu,
        id: KernelId,
        params: &[u32],
        buffers: impl Iterator<Item = (u32, wgpu::BindingResource<'r>)> + Clone,
    ) -> Result<(Arc<wgpu::ComputePipeline>, wgpu::BindGroup), GpuError> {
        if params.len() > MAX_WORDS {
            return Err(GpuError::Unsupported(format!(
                "{}: {} parameter words, at most {MAX_WORDS}",
                id.entry,
                params.len()
            )));
        }
        let i = self.used;
        let sw = self.slot as usize / 4;
        if self.words.len() < (i + 1) * sw {
            self.words.resize((i + 1) * sw, 0);
            self.bound.resize_with(i + 1, || None);
        }
        if i / CHUNK_SLOTS >= self.chunks.len() {
            self.chunks
                .push(gpu.device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("params"),
                    size: self.slot * CHUNK_SLOTS as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }));
        }
        let w = &mut self.words[i * sw..(i + 1) * sw];
        w[..params.len()].copy_from_slice(params);
        w[params.len()..].fill(0);
        self.used += 1;
        let words = params.len().next_multiple_of(4).max(4);
        if let Some(b) = &self.bound[i] {
            if same_kernel(&b.id, &id)
                && b.words == words
                && same_buffers(&b.buffers, buffers.clone())
            {
                return Ok((b.pipeline.clone(), b.group.clone()));
            }
        }
        let pipeline = gpu.pipeline(id)?;
        let uniform = wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.chunks[i / CHUNK_SLOTS],
            offset: (i % CHUNK_SLOTS) as u64 * self.slot,
            size: wgpu::BufferSize::new(4 * words as u64),
        });
        let group = bind_group(gpu, id, &pipeline, uniform, buffers.clone())?;
        let kept = buffers
            .filter_map(|(binding, r)| match r {
                wgpu::BindingResource::Buffer(b) => Some(Binding {
                    binding,
                    buffer: b.buffer.clone(),
                    offset: b.offset,
                    size: b.size,
                }),
                _ => None,
            })
            .collect();
        self.created += 1;
        self.bound[i] = Some(Bound {
            id,
            words,
            buffers: kept,
            pipeline: pipeline.clone(),
            group: group.clone(),
        });
        Ok((pipeline, group))
    }

    /// Writes the step's parameters to the uniform buffers (before the
    /// submission that reads them).
    pub fn upload(&self, queue: &wgpu::Queue) {
        let sw = self.slot as usize / 4;
        for (c, chunk) in self.chunks.iter().enumerate() {
            let first = c * CHUNK_SLOTS;
            if first >= self.used {
                break;
            }
            let end = self.used.min(first + CHUNK_SLOTS);
            queue.write_buffer(
                chunk,
                0,
                bytemuck::cast_slice(&self.words[first * sw..end * sw]),
            );
        }
    }

    /// Starts a new step at slot 0; returns the dispatches of the last.
    pub fn reset(&mut self) -> usize {
        std::mem::take(&mut self.used)
    }
}

/// Whether `kept` are exactly `buffers` (buffer bindings only).
fn same_buffers<'r>(
    kept: &[Binding],
    buffers: impl Iterator<Item = (u32, wgpu::BindingResource<'r>)>,
) -> bool {
    let mut n = 0;
    for (binding, r) in buffers {
        let wgpu::BindingResource::Buffer(b) = r else {
            return false;
        };
        match kept.get(n) {
            Some(k)
                if k.binding == binding
                    && &k.buffer == b.buffer
                    && k.offset == b.offset
                    && k.size == b.size => {}
            _ => return false,
        }
        n += 1;
    }
    n == kept.len()
}
