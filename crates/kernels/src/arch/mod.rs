//! The kernel table, chosen once per process.
//!
//! `select()` picks the best instruction set the CPU (or wasm runtime)
//! offers among those with an implementation; `WASM_CHORD_ISA` forces one
//! (`scalar`, `avx2`, `avx512`, `neon`, `simd128`) so every path can be tested
//! and benchmarked on one machine. The SIMD modules (`arch/x86`, later
//! `arch/aarch64`, `arch/wasm32`) register themselves in `table()`; their
//! tables are only handed out after run-time feature detection, which is what
//! makes calling their `#[target_feature]` kernels sound.
//!
//! A table resolves the per-type kernel once: `Kernels::dot(ty)` returns the
//! row dot product of one weight type, so a matvec dispatches once per matrix
//! rather than once per row.
//!
//! Unless forced, the default table comes as a tuned copy (`tune`): its
//! decode kernel per weight type is the fastest, measured on this CPU model,
//! of candidates that all give the row dot's bits.

use crate::error::KernelError;
use crate::quant;
use gguf::GgmlType;
use std::sync::OnceLock;

#[cfg(target_arch = "aarch64")]
mod aarch64;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
mod rows;
pub mod tune;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod wasm32;
#[cfg(target_arch = "x86_64")]
mod x86;
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::act_q8;

/// An instruction set a kernel table is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    Scalar,
    Avx2,
    Avx512,
    Neon,
    Simd128,
}

impl Isa {
    /// Every ISA, best last.
    pub const ALL: [Isa; 5] = [Isa::Scalar, Isa::Simd128, Isa::Neon, Isa::Avx2, Isa::Avx512];

    /// The lowercase name used by `WASM_CHORD_ISA`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
            Isa::Simd128 => "simd128",
        }
    }

    /// Parses a `WASM_CHORD_ISA` value (case-insensitive).
    pub fn parse(s: &str) -> Option<Isa> {
        let s = s.trim();
        Isa::ALL
            .into_iter()
            .find(|isa| isa.name().eq_ignore_ascii_case(s))
    }

    /// Whether this machine can execute the ISA's instructions (whether or not
    /// kernels exist for it yet).
    pub fn detected(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Isa::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
            }
            // The AVX-512 kernels use VNNI and VL, and fall back to AVX2 ones.
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
                    && Isa::Avx2.detected()
            }
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => std::arch::is_aarch64_feature_detected!("neon"),
            #[cfg(target_arch = "wasm32")]
            Isa::Simd128 => cfg!(target_feature = "simd128"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

impl std::fmt::Display for Isa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `quant::vec_dot`'s signature: (weight type, n elements, weight row, activation row).
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
pub type VecDotFn = fn(GgmlType, usize, &[u8], &[u8]) -> f32;
/// `quant::quantize_row`'s signature: (type, f32 row, output bytes).
// src: [n] f32 -> dst: [row_bytes(t, n)] bytes
pub type QuantizeRowFn = fn(GgmlType, &[f32], &mut [u8]) -> Result<(), KernelError>;

/// A row dot product for one weight type, resolved once by `Kernels::dot`:
/// (n elements, weight row, activation row), with the contract of
/// `quant::vec_dot` for that type (rows at least `n` elements long; longer
/// rows are fine; any alignment).
// w_row: [row_bytes(w, n)], act_row: [row_bytes(vec_dot_type(w), n)] -> f32
pub type RowDotFn = fn(usize, &[u8], &[u8]) -> f32;
/// Resolves the `RowDotFn` of a weight type (`None`: no dot product).
pub type DotLookupFn = fn(GgmlType) -> Option<RowDotFn>;

/// A tiled matrix product for one weight type, resolved once by
/// `Kernels::gemm`: (n elements per row, weight rows, number of rows,
/// activation rows, number of tokens, y, y_stride). Rows are consecutive
/// (`row_bytes(w, n)` bytes each; activations `row_bytes(vec_dot_type(w), n)`);
/// any alignment. Each output equals the table's `RowDotFn` on the same two
/// rows bit for bit, so tiling never changes results.
// w: [rows, n] weight type, a: [toks, n] vec_dot_type -> y[t * y_stride + r] f32
pub type GemmFn = fn(usize, &[u8], usize, &[u8], usize, &mut [f32], usize);
/// Resolves the `GemmFn` of a weight type (`None`: use the row dot).
pub type GemmLookupFn = fn(GgmlType) -> Option<GemmFn>;

/// The `gemm_lookup` of tables without tile kernels: none, so
/// `Kernels::gemm` runs the table's row dot for every (row, token) pair.
/// A new ISA table starts with `gemm_lookup: generic_gemm_lookup`.
pub(crate) fn generic_gemm_lookup(_: GgmlType) -> Option<GemmFn> {
    None
}

/// A multi-row matvec kernel for one weight type, resolved once by
/// `Kernels::rows`: (n elements per row, weight rows, activation row, y):
/// `y[i]` is the dot product of weight row `i` (rows consecutive,
/// `row_bytes(w, n)` bytes each, `y.len()` of them) with the activation,
/// equal bit for bit to the table's `RowDotFn` on the same two rows; any
/// alignment.
// w: [y.len(), n] weight type, a: [n] vec_dot_type -> y: [y.len()] f32
pub type RowsFn = fn(usize, &[u8], &[u8], &mut [f32]);
/// Resolves the `RowsFn` of a weight type (`None`: use the row dot).
pub type RowsLookupFn = fn(GgmlType) -> Option<RowsFn>;

/// A multi-token decode kernel for one weight type, resolved once by
/// `Kernels::rows_tokens`, shaped as `GemmFn`: (n elements per row, weight
/// rows, number of rows, activation rows, number of tokens, y, y_stride):
/// `y[t * y_stride + i]` is the dot product of weight row `i` (rows
/// consecutive, `row_bytes(w, n)` bytes each) with activation row `t`
/// (consecutive, `row_bytes(vec_dot_type(w), n)` bytes each), equal bit for
/// bit to the table's `RowDotFn` on the same two rows; any alignment. For
/// decode batches: each weight block is loaded and unpacked once for
/// several tokens.
// w: [rows, n] weight type, a: [toks, n] vec_dot_type -> y[t * y_stride + i] f32
pub type RowsTokensFn = fn(usize, &[u8], usize, &[u8], usize, &mut [f32], usize);
/// Resolves the `RowsTokensFn` of a weight type (`None`: the `rows`
/// kernel, or the row dot, once per token).
pub type RowsTokensLookupFn = fn(GgmlType) -> Option<RowsTokensFn>;

/// Resolves the repacked decode layout of a weight type (`None`: none).
pub type PackingLookupFn = fn(GgmlType) -> Option<&'static crate::packed::Packing>;

/// Row-level kernels of one ISA. The functions behave as `quant::vec_dot`
/// and `quant::quantize_row`, which document them; every ISA table gives
/// the same results as the scalar one up to float summation order, and its
/// quantizers write identical bytes.
#[derive(Debug)]
pub struct Kernels {
    pub isa: Isa,
    /// Dispatches on the weight type at every call; prefer `dot` in loops.
    pub vec_dot: VecDotFn,
    pub quantize_row: QuantizeRowFn,
    /// The per-type dot products (see `Kernels::dot`).
    pub dot_lookup: DotLookupFn,
    /// The per-type tile kernels for multi-token products (see
    /// `Kernels::gemm`); tables without any use `generic_gemm_lookup`.
    pub gemm_lookup: GemmLookupFn,
    /// `Some` for tables that multiply k-quant batches of at least
    /// `quant::batched::MIN_TOKENS` tokens in llama.cpp's batched order (the
    /// x86 ones, as llama.cpp's x86 build): it resolves the tile kernels of
    /// that order (`None` for a type: the scalar definition runs per output).
    /// `None`: every batch uses the row-dot order (see `Kernels::gemm_batch`).
    pub batched_lookup: Option<GemmLookupFn>,
    /// `Some` for tables with tile kernels that repack the activations at
    /// every call: it resolves them (taking precedence over `gemm_lookup`),
    /// and their `Gemm` hands them all rows of a product at once, so the
    /// repacking is paid once per chunk of tokens (see `Gemm::all_rows`).
    pub gemm_all_rows_lookup: Option<GemmLookupFn>,
    /// `Some` for tables with multi-row decode kernels (see
    /// `Kernels::rows`); `None`: matvecs call the row dot once per row.
    pub rows_lookup: Option<RowsLookupFn>,
    /// `Some` for tables with multi-token decode kernels (see
    /// `Kernels::rows_tokens`); `None`: a batch of decode tokens runs the
    /// decode kernel once per token.
    pub rows_tokens_lookup: Option<RowsTokensLookupFn>,
    /// `Some` for tables with repacked decode layouts (`crate::packed`,
    /// see `Kernels::packing`); `None`: matvecs read the file's layout.
    pub packing_lookup: Option<PackingLookupFn>,
    /// `Some` for tables whose decode kernel is chosen by measurement when
    /// they are the default (`tune`): per type, the kernels to choose from,
    /// each equal bit for bit to the row dot, the table's own first.
    pub decode_candidates: Option<tune::CandidatesFn>,
}

impl Kernels {
    /// The row dot product for weights of type `w` (activations of type
    /// `quant::vec_dot_type(w)`), or `None` if `w` has no dot product
    /// (`quant::has_vec_dot(w)` is false).
    pub fn dot(&self, w: GgmlType) -> Option<RowDotFn> {
        (self.dot_lookup)(w)
    }

    /// The multi-row matvec kernel for weights of type `w`, if the table
    /// has one (each output equals `dot(w)`'s bit for bit).
    pub fn rows(&self, w: GgmlType) -> Option<RowsFn> {
        self.rows_lookup.and_then(|f| f(w))
    }

    /// The multi-token decode kernel for weights of type `w`, if the table
    /// has one (each output equals `dot(w)`'s bit for bit).
    pub fn rows_tokens(&self, w: GgmlType) -> Option<RowsTokensFn> {
        self.rows_tokens_lookup.and_then(|f| f(w))
    }

    /// The repacked decode layout for weights of type `w`, if the table has
    /// one (its kernel's outputs equal `dot(w)`'s bit for bit).
    pub fn packing(&self, w: GgmlType) -> Option<&'static crate::packed::Packing> {
        self.packing_lookup.and_then(|f| f(w))
    }

    /// The matrix product for weights of type `w` over many tokens: the
    /// table's tile kernel if it has one, else its row dot per (row, token);
    /// `None` exactly when `dot(w)` is `None`.
    pub fn gemm(&self, w: GgmlType) -> Option<crate::gemm::Gemm> {
        let dot = self.dot(w)?;
        if let Some(tile) = self.gemm_all_rows_lookup.and_then(|f| f(w)) {
            return Some(crate::gemm::Gemm::new(w, dot, Some(tile)).all_rows());
        }
        Some(crate::gemm::Gemm::new(w, dot, (self.gemm_lookup)(w)))
    }

    /// The matrix product for a batch of `toks` tokens of weights of type
    /// `w`: on tables with a batched order (`batched_lookup`), k-quant
    /// batches of at least `quant::batched::MIN_TOKENS` tokens take it (each
    /// output equals `quant::batched::dot` bit for bit); everything else is
    /// `gemm(w)`. `None` exactly when `dot(w)` is `None`.
    pub fn gemm_batch(&self, w: GgmlType, toks: usize) -> Option<crate::gemm::Gemm> {
        match self.batched_lookup {
            Some(lookup)
                if toks >= quant::batched::MIN_TOKENS && quant::batched::has_batched_order(w) =>
            {
                let dot = batched_dot(w)?;
                Some(crate::gemm::Gemm::new(w, dot, lookup(w)).wide())
            }
            _ => self.gemm(w),
        }
    }
}

/// `quant::batched::dot` with the type fixed.
pub(crate) fn batched_dot(w: GgmlType) -> Option<RowDotFn> {
    use crate::quant::batched::dot;
    use GgmlType::*;
    Some(match w {
        Q2_K => |n, x, y| dot(Q2_K, n, x, y),
        Q3_K => |n, x, y| dot(Q3_K, n, x, y),
        Q4_K => |n, x, y| dot(Q4_K, n, x, y),
        Q5_K => |n, x, y| dot(Q5_K, n, x, y),
        Q6_K => |n, x, y| dot(Q6_K, n, x, y),
        _ => return None,
    })
}

static SCALAR: Kernels = Kernels {
    isa: Isa::Scalar,
    vec_dot: quant::vec_dot,
    quantize_row: quant::quantize_row,
    dot_lookup: scalar_dot,
    gemm_lookup: generic_gemm_lookup,
    batched_lookup: None,
    gemm_all_rows_lookup: None,
    rows_lookup: None,
    rows_tokens_lookup: None,
    packing_lookup: None,
    decode_candidates: None,
};

/// The scalar row dots: `quant::vec_dot` with the type fixed.
fn scalar_dot(w: GgmlType) -> Option<RowDotFn> {
    use GgmlType::*;
    if !quant::has_vec_dot(w) {
        return None;
    }
    Some(match w {
        F32 => |n, x, y| quant::vec_dot(F32, n, x, y),
        F16 => |n, x, y| quant::vec_dot(F16, n, x, y),
        BF16 => |n, x, y| quant::vec_dot(BF16, n, x, y),
        Q4_0 => |n, x, y| quant::vec_dot(Q4_0, n, x, y),
        Q4_1 => |n, x, y| quant::vec_dot(Q4_1, n, x, y),
        Q5_0 => |n, x, y| quant::vec_dot(Q5_0, n, x, y),
        Q5_1 => |n, x, y| quant::vec_dot(Q5_1, n, x, y),
        Q8_0 => |n, x, y| quant::vec_dot(Q8_0, n, x, y),
        Q2_K => |n, x, y| quant::vec_dot(Q2_K, n, x, y),
        Q3_K => |n, x, y| quant::vec_dot(Q3_K, n, x, y),
        Q4_K => |n, x, y| quant::vec_dot(Q4_K, n, x, y),
        Q5_K => |n, x, y| quant::vec_dot(Q5_K, n, x, y),
        Q6_K => |n, x, y| quant::vec_dot(Q6_K, n, x, y),
        _ => return None,
    })
}

/// The portable reference kernels (always available).
pub fn scalar() -> &'static Kernels {
    &SCALAR
}

/// The kernel table for `isa`, if it is implemented and this machine runs it.
pub fn table(isa: Isa) -> Option<&'static Kernels> {
    match isa {
        Isa::Scalar => Some(&SCALAR),
        // Each SIMD table checks `isa.detected()` before handing itself out.
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => x86::avx2::table(),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => x86::avx512::table(),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => aarch64::table(),
        // Compiled only into simd128 builds (wasm has no run-time detection).
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => wasm32::table(),
        _ => None,
    }
}

/// ISAs with a kernel table usable on this machine, best last.
pub fn available() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|&isa| table(isa).is_some())
        .collect()
}

/// Every kernel table this machine runs, by name, the variants that an
/// environment variable selects included (the conformance tests hold each
/// against the scalar reference).
#[cfg(test)]
pub(crate) fn test_tables() -> Vec<(&'static str, &'static Kernels)> {
    let mut v: Vec<(&'static str, &'static Kernels)> = vec![("scalar", &SCALAR)];
    #[cfg(target_arch = "x86_64")]
    {
        v.extend(table(Isa::Avx2).map(|k| ("avx2", k)));
        v.extend(x86::avx512::test_tables());
    }
    #[cfg(target_arch = "aarch64")]
    v.extend(aarch64::test_tables());
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    v.extend(table(Isa::Simd128).map(|k| ("simd128", k)));
    v
}

/// The process-wide kernel table: the one `WASM_CHORD_ISA` names if set and
/// usable (otherwise a warning on stderr and the default), else the best
/// available, tuned (`tune::prepare` then picks its decode kernels).
pub fn select() -> &'static Kernels {
    static SELECTED: OnceLock<&'static Kernels> = OnceLock::new();
    SELECTED.get_or_init(|| {
        let request = std::env::var("WASM_CHORD_ISA").ok();
        let (kernels, warning) = choose(request.as_deref());
        if let Some(w) = warning {
            eprintln!("wasm-chord: {w}");
        }
        if forced().is_none() {
            tune::tuned(kernels)
        } else {
            kernels
        }
    })
}

/// The `WASM_CHORD_ISA` value naming a usable table, if any (`select()`
/// then returns that table with its own kernels).
pub fn forced() -> Option<String> {
    forcing(std::env::var("WASM_CHORD_ISA").ok())
}

/// `forced` for a `WASM_CHORD_ISA` value.
fn forcing(req: Option<String>) -> Option<String> {
    let isa = Isa::parse(req.as_deref()?)?;
    table(isa).is_some().then_some(req?)
}

/// The best available table, as it is.
pub(crate) fn default_table() -> &'static Kernels {
    let isa = available().last().copied().unwrap_or(Isa::Scalar);
    table(isa).unwrap_or(&SCALAR)
}

/// The choice `select` makes for a `WASM_CHORD_ISA` value, and the warning
/// to print if the request cannot be honoured.
fn choose(forced: Option<&str>) -> (&'static Kernels, Option<String>) {
    let best = default_table;
    let Some(req) = forced.filter(|s| !s.trim().is_empty()) else {
        return (best(), None);
    };
    let fallback = best();
    match Isa::parse(req) {
        None => {
            let names: Vec<&str> = Isa::ALL.iter().map(|i| i.name()).collect();
            let msg = format!(
                "WASM_CHORD_ISA={req:?} is not one of {}; using {}",
                names.join("|"),
                fallback.isa
            );
            (fallback, Some(msg))
        }
        Some(isa) => match table(isa) {
            Some(k) => (k, None),
            None => {
                let why = if isa.detected() {
                    "has no kernels yet"
                } else {
                    "is not supported by this CPU"
                };
                (
                    fallback,
                    Some(format!(
                        "WASM_CHORD_ISA={isa} {why}; using {}",
                        fallback.isa
                    )),
                )
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_usable_table_counts_as_forced() {
        let f = |s: &str| forcing(Some(s.to_string()));
        assert_eq!(forcing(None), None);
        assert_eq!(f(""), None);
        assert_eq!(f("sse9"), None);
        assert_eq!(f(" Scalar "), Some(" Scalar ".to_string()));
        for isa in Isa::ALL {
            assert_eq!(f(isa.name()).is_some(), table(isa).is_some(), "{isa}");
        }
    }

    #[test]
    fn parse_names() {
        for isa in Isa::ALL {
            assert_eq!(Isa::parse(isa.name()), Some(isa));
        }
        assert_eq!(Isa::parse(" AVX2 "), Some(Isa::Avx2));
        assert_eq!(Isa::parse("sse9"), None);
    }

    #[test]
    fn forcing_scalar_gives_scalar_without_warning() {
        let (k, w) = choose(Some("scalar"));
        assert_eq!(k.isa, Isa::Scalar);
        assert!(w.is_none());
    }

    #[test]
    fn bad_or_unavailable_requests_warn_and_fall_back() {
        let (_, w) = choose(Some("sse9"));
        assert!(w.unwrap().contains("sse9"));
        // ISAs without kernels (or not run by this CPU) fall back with a warning.
        for isa in [Isa::Avx2, Isa::Avx512, Isa::Neon, Isa::Simd128] {
            if table(isa).is_none() {
                let (k, w) = choose(Some(isa.name()));
                assert!(table(k.isa).is_some());
                assert!(w.unwrap().contains(isa.name()));
            }
        }
    }

    #[test]
    fn select_is_stable_and_scalar_table_works() {
        let a = select() as *const Kernels;
        let b = select() as *const Kernels;
        assert_eq!(a, b);
        assert_eq!(scalar().isa, Isa::Scalar);
        assert!(available().contains(&Isa::Scalar));
        // One Q8_0 block against itself through the table.
        let x: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        let mut q = vec![0u8; 34];
        (scalar().quantize_row)(GgmlType::Q8_0, &x, &mut q).unwrap();
        let d = (scalar().vec_dot)(GgmlType::Q8_0, 32, &q, &q);
        let want: f32 = x.iter().map(|v| v * v).sum();
        assert!((d - want).abs() < want * 0.01, "{d} vs {want}");
        let by_type = scalar().dot(GgmlType::Q8_0).unwrap();
        assert_eq!(by_type(32, &q, &q), d);
    }

    #[test]
    fn dot_lookup_covers_exactly_the_types_with_a_vec_dot() {
        for isa in available() {
            let k = table(isa).unwrap();
            for ty in GgmlType::ALL {
                assert_eq!(
                    k.dot(ty).is_some(),
                    quant::has_vec_dot(ty),
                    "{isa}: dot({ty})"
                );
            }
        }
    }

    #[test]
    fn simd128_table_exactly_in_simd128_builds() {
        let built = cfg!(all(target_arch = "wasm32", target_feature = "simd128"));
        assert_eq!(table(Isa::Simd128).is_some(), built);
        assert_eq!(Isa::Simd128.detected(), built);
        if built && std::env::var_os("WASM_CHORD_ISA").is_none() {
            assert_eq!(select().isa, Isa::Simd128);
        }
    }

    #[test]
    fn avx2_table_only_when_detected() {
        assert_eq!(
            table(Isa::Avx2).is_some(),
            cfg!(target_arch = "x86_64") && Isa::Avx2.detected()
        );
        if let Some(k) = table(Isa::Avx2) {
            assert_eq!(k.isa, Isa::Avx2);
            assert_eq!(choose(Some("avx2")).0.isa, Isa::Avx2);
            assert!(choose(Some("avx2")).1.is_none());
        }
    }
}
