//! The integer kernels compiled with the `sdot` instruction (ARMv8.2
//! dot product, `FEAT_DotProd`): the generic bodies of `legacy` and
//! `kquant` instantiated with `Sdot` inside `#[target_feature(enable =
//! "dotprod")]` functions. They give bit-identical results to the baseline
//! (`Mull`) instantiations: both sum the same exact integers per sub-block.
//!
//! Callers: only `super`'s dotprod table, handed out after
//! `is_aarch64_feature_detected!("dotprod")`.

use super::common::Sdot;
use super::{kquant, legacy};
use crate::blocks::{BlockQ2K, BlockQ3K, BlockQ4K, BlockQ5K, BlockQ6K, BlockQ8K};
use crate::blocks::{BlockQ4_0, BlockQ4_1, BlockQ5_0, BlockQ5_1, BlockQ8_0, BlockQ8_1};

/// x: [nb] Q8_0 blocks (one weight row), y: [nb] Q8_0 blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q8_0_q8_0(x: &[BlockQ8_0], y: &[BlockQ8_0]) -> f32 {
    legacy::vec_dot_q8_0::<Sdot, _>(x, y)
}

/// x: [nb] Q4_0 blocks (one weight row), y: [nb] Q8_0 blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q4_0_q8_0(x: &[BlockQ4_0], y: &[BlockQ8_0]) -> f32 {
    legacy::vec_dot_q8_0::<Sdot, _>(x, y)
}

/// x: [nb] Q5_0 blocks (one weight row), y: [nb] Q8_0 blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q5_0_q8_0(x: &[BlockQ5_0], y: &[BlockQ8_0]) -> f32 {
    legacy::vec_dot_q8_0::<Sdot, _>(x, y)
}

/// x: [nb] Q4_1 blocks (one weight row), y: [nb] Q8_1 blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q4_1_q8_1(x: &[BlockQ4_1], y: &[BlockQ8_1]) -> f32 {
    legacy::vec_dot_q8_1::<Sdot, _>(x, y)
}

/// x: [nb] Q5_1 blocks (one weight row), y: [nb] Q8_1 blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q5_1_q8_1(x: &[BlockQ5_1], y: &[BlockQ8_1]) -> f32 {
    legacy::vec_dot_q8_1::<Sdot, _>(x, y)
}

/// x: [nb] Q2_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q2_k_q8_k(x: &[BlockQ2K], y: &[BlockQ8K]) -> f32 {
    kquant::vec_dot_q2_k_q8_k::<Sdot>(x, y)
}

/// x: [nb] Q3_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q3_k_q8_k(x: &[BlockQ3K], y: &[BlockQ8K]) -> f32 {
    kquant::vec_dot_q3_k_q8_k::<Sdot>(x, y)
}

/// x: [nb] Q4_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q4_k_q8_k(x: &[BlockQ4K], y: &[BlockQ8K]) -> f32 {
    kquant::vec_dot_q4_k_q8_k::<Sdot>(x, y)
}

/// x: [nb] Q5_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q5_k_q8_k(x: &[BlockQ5K], y: &[BlockQ8K]) -> f32 {
    kquant::vec_dot_q5_k_q8_k::<Sdot>(x, y)
}

/// x: [nb] Q6_K blocks (one weight row), y: [nb] Q8_K blocks -> dot product
#[target_feature(enable = "dotprod")]
pub(super) unsafe fn vec_dot_q6_k_q8_k(x: &[BlockQ6K], y: &[BlockQ8K]) -> f32 {
    kquant::vec_dot_q6_k_q8_k::<Sdot>(x, y)
}
