//! `wasm-chord info --gpu`: the GPU adapters wgpu finds, with the limits
//! and features the GPU backend depends on.

use anyhow::Result;
use gpu::AdapterReport;
use serde_json::{json, Value};

/// Every adapter, or an error naming what to install when there is none.
pub fn detect() -> Result<Vec<AdapterReport>> {
    Ok(gpu::adapter::require_adapters()?)
}

/// The limits that matter to the kernels, by their WebGPU names.
fn limits(a: &AdapterReport) -> Vec<(&'static str, u64)> {
    let l = &a.limits;
    vec![
        (
            "maxStorageBufferBindingSize",
            l.max_storage_buffer_binding_size,
        ),
        ("maxBufferSize", l.max_buffer_size),
        (
            "maxStorageBuffersPerShaderStage",
            l.max_storage_buffers_per_shader_stage as u64,
        ),
        (
            "maxComputeWorkgroupSizeX",
            l.max_compute_workgroup_size_x as u64,
        ),
        (
            "maxComputeInvocationsPerWorkgroup",
            l.max_compute_invocations_per_workgroup as u64,
        ),
        (
            "maxComputeWorkgroupStorageSize",
            l.max_compute_workgroup_storage_size as u64,
        ),
        (
            "maxComputeWorkgroupsPerDimension",
            l.max_compute_workgroups_per_dimension as u64,
        ),
        (
            "minStorageBufferOffsetAlignment",
            l.min_storage_buffer_offset_alignment as u64,
        ),
        ("subgroupMinSize", a.subgroup_sizes.0 as u64),
        ("subgroupMaxSize", a.subgroup_sizes.1 as u64),
    ]
}

/// Feature names, e.g. `SUBGROUP`, `SHADER_F16`.
fn features(a: &AdapterReport) -> Vec<String> {
    a.features
        .iter_names()
        .map(|(n, _)| n.to_string())
        .collect()
}

pub fn text(all: &[AdapterReport]) -> String {
    let mut s = format!("GPU adapters: {}\n", all.len());
    for a in all {
        s += &format!(
            "  [{}] {} ({}, {}{})\n      driver: {} {}\n",
            a.index,
            a.name,
            a.backend,
            a.device_type,
            if a.software { ", software" } else { "" },
            a.driver,
            a.driver_info
        );
        s += &format!(
            "      binding limit used for weights: {} bytes; dot4I8Packed: {}\n      limits:\n",
            a.max_binding_bytes(),
            if a.packed_dot { "yes" } else { "no" }
        );
        for (k, v) in limits(a) {
            s += &format!("        {k:<36} {v}\n");
        }
        s += &format!("      features: {}\n", features(a).join(" "));
    }
    s
}

pub fn json(all: &[AdapterReport]) -> Value {
    let list: Vec<Value> = all
        .iter()
        .map(|a| {
            let lim: serde_json::Map<String, Value> = limits(a)
                .into_iter()
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect();
            json!({
                "index": a.index,
                "name": a.name,
                "backend": a.backend,
                "device_type": a.device_type,
                "software": a.software,
                "driver": a.driver,
                "driver_info": a.driver_info,
                "vendor": a.vendor,
                "device": a.device,
                "packed_dot": a.packed_dot,
                "max_binding_bytes": a.max_binding_bytes(),
                "limits": lim,
                "features": features(a),
            })
        })
        .collect();
    json!({ "adapters": list })
}
