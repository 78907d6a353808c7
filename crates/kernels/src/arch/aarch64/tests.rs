//! What is particular to the NEON tables; the conformance test
//! (`crate::conformance`) holds both of them against the scalar reference.
//! The `sdot` table must equal the baseline table bit for bit. Tests of
//! the `sdot` kernels print a message and pass on CPUs without dot product
//! (e.g. `qemu-aarch64 -cpu cortex-a53`).

use super::*;
use crate::conformance::data::{act_row, row, Data, DOT_TYPES};
use crate::conformance::Rng;
use crate::quant::vec_dot_type;

fn have_dotprod() -> bool {
    let ok = has_dotprod();
    if !ok {
        println!("skipped: this CPU has no dot product extension (sdot)");
    }
    ok
}

#[test]
fn dotprod_equals_baseline_bit_for_bit() {
    if !have_dotprod() {
        return;
    }
    let mut rng = Rng(3);
    for w in DOT_TYPES {
        let (base, fast) = (NEON.dot(w).unwrap(), NEON_DOTPROD.dot(w).unwrap());
        let bs = w.block_size();
        for n in [bs, 7 * bs, (2 + rng.below(40)) * bs] {
            for (wd, ad) in [
                (Data::Quantized, Data::Quantized),
                (Data::Raw, Data::Quantized),
                (Data::Raw, Data::Raw),
            ] {
                let wr = row(&mut rng, w, n, wd);
                let ar = act_row(&mut rng, vec_dot_type(w), n, ad);
                let (b, f) = (
                    base(n, wr.bytes(), ar.bytes()),
                    fast(n, wr.bytes(), ar.bytes()),
                );
                assert_eq!(b.to_bits(), f.to_bits(), "{w} n={n}: {b} vs {f}");
            }
        }
    }
}

#[test]
fn neon_is_detected_and_selected() {
    assert!(Isa::Neon.detected());
    let k = crate::arch::table(Isa::Neon).expect("NEON table on aarch64");
    assert_eq!(k.isa, Isa::Neon);
    let var = std::env::var("WASM_CHORD_NEON_SDOT").ok();
    let sdot = has_dotprod() && sdot_allowed(var.as_deref());
    let want: *const Kernels = if sdot { &NEON_DOTPROD } else { &NEON };
    assert_eq!(k as *const Kernels, want);
    assert!(crate::arch::available().contains(&Isa::Neon));
    // The best table unless WASM_CHORD_ISA forces another.
    if std::env::var("WASM_CHORD_ISA").is_err() {
        assert_eq!(crate::arch::select().isa, Isa::Neon);
    }
    for isa in [Isa::Avx2, Isa::Avx512, Isa::Simd128] {
        assert!(!isa.detected() && crate::arch::table(isa).is_none());
    }
}

#[test]
fn sdot_switch() {
    assert!(sdot_allowed(None));
    assert!(sdot_allowed(Some("1")));
    assert!(!sdot_allowed(Some("0")));
    assert!(!sdot_allowed(Some(" 0 ")));
}
