//! Adapter discovery and weight upload on the test device.

mod common;

use gguf::GgmlType;
use gpu::GpuTensor;
use kernels::testdata::data::{row, Data};
use kernels::testdata::Rng;

#[test]
fn adapter_limits_and_binding_size() {
    let Some(g) = common::gpu() else { return };
    let l = g.limits();
    assert!(l.max_storage_buffer_binding_size > 0);
    assert_eq!(
        g.max_binding_bytes(),
        l.max_storage_buffer_binding_size.min(l.max_buffer_size) - 256
    );
    assert!(gpu::adapters().iter().any(|a| a.name == g.info.name));
}

/// Q8_0 rows of 3 blocks (102 bytes: parts hold pairs of rows) split into
/// parts of at most 450 bytes, uploaded and read back byte for byte.
#[test]
fn split_upload_round_trip() {
    let Some(g) = common::gpu() else { return };
    let mut rng = Rng(0x5917);
    for (ty, cols, rows, max) in [
        (GgmlType::Q8_0, 96, 11, 450),
        (GgmlType::Q4_K, 512, 9, 1000),
        (GgmlType::F16, 7, 13, 40),
        (GgmlType::Q8_0, 32, 5, 1 << 20),
    ] {
        let data: Vec<u8> = (0..rows)
            .flat_map(|_| row(&mut rng, ty, cols, Data::Raw).bytes().to_vec())
            .collect();
        let t = GpuTensor::upload_max(g, ty, rows, cols, &data, max).unwrap();
        let want_parts = gpu::split::split_rows(rows, t.row_bytes, max)
            .unwrap()
            .len();
        assert_eq!(t.parts.len(), want_parts, "{ty}");
        assert_eq!(
            t.read_back(g).unwrap(),
            data,
            "{ty} [{rows}, {cols}] max {max}"
        );
    }
}

/// One part as large as a binding may be (SwiftShader: 1 GiB − 256 bytes)
/// allocates, and its last bytes read back.
#[test]
fn largest_binding_allocates() {
    let Some(g) = common::gpu() else { return };
    let max = g.max_binding_bytes().min(1 << 30);
    let buf = g.storage("largest", max);
    let tail: Vec<u8> = (0..256u32).map(|i| i as u8).collect();
    g.queue.write_buffer(&buf, max - 256, &tail);
    assert_eq!(g.read_bytes(&buf, max - 256, 256).unwrap(), tail);
}

/// A destroyed device is a `DeviceLost` error on the next operation, not
/// a hang (its own device: the shared one stays usable).
#[test]
fn lost_device_is_an_error() {
    let Some(shared) = common::gpu() else { return };
    let g = gpu::Gpu::open(Some(shared.info.index)).unwrap();
    let buf = g.storage_init("x", &[1, 2, 3, 4]);
    assert_eq!(g.read_bytes(&buf, 0, 4).unwrap(), [1, 2, 3, 4]);
    g.device.destroy();
    let err = g.read_bytes(&buf, 0, 4).unwrap_err();
    assert!(
        matches!(
            err,
            gpu::GpuError::DeviceLost(_) | gpu::GpuError::Device { .. }
        ),
        "{err}"
    );
    // the device's lost callback has run by the next wait
    match g.wait("after destroy") {
        Err(gpu::GpuError::DeviceLost(why)) => assert!(why.contains("Destroyed"), "{why}"),
        other => panic!("expected DeviceLost, got {other:?}"),
    }
    assert!(matches!(g.check(), Err(gpu::GpuError::DeviceLost(_))));
}

/// A wait longer than the device's bound is a `Timeout` error.
#[test]
fn wait_is_bounded() {
    let Some(shared) = common::gpu() else { return };
    let g = gpu::Gpu::open(Some(shared.info.index))
        .unwrap()
        .with_timeout(std::time::Duration::from_nanos(1));
    // top-40 of 1M logits: tens of milliseconds on a software device
    let n = 1 << 20;
    let x = g.storage("logits", 4 * n as u64);
    let (ids, vals) = (g.storage("ids", 160), g.storage("vals", 160));
    let mut enc = g.encoder();
    gpu::ops::topk::top_k(&mut enc, &x, n, 1, 40, &ids, &vals).unwrap();
    enc.submit().unwrap();
    match g.wait("top-k") {
        Err(gpu::GpuError::Timeout { what, .. }) => assert_eq!(what, "top-k"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}
