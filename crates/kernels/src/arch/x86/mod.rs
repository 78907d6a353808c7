//! x86-64 SIMD kernels. Each submodule is one instruction set; its table is
//! handed out only after run-time detection (see `arch::table`).

pub(crate) mod act_q8;
pub(super) mod avx2;
pub(super) mod avx512;
