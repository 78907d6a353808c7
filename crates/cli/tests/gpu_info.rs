//! `info --gpu` on SwiftShader's Vulkan ICD, and without any driver.

use std::process::Output;

mod common;

fn info_gpu(driver_files: &str, extra: &[&str]) -> Output {
    common::with_driver(driver_files, &[&["info", "--gpu"][..], extra].concat())
}

fn driver() -> Option<String> {
    common::vulkan_driver()
}

#[test]
fn lists_the_adapter_with_limits_and_features() {
    let Some(d) = driver() else { return };
    let out = info_gpu(&d, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("GPU adapters: "), "{text}");
    assert!(text.contains("maxStorageBufferBindingSize"), "{text}");
    assert!(text.contains("features:"), "{text}");
    if d.contains("swiftshader") {
        assert!(text.contains("SwiftShader"), "{text}");
        assert!(text.contains("software"), "{text}");
    }

    let out = info_gpu(&d, &["--json"]);
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let a = &j["adapters"][0];
    assert!(
        a["limits"]["maxStorageBufferBindingSize"].as_u64().unwrap() > 0,
        "{j}"
    );
    assert_eq!(
        a["max_binding_bytes"].as_u64().unwrap(),
        a["limits"]["maxStorageBufferBindingSize"]
            .as_u64()
            .unwrap()
            .min(a["limits"]["maxBufferSize"].as_u64().unwrap())
            - 256
    );
    assert!(a["features"].is_array());
}

#[test]
fn no_adapter_is_a_readable_error() {
    let out = info_gpu("/nonexistent/no_icd.json", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(err.contains("no GPU adapter found"), "{err}");
    assert!(err.contains("VK_DRIVER_FILES"), "{err}");
}
