//! Repacked k-quants for the default AVX-512 table's decode
//! (`crate::packed`): the lookup and the group loop shared by the layouts
//! (`packed_q4_k`: `q4_k_x4`, `packed_q6_k`: `q6_k_x4`). Each layout gives
//! every row of a 4-row group one 128-bit lane of the kernel's registers;
//! a group (one row group's blocks) is padded to 64 bytes, so every group
//! starts on a cache line. Outputs equal the AVX2 row dot bit for bit.

use crate::blocks::BlockQ8K;
use crate::packed::Packing;
use crate::quant::row_bytes;
use gguf::GgmlType;

/// The repacked layouts of the default AVX-512 table.
pub(super) fn lookup(w: GgmlType) -> Option<&'static Packing> {
    match w {
        GgmlType::Q4_K => Some(&super::packed_q4_k::Q4_K_X4),
        GgmlType::Q6_K => Some(&super::packed_q6_k::Q6_K_X4),
        // only once the table's Q5_K row dot is the AVX2 one
        GgmlType::Q5_K if super::llama_cpp_order(w) => Some(&super::packed_q5_k::Q5_K_X4),
        _ => None,
    }
}

/// Runs a group kernel over packed groups of `G` rows and `gb` bytes: two
/// groups at a time (two independent chains), then the last one alone.
/// `two(groups, act, ahead)` / `one(..)` run the typed kernel.
// groups: [y.len() / G * gb], act: [row_bytes(Q8_K, n)] -> y
#[inline(always)]
pub(super) fn by_groups<const G: usize>(
    n: usize,
    gb: usize,
    groups: &[u8],
    act: &[u8],
    y: &mut [f32],
    two: impl Fn([&[u8]; 2], &[BlockQ8K], usize) -> [[f32; G]; 2],
    one: impl Fn([&[u8]; 1], &[BlockQ8K], usize) -> [[f32; G]; 1],
) -> bool {
    let Ok(act) = bytemuck::try_cast_slice::<u8, BlockQ8K>(&act[..row_bytes(GgmlType::Q8_K, n)])
    else {
        return false;
    };
    let ahead = 2 * gb;
    let mut twos = y.chunks_exact_mut(2 * G);
    let mut gs = groups.chunks_exact(gb);
    for o in &mut twos {
        let g = [gs.next(), gs.next()].map(|g| g.expect("group count"));
        let [a, b] = two(g, act, ahead);
        o[..G].copy_from_slice(&a);
        o[G..].copy_from_slice(&b);
    }
    let rest = twos.into_remainder();
    if !rest.is_empty() {
        let g = gs.next().expect("group count");
        let [a] = one([g], act, ahead);
        rest.copy_from_slice(&a);
    }
    true
}

/// One `Packing::rows` function per layout: `$name` runs
/// `$kernel::<P $(, $c)?>` over groups of `$g` rows and `$bytes(n)` bytes.
macro_rules! packed_rows {
    ($name:ident, $g:literal, $bytes:ident, $kernel:ident $(, $c:literal)?) => {
        // groups: [y.len() / $g * $bytes(n)], act: [row_bytes(Q8_K, n)] -> y
        pub(super) fn $name(n: usize, groups: &[u8], act: &[u8], y: &mut [f32]) -> bool {
            $crate::arch::x86::avx512::packed_kquant::by_groups::<$g>(
                n,
                $bytes(n),
                groups,
                act,
                y,
                // SAFETY: AVX-512 F/BW/VL/VNNI, AVX2, FMA and F16C were
                // detected before the AVX-512 table (the only owner of
                // these layouts) was handed out.
                |g, act, ahead| unsafe { $kernel::<2 $(, $c)?>(g, act, ahead) },
                // SAFETY: as above.
                |g, act, ahead| unsafe { $kernel::<1 $(, $c)?>(g, act, ahead) },
            )
        }
    };
}
pub(super) use packed_rows;
