//! Compiled kernels and the encoder that records their dispatches.
//!
//! A kernel is one WGSL entry point of one shader family (`shaders/*.wgsl`),
//! compiled with the shared prelude (`shaders/common.wgsl`) and a variant
//! snippet (e.g. the integer dot with or without `dot4I8Packed`). Pipelines
//! are compiled once per device and cached. Parameters go in a small
//! uniform buffer of u32 words (f32 as bits) per dispatch, or, for an
//! encoder over an [`Arena`], in a slot of the arena's uniform buffers,
//! with the bind group of the slot kept for the next step of that shape.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use crate::arena::Arena;
use crate::device::Gpu;
use crate::error::GpuError;

const PRELUDE: &str = include_str!("shaders/common.wgsl");

/// Which shader text and entry point: `family` names the WGSL file
/// (for messages and the cache), `variant` is WGSL prepended to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelId {
    pub family: &'static str,
    pub source: &'static str,
    pub entry: &'static str,
    pub variant: &'static str,
}

/// The per-device pipeline cache.
#[derive(Default)]
pub(crate) struct Pipelines(Mutex<HashMap<KernelId, Arc<wgpu::ComputePipeline>>>);

impl Gpu {
    /// The pipeline of `id`, compiled on first use.
    pub fn pipeline(&self, id: KernelId) -> Result<Arc<wgpu::ComputePipeline>, GpuError> {
        let mut cache = self.pipelines.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(&id) {
            return Ok(p.clone());
        }
        let src = format!("{}\n{PRELUDE}\n{}", id.variant, id.source);
        let what = format!("compiling {}::{}", id.family, id.entry);
        let p = self.scoped(&what, || {
            let module = self
                .device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(id.family),
                    source: wgpu::ShaderSource::Wgsl(src.into()),
                });
            self.device
                .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(id.entry),
                    layout: None,
                    module: &module,
                    entry_point: Some(id.entry),
                    compilation_options: Default::default(),
                    cache: None,
                })
        })?;
        let p = Arc::new(p);
        cache.insert(id, p.clone());
        Ok(p)
    }

    /// A storage buffer holding `bytes` (padded with zeros to 4 bytes).
    pub fn storage_init(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        let mut padded;
        let contents = if bytes.len().is_multiple_of(4) && !bytes.is_empty() {
            bytes
        } else {
            padded = bytes.to_vec();
            padded.resize(bytes.len().next_multiple_of(4).max(4), 0);
            &padded
        };
        self.device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some(label),
                contents,
                usage: storage_usage(),
            })
    }

    /// A zeroed storage buffer of `bytes` (at least 4).
    pub fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.next_multiple_of(4).max(4),
            usage: storage_usage(),
            mapped_at_creation: false,
        })
    }

    /// A recorder of dispatches for one submission.
    pub fn encoder(&self) -> Encoder<'_> {
        Encoder {
            gpu: self,
            enc: self.device.create_command_encoder(&Default::default()),
            dispatches: 0,
            arena: None,
        }
    }
}

/// Storage buffers are read and written by kernels and copied both ways.
pub fn storage_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

/// Records dispatches; [`Encoder::submit`] sends them in one submission.
pub struct Encoder<'g> {
    pub gpu: &'g Gpu,
    pub enc: wgpu::CommandEncoder,
    dispatches: usize,
    /// Where parameters and bind groups live across steps, if anywhere.
    arena: Option<&'g mut Arena>,
}

impl<'g> Encoder<'g> {
    /// Records on `enc` (taken back by [`Encoder::finish_recording`]) with
    /// parameters in `arena`'s slots: dispatch i of a step reuses slot i's
    /// bind group when it binds the same kernel and buffers.
    pub fn with_arena(
        gpu: &'g Gpu,
        enc: wgpu::CommandEncoder,
        arena: &'g mut Arena,
    ) -> Encoder<'g> {
        Encoder {
            gpu,
            enc,
            dispatches: 0,
            arena: Some(arena),
        }
    }

    /// The command encoder, to continue recording later.
    pub fn finish_recording(self) -> wgpu::CommandEncoder {
        self.enc
    }
    /// Records `id` over `groups` workgroups with `buffers` at bindings
    /// 1.. of group 0 and `params` (u32 words) as the uniform at binding 0.
    pub fn dispatch(
        &mut self,
        id: KernelId,
        params: &[u32],
        buffers: &[wgpu::BindingResource<'_>],
        groups: [u32; 3],
    ) -> Result<(), GpuError> {
        self.record(id, params, (1..).zip(buffers.iter().cloned()), groups)
    }

    /// [`Encoder::dispatch`] with explicit binding numbers (entry points of
    /// one shader that use different subsets of its bindings).
    pub fn dispatch_at(
        &mut self,
        id: KernelId,
        params: &[u32],
        buffers: &[(u32, wgpu::BindingResource<'_>)],
        groups: [u32; 3],
    ) -> Result<(), GpuError> {
        self.record(id, params, buffers.iter().cloned(), groups)
    }

    fn record<'r>(
        &mut self,
        id: KernelId,
        params: &[u32],
        buffers: impl Iterator<Item = (u32, wgpu::BindingResource<'r>)> + Clone,
        groups: [u32; 3],
    ) -> Result<(), GpuError> {
        let max = match &self.arena {
            Some(a) => a.max_groups(),
            None => self.gpu.limits().max_compute_workgroups_per_dimension,
        };
        if groups.iter().any(|&g| g > max) {
            return Err(GpuError::Unsupported(format!(
                "{}: {groups:?} workgroups, the device allows {max} per dimension",
                id.entry
            )));
        }
        let gpu = self.gpu;
        let (pipeline, bind) = match self.arena.as_deref_mut() {
            Some(arena) => arena.bind(gpu, id, params, buffers)?,
            None => {
                let pipeline = gpu.pipeline(id)?;
                let mut words = params.to_vec();
                words.resize(params.len().next_multiple_of(4).max(4), 0);
                let uniform = gpu
                    .device
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("params"),
                        contents: bytemuck::cast_slice(&words),
                        usage: wgpu::BufferUsages::UNIFORM,
                    });
                let bind = bind_group(gpu, id, &pipeline, uniform.as_entire_binding(), buffers)?;
                (pipeline, bind)
            }
        };
        let mut pass = self.enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind, &[]);
        pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        self.dispatches += 1;
        Ok(())
    }

    /// The workgroup grid covering `n` items, `per` a workgroup.
    pub fn groups(&self, n: u32, per: u32) -> [u32; 3] {
        let max = match &self.arena {
            Some(a) => a.max_groups(),
            None => self.gpu.limits().max_compute_workgroups_per_dimension,
        };
        grid(n, per, max)
    }

    /// Dispatches recorded so far.
    pub fn dispatches(&self) -> usize {
        self.dispatches
    }

    /// Submits everything recorded (does not wait).
    pub fn submit(self) -> Result<(), GpuError> {
        let gpu = self.gpu;
        gpu.scoped("submitting", || gpu.queue.submit([self.enc.finish()]))?;
        gpu.check()
    }
}

/// The bind group of `pipeline` with `uniform` at binding 0 and `buffers`.
pub(crate) fn bind_group<'r>(
    gpu: &Gpu,
    id: KernelId,
    pipeline: &wgpu::ComputePipeline,
    uniform: wgpu::BindingResource<'_>,
    buffers: impl Iterator<Item = (u32, wgpu::BindingResource<'r>)>,
) -> Result<wgpu::BindGroup, GpuError> {
    let mut entries = vec![wgpu::BindGroupEntry {
        binding: 0,
        resource: uniform,
    }];
    entries.extend(buffers.map(|(binding, resource)| wgpu::BindGroupEntry { binding, resource }));
    let what = format!("binding {}::{}", id.family, id.entry);
    gpu.scoped(&what, || {
        gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(id.entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        })
    })
}

/// Workgroups of `per` invocations to cover `n` items, as an `[x, y, 1]`
/// grid within the per-dimension limit (kernels flatten `x + y * nx`).
pub fn grid(n: u32, per: u32, max_per_dim: u32) -> [u32; 3] {
    let g = n.div_ceil(per).max(1);
    if g <= max_per_dim {
        [g, 1, 1]
    } else {
        [max_per_dim, g.div_ceil(max_per_dim), 1]
    }
}
