//! What can go wrong on the device, named so a user can act on it.

use std::time::Duration;

/// A GPU failure.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    /// No adapter at all (no driver, or none that wgpu can use).
    #[error(
        "no GPU adapter found (backends tried: {backends}); on Linux without a GPU, \
         point VK_DRIVER_FILES at a software Vulkan driver such as SwiftShader \
         (/usr/lib/chromium/vk_swiftshader_icd.json from Debian's chromium-common)"
    )]
    NoAdapter { backends: String },
    /// The adapter refused the device.
    #[error("adapter {adapter:?} refused a device: {reason}")]
    RequestDevice { adapter: String, reason: String },
    /// The device was lost (driver reset, out of memory, destroyed).
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
    /// A wait on the device did not finish in time.
    #[error("GPU did not finish {what} within {timeout:?}")]
    Timeout {
        what: &'static str,
        timeout: Duration,
    },
    /// The device reported an error (validation, out of memory) for an operation.
    #[error("GPU error in {what}: {reason}")]
    Device { what: String, reason: String },
    /// A request the device cannot serve (a size beyond its limits, ...).
    #[error("{0}")]
    Unsupported(String),
    /// Bad arguments to an op (lengths, shapes, types).
    #[error("{op}: {reason}")]
    Shape { op: &'static str, reason: String },
}
