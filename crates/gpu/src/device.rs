//! One opened device: the adapter's limits, bounded waits, a lost-device
//! flag and the device's uncaptured errors, so that every failure comes
//! back as a [`GpuError`] and no wait can hang.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::adapter::{self, AdapterReport};
use crate::error::GpuError;
use crate::kernel::Pipelines;

/// How long one wait on the device may take before it is an error. Software
/// devices are slow: a 1 GiB upload on SwiftShader takes seconds.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// An opened device with its queue.
pub struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: AdapterReport,
    timeout: Duration,
    /// Set by the device-lost callback.
    lost: Arc<Mutex<Option<String>>>,
    /// The first error no error scope caught.
    uncaptured: Arc<Mutex<Option<String>>>,
    pub(crate) pipelines: Pipelines,
}

impl std::fmt::Debug for Gpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.info.name)
            .finish()
    }
}

impl Gpu {
    /// Opens adapter `index` of the enumeration (the first when `None`)
    /// with every limit the adapter offers.
    pub async fn open_async(index: Option<usize>) -> Result<Gpu, GpuError> {
        let inst = adapter::instance();
        let packed = adapter::has_packed_dot(&inst);
        let mut all = inst.enumerate_adapters(adapter::backends()).await;
        if all.is_empty() {
            return Err(GpuError::NoAdapter {
                backends: format!("{:?}", adapter::backends()),
            });
        }
        let i = index.unwrap_or(0);
        if i >= all.len() {
            return Err(GpuError::Unsupported(format!(
                "adapter {i} asked for, {} found",
                all.len()
            )));
        }
        let a = all.swap_remove(i);
        let info = AdapterReport::new(i, &a, packed);
        let desc = wgpu::DeviceDescriptor {
            label: Some("wasm-chord"),
            required_features: wgpu::Features::empty(),
            required_limits: a.limits(),
            ..Default::default()
        };
        let (device, queue) =
            a.request_device(&desc)
                .await
                .map_err(|e| GpuError::RequestDevice {
                    adapter: info.name.clone(),
                    reason: e.to_string(),
                })?;
        let lost = Arc::new(Mutex::new(None));
        let l = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            *l.lock().unwrap_or_else(|p| p.into_inner()) = Some(format!("{reason:?}: {msg}"));
        });
        let uncaptured = Arc::new(Mutex::new(None));
        let u = uncaptured.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            u.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get_or_insert_with(|| e.to_string());
        }));
        Ok(Gpu {
            device,
            queue,
            info,
            timeout: DEFAULT_TIMEOUT,
            lost,
            uncaptured,
            pipelines: Pipelines::default(),
        })
    }

    /// [`Gpu::open_async`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open(index: Option<usize>) -> Result<Gpu, GpuError> {
        pollster::block_on(Gpu::open_async(index))
    }

    /// The same device with another bound on each wait.
    pub fn with_timeout(mut self, timeout: Duration) -> Gpu {
        self.timeout = timeout;
        self
    }

    /// The device's limits (the adapter's, as requested).
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Bytes one storage binding may hold here (see
    /// [`adapter::max_binding_bytes`]).
    pub fn max_binding_bytes(&self) -> u64 {
        adapter::max_binding_bytes(&self.limits())
    }

    /// Whether kernels may use `dot4I8Packed`.
    pub fn packed_dot(&self) -> bool {
        self.info.packed_dot
    }

    /// Whether the device-lost callback has run.
    pub fn is_lost(&self) -> bool {
        self.lost
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// `Err` once the device is lost or reported an uncaught error.
    pub fn check(&self) -> Result<(), GpuError> {
        if let Some(why) = self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            return Err(GpuError::DeviceLost(why));
        }
        let uncaught = self
            .uncaptured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        match uncaught {
            Some(reason) => Err(GpuError::Device {
                what: "an earlier operation".into(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// Waits (at most the timeout) until the queue's work is done and its
    /// callbacks have run. The poll comes first: it is what runs a lost
    /// device's callback, so a lost device reads as `DeviceLost`.
    pub fn wait(&self, what: &'static str) -> Result<(), GpuError> {
        self.wait_for(None, what)
    }

    /// [`Gpu::wait`] for one submission only (`None`: all of them), so a
    /// thread is not held up by what others submit to the same device.
    pub fn wait_for(
        &self,
        submission: Option<wgpu::SubmissionIndex>,
        what: &'static str,
    ) -> Result<(), GpuError> {
        let r = self.device.poll(wgpu::PollType::Wait {
            submission_index: submission,
            timeout: Some(self.timeout),
        });
        self.check()?;
        match r {
            Ok(_) => Ok(()),
            Err(wgpu::PollError::Timeout) => Err(GpuError::Timeout {
                what,
                timeout: self.timeout,
            }),
            Err(e) => Err(GpuError::Device {
                what: what.into(),
                reason: e.to_string(),
            }),
        }
    }

    /// Runs `f`, turning the validation and out-of-memory errors it
    /// raises into `Err` (native: wgpu-core resolves the scopes at once).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn scoped<T>(&self, what: &str, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let val = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let v = pollster::block_on(val.pop());
        let m = pollster::block_on(oom.pop());
        match v.or(m) {
            Some(e) => Err(GpuError::Device {
                what: what.into(),
                reason: e.to_string(),
            }),
            None => Ok(out),
        }
    }

    /// In the browser error scopes resolve asynchronously: `f` runs
    /// unscoped and its errors arrive through the uncaptured-error hook,
    /// which the next [`Gpu::check`] reports.
    #[cfg(target_arch = "wasm32")]
    pub fn scoped<T>(&self, _what: &str, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        Ok(f())
    }
}
