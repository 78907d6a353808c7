//! The device every GPU test runs on: SwiftShader's Vulkan ICD when
//! `VK_DRIVER_FILES` is unset and the ICD is installed (Debian's
//! `chromium-common`), else whatever the loader finds. Without an adapter
//! the tests are skipped with a note, and fail when `CI` is set.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use gpu::software::{vulkan_driver_files, DRIVER_VAR};
use gpu::Gpu;

/// The shared device, or `None` (skip) when there is none outside CI.
pub fn gpu() -> Option<&'static Gpu> {
    shared().map(|g| &**g)
}

/// The shared device as an `Arc` (for a backend that keeps it).
pub fn shared() -> Option<&'static Arc<Gpu>> {
    static GPU: OnceLock<Option<Arc<Gpu>>> = OnceLock::new();
    GPU.get_or_init(|| open().map(Arc::new)).as_ref()
}

/// A device of its own (e.g. with a longer wait than the shared one's),
/// or `None` (skip) when there is none outside CI.
pub fn open() -> Option<Gpu> {
    if std::env::var_os(DRIVER_VAR).is_none() {
        if let Some(icd) = vulkan_driver_files() {
            // Before any Vulkan instance exists; the loader reads it once.
            std::env::set_var(DRIVER_VAR, icd);
        }
    }
    match Gpu::open(None) {
        Ok(g) => {
            eprintln!(
                "GPU: {} ({}, {}, driver {}), packed dot: {}",
                g.info.name,
                g.info.backend,
                g.info.device_type,
                g.info.driver,
                g.packed_dot()
            );
            Some(g)
        }
        Err(e) => {
            test_support::missing(
                format!("a GPU adapter ({e})"),
                "apt-get install chromium-common libvulkan1 for SwiftShader",
            );
            None
        }
    }
}
