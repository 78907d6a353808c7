//! A step's read: the step is submitted together with the copy of what the
//! sampler needs (each row's top-k, found on the device, or the logits
//! rows) into a mappable buffer, which is mapped asynchronously; the host
//! copies out of it once the map completes.

use std::sync::{Arc, Mutex};

use model::backend::{ReadKind, Readout};

#[cfg(not(target_arch = "wasm32"))]
use super::read_native as platform;
#[cfg(target_arch = "wasm32")]
use super::read_web as platform;
use crate::device::Gpu;
use crate::error::GpuError;

/// The map result, set by the map callback.
pub(super) type MapDone = Arc<Mutex<Option<Result<(), wgpu::BufferAsyncError>>>>;

/// Whether the map callback has run.
pub(super) fn finished(done: &MapDone) -> bool {
    done.lock().unwrap_or_else(|e| e.into_inner()).is_some()
}

/// A read in flight.
#[derive(Clone, Debug)]
pub(super) struct Pending {
    kind: ReadKind,
    rows: usize,
    /// Bytes mapped.
    bytes: u64,
    /// The submission the read waits for (none for an empty read; unused in
    /// the browser, whose reads never wait).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    pub(super) index: Option<wgpu::SubmissionIndex>,
}

/// Buffers of reads and their host copies.
pub(crate) struct Reader {
    n_vocab: usize,
    /// Device top-k results: [rows, k] ids and values.
    pub(crate) top_ids: wgpu::Buffer,
    pub(crate) top_vals: wgpu::Buffer,
    /// Mappable: logits, or ids then values.
    pub(crate) staging: wgpu::Buffer,
    pending: Option<Pending>,
    done: MapDone,
    /// The last completed read.
    last: Option<Pending>,
    logits: Vec<f32>,
    ids: Vec<u32>,
    vals: Vec<f32>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("pending", &self.pending)
            .finish()
    }
}

fn staging(gpu: &Gpu, bytes: u64) -> wgpu::Buffer {
    gpu.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("read.staging"),
        size: bytes.next_multiple_of(4).max(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl Reader {
    /// Buffers for reads of up to `rows` rows of `n_vocab` logits (top-k
    /// buffers for k = 1; a larger k grows them on its first read).
    pub(crate) fn new(gpu: &Gpu, rows: usize, n_vocab: usize) -> Reader {
        Reader {
            n_vocab,
            top_ids: gpu.storage("read.top_ids", 4 * rows as u64),
            top_vals: gpu.storage("read.top_vals", 4 * rows as u64),
            staging: staging(gpu, 4 * (rows * n_vocab) as u64),
            pending: None,
            done: Arc::new(Mutex::new(None)),
            last: None,
            logits: vec![0.0; rows * n_vocab],
            ids: Vec::new(),
            vals: Vec::new(),
        }
    }

    /// Makes room for `[rows, k]` top-k results (grows, never shrinks).
    pub(crate) fn fit_top_k(&mut self, gpu: &Gpu, rows: usize, k: usize) {
        let bytes = 4 * (rows * k) as u64;
        if self.top_ids.size() < bytes {
            self.top_ids = gpu.storage("read.top_ids", bytes);
            self.top_vals = gpu.storage("read.top_vals", bytes);
        }
        if self.staging.size() < 2 * bytes {
            self.staging = staging(gpu, 2 * bytes);
        }
    }

    /// Records the copies of a read of `rows` rows of `kind` from
    /// `logits` (the top-k already recorded) into the staging buffer.
    pub(crate) fn copy(
        &mut self,
        enc: &mut wgpu::CommandEncoder,
        logits: &wgpu::Buffer,
        rows: usize,
        kind: ReadKind,
    ) {
        let bytes = match kind {
            ReadKind::Logits => {
                let n = 4 * (rows * self.n_vocab) as u64;
                enc.copy_buffer_to_buffer(logits, 0, &self.staging, 0, n);
                n
            }
            ReadKind::TopK(k) => {
                let n = 4 * (rows * k) as u64;
                enc.copy_buffer_to_buffer(&self.top_ids, 0, &self.staging, 0, n);
                enc.copy_buffer_to_buffer(&self.top_vals, 0, &self.staging, n, n);
                2 * n
            }
        };
        self.pending = Some(Pending {
            kind,
            rows,
            bytes,
            index: None,
        });
    }

    /// Starts mapping what [`Reader::copy`] recorded, after `index`.
    pub(crate) fn map(&mut self, index: wgpu::SubmissionIndex) {
        if let Some(p) = &mut self.pending {
            p.index = Some(index);
        }
        self.start_map();
    }

    fn start_map(&mut self) {
        let Some(p) = &self.pending else { return };
        let bytes = p.bytes;
        *self.done.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if bytes == 0 {
            *self.done.lock().unwrap_or_else(|e| e.into_inner()) = Some(Ok(()));
            return;
        }
        let done = self.done.clone();
        self.staging
            .slice(..bytes)
            .map_async(wgpu::MapMode::Read, move |r| {
                *done.lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
            });
    }

    /// An empty read (nothing to map).
    pub(crate) fn empty(&mut self, kind: ReadKind) {
        self.pending = Some(Pending {
            kind,
            rows: 0,
            bytes: 0,
            index: None,
        });
        self.start_map();
    }

    /// Whether the read in flight completed (never blocks).
    pub(crate) fn ready(&mut self, gpu: &Gpu) -> bool {
        self.pending.is_none() || platform::ready(gpu, &self.done)
    }

    /// Waits for the read in flight and copies it to the host (in the
    /// browser: fails without waiting while it is not [`Reader::ready`],
    /// and the read stays in flight).
    pub(crate) fn wait(&mut self, gpu: &Gpu) -> Result<(), GpuError> {
        let Some(p) = self.pending.take() else {
            return Ok(());
        };
        if let Err(e) = platform::settle(gpu, &p, &self.done) {
            if platform::KEEP_UNFINISHED && !finished(&self.done) {
                self.pending = Some(p);
            }
            return Err(e);
        }
        let r = self.done.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(Err(e)) = r {
            return Err(GpuError::Device {
                what: "mapping a step's read".into(),
                reason: e.to_string(),
            });
        }
        if p.bytes > 0 {
            self.copy_out(&p)?;
        }
        self.last = Some(p);
        Ok(())
    }

    fn copy_out(&mut self, p: &Pending) -> Result<(), GpuError> {
        let slice = self.staging.slice(..p.bytes);
        let view = slice.get_mapped_range().map_err(|e| GpuError::Device {
            what: "viewing a step's read".into(),
            reason: e.to_string(),
        })?;
        let words: &[u32] = bytemuck::cast_slice(&view);
        match p.kind {
            ReadKind::Logits => {
                let n = p.rows * self.n_vocab;
                for (d, s) in self.logits[..n].iter_mut().zip(words) {
                    *d = f32::from_bits(*s);
                }
            }
            ReadKind::TopK(k) => {
                let n = p.rows * k;
                self.ids.resize(n, 0);
                self.vals.resize(n, 0.0);
                // the kernel marks slots past the row's numbers with !0;
                // the host's top_k pads them with id 0 and -inf
                for (j, (&id, &v)) in words[..n].iter().zip(&words[n..2 * n]).enumerate() {
                    let none = id == u32::MAX;
                    self.ids[j] = if none { 0 } else { id };
                    self.vals[j] = if none {
                        f32::NEG_INFINITY
                    } else {
                        f32::from_bits(v)
                    };
                }
            }
        }
        drop(view);
        self.staging.unmap();
        Ok(())
    }

    /// The last completed read.
    pub(crate) fn readout(&self) -> Readout<'_> {
        let Some(p) = &self.last else {
            return Readout::Logits(&[]);
        };
        match p.kind {
            ReadKind::Logits => Readout::Logits(&self.logits[..p.rows * self.n_vocab]),
            ReadKind::TopK(k) => Readout::TopK {
                k,
                ids: &self.ids[..p.rows * k],
                logits: &self.vals[..p.rows * k],
            },
        }
    }
}
