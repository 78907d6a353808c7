//! The kernels, one module per WGSL family (`shaders/<family>.wgsl`).
