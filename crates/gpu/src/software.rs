//! Software Vulkan drivers, for machines without a GPU (tests, CI).

use std::path::Path;

/// SwiftShader's Vulkan ICD as Debian's `chromium-common` installs it.
pub const SWIFTSHADER_ICD: &str = "/usr/lib/chromium/vk_swiftshader_icd.json";

/// The environment variable the Vulkan loader reads its driver list from.
pub const DRIVER_VAR: &str = "VK_DRIVER_FILES";

/// The driver list to hand the Vulkan loader: `VK_DRIVER_FILES` when set,
/// else SwiftShader's ICD when that file exists, else `None` (the loader's
/// own search).
pub fn vulkan_driver_files() -> Option<String> {
    if let Ok(v) = std::env::var(DRIVER_VAR) {
        if !v.is_empty() {
            return Some(v);
        }
    }
    Path::new(SWIFTSHADER_ICD)
        .exists()
        .then(|| SWIFTSHADER_ICD.to_string())
}
