//! Adapter discovery: what devices wgpu sees and what each offers.

/// The backends this build asks wgpu for: WebGPU in the browser, the
/// native compute APIs elsewhere (no GLES: its compute is too limited).
pub fn backends() -> wgpu::Backends {
    if cfg!(target_arch = "wasm32") {
        wgpu::Backends::BROWSER_WEBGPU
    } else {
        wgpu::Backends::PRIMARY
    }
}

/// A wgpu instance on [`backends`].
pub fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends();
    wgpu::Instance::new(desc)
}

/// One adapter as a user needs to see it.
#[derive(Clone, Debug)]
pub struct AdapterReport {
    /// Position in the instance's enumeration (what `Gpu::open` takes).
    pub index: usize,
    pub name: String,
    /// "Vulkan", "Metal", "Dx12", "BrowserWebGpu".
    pub backend: String,
    /// "DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Cpu", "Other".
    pub device_type: String,
    pub driver: String,
    pub driver_info: String,
    pub vendor: u32,
    pub device: u32,
    /// Subgroup (wave) sizes the adapter may run.
    pub subgroup_sizes: (u32, u32),
    /// A CPU implementation (SwiftShader, lavapipe, WARP): correct, slow.
    pub software: bool,
    pub limits: wgpu::Limits,
    pub features: wgpu::Features,
    /// WGSL's `packed_4x8_integer_dot_product` (`dot4I8Packed`): natively
    /// always (naga lowers it to SPIR-V's packed dot or a polyfill), in the
    /// browser where the implementation exposes it.
    pub packed_dot: bool,
}

impl AdapterReport {
    pub(crate) fn new(index: usize, a: &wgpu::Adapter, packed_dot: bool) -> AdapterReport {
        let i = a.get_info();
        AdapterReport {
            index,
            name: i.name,
            backend: format!("{:?}", i.backend),
            device_type: format!("{:?}", i.device_type),
            driver: i.driver,
            driver_info: i.driver_info,
            vendor: i.vendor,
            device: i.device,
            subgroup_sizes: (i.subgroup_min_size, i.subgroup_max_size),
            software: i.device_type == wgpu::DeviceType::Cpu,
            limits: a.limits(),
            features: a.features(),
            packed_dot,
        }
    }

    /// The largest buffer this adapter's devices take for one storage
    /// binding, less 256 bytes: a buffer of exactly the reported limit fails
    /// to allocate on SwiftShader (native and in Chromium), 256 bytes less
    /// works (bench/results/gpu_probe_2026-12-07.md).
    pub fn max_binding_bytes(&self) -> u64 {
        max_binding_bytes(&self.limits)
    }
}

/// `min(maxStorageBufferBindingSize, maxBufferSize) − 256`, rounded down
/// to a multiple of 4 (bindings are `array<u32>`).
pub fn max_binding_bytes(l: &wgpu::Limits) -> u64 {
    let lim = l.max_storage_buffer_binding_size.min(l.max_buffer_size);
    lim.saturating_sub(256) & !3
}

/// Whether the instance's WGSL front end takes `dot4I8Packed`.
pub(crate) fn has_packed_dot(instance: &wgpu::Instance) -> bool {
    instance
        .wgsl_language_features()
        .contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct)
}

/// Every adapter of [`instance`], in enumeration order.
pub async fn adapters_async() -> Vec<AdapterReport> {
    let inst = instance();
    let packed = has_packed_dot(&inst);
    inst.enumerate_adapters(backends())
        .await
        .iter()
        .enumerate()
        .map(|(i, a)| AdapterReport::new(i, a, packed))
        .collect()
}

/// Every adapter wgpu finds (blocking; native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn adapters() -> Vec<AdapterReport> {
    pollster::block_on(adapters_async())
}

/// [`adapters`], or [`GpuError::NoAdapter`] when there is none.
#[cfg(not(target_arch = "wasm32"))]
pub fn require_adapters() -> Result<Vec<AdapterReport>, crate::error::GpuError> {
    let found = adapters();
    if found.is_empty() {
        return Err(crate::error::GpuError::NoAdapter {
            backends: format!("{:?}", backends()),
        });
    }
    Ok(found)
}
