//! Order-exact f32 reductions of ggml's CPU backend as llama.cpp runs it on
//! x86-64 (native build with AVX-512), so attention reproduces llama.cpp's
//! intermediate tensors bit for bit (scalar, portable: `f32::mul_add` is
//! the hardware FMA ggml uses).
//!
//! * batches (`n_tokens >= 2`) with a contiguous right operand: f32
//!   `mul_mat` goes through llamafile's `tinyBLAS<16, __m512>`: per output,
//!   16 FMA lanes over the shared dimension in steps of 16 (element `i`
//!   into lane `i % 16`), then `_mm512_reduce_add_ps` (`reduce16`);
//! * otherwise (one token, or a permuted operand such as attention's Q):
//!   `ggml_vec_dot_f32`: 4 x 16 FMA lanes in steps of 64
//!   (element `i` into lane `i % 64`), lanes `j` and `j + 32` added, then
//!   `j` and `j + 16`, then `reduce16`; elements past the last multiple of
//!   64 are added one by one.
//!
//! Zero terms change neither order: ggml's KV rows are padded to 256 cells
//! and its masked cells hold weight 0, so summing only the visible cells at
//! their absolute positions gives ggml's result.

/// Which of ggml's two f32 reduction orders a product follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum F32Order {
    /// llamafile `tinyBLAS<16>` (batches of two or more tokens).
    Lanes16,
    /// `ggml_vec_dot_f32` with AVX-512 (a single token).
    Lanes64,
}

impl F32Order {
    /// The order ggml uses for a product over `k` elements in a batch of
    /// `n_tokens` tokens (tinyBLAS needs `k % 16 == 0`).
    pub fn for_batch(n_tokens: usize, k: usize) -> F32Order {
        if n_tokens >= 2 && k.is_multiple_of(16) {
            F32Order::Lanes16
        } else {
            F32Order::Lanes64
        }
    }

    fn lanes(self) -> usize {
        match self {
            F32Order::Lanes16 => 16,
            F32Order::Lanes64 => 64,
        }
    }
}

/// Sum of 16 lanes in the order of `_mm512_reduce_add_ps`: halves, then
/// quarters, then pairs.
#[inline]
pub fn reduce16(a: &[f32; 16]) -> f32 {
    let mut s8 = [0f32; 8];
    for i in 0..8 {
        s8[i] = a[i] + a[i + 8];
    }
    let s4 = [s8[0] + s8[4], s8[1] + s8[5], s8[2] + s8[6], s8[3] + s8[7]];
    (s4[0] + s4[2]) + (s4[1] + s4[3])
}

/// Fold 64 lanes (4 registers of 16) as `GGML_F32x16_REDUCE`.
#[inline]
fn reduce64(a: &[f32; 64]) -> f32 {
    let mut r = [0f32; 16];
    for (l, v) in r.iter_mut().enumerate() {
        let x0 = a[l] + a[32 + l];
        let x1 = a[16 + l] + a[48 + l];
        *v = x0 + x1;
    }
    reduce16(&r)
}

/// Whether the FMA builds below may run (x86-64 with AVX2 and FMA).
#[cfg(target_arch = "x86_64")]
pub(crate) fn fma_available() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// a · b in ggml's `order`. a, b: [n]
///
/// On x86-64 with FMA this runs a copy compiled with AVX2+FMA, so each
/// `mul_add` is one `vfmadd` (the lanes are independent, so vectorising
/// them keeps every lane's order; the result is bit-identical) instead of
/// a libm `fmaf` call.
pub fn dot(order: F32Order, a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if fma_available() {
        // SAFETY: AVX2 and FMA were detected on this CPU just above.
        return unsafe { dot_fma(order, a, b) };
    }
    dot_impl(order, a, b)
}

/// `dot_impl` compiled for AVX2+FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_fma(order: F32Order, a: &[f32], b: &[f32]) -> f32 {
    dot_impl(order, a, b)
}

/// The body of `dot`. a, b: [n]
#[inline(always)]
fn dot_impl(order: F32Order, a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    match order {
        F32Order::Lanes16 => {
            let mut acc = [0f32; 16];
            let full = n / 16 * 16;
            for (ca, cb) in a[..full].chunks_exact(16).zip(b[..full].chunks_exact(16)) {
                for l in 0..16 {
                    acc[l] = ca[l].mul_add(cb[l], acc[l]);
                }
            }
            let mut s = reduce16(&acc);
            for i in full..n {
                s += a[i] * b[i];
            }
            s
        }
        F32Order::Lanes64 => {
            let mut acc = [0f32; 64];
            let full = n / 64 * 64;
            for (ca, cb) in a[..full].chunks_exact(64).zip(b[..full].chunks_exact(64)) {
                for l in 0..64 {
                    acc[l] = ca[l].mul_add(cb[l], acc[l]);
                }
            }
            let mut s = reduce64(&acc);
            for i in full..n {
                s += a[i] * b[i];
            }
            s
        }
    }
}

/// o = Σ_p w[p] · v_p over cells `p = p0 ..`, each sum in ggml's `order`
/// over the cells' absolute positions (cell `p` into lane `p % lanes`),
/// as ggml's `mul_mat(Vᵀ, softmax)` with V stored transposed.
///
/// w: [n_cells] weights of cells p0 .., v_row(j): the values [o.len()] of
/// cell p0 + j -> o: [head_dim]
///
/// Runs an AVX2+FMA build on x86-64 when the CPU has them (as `dot`).
pub fn weighted_sum<'a>(
    order: F32Order,
    p0: usize,
    w: &[f32],
    v_row: impl Fn(usize) -> &'a [f32],
    o: &mut [f32],
) {
    #[cfg(target_arch = "x86_64")]
    if fma_available() {
        // SAFETY: AVX2 and FMA were detected on this CPU just above.
        return unsafe { weighted_sum_fma(order, p0, w, v_row, o) };
    }
    weighted_sum_impl(order, p0, w, v_row, o)
}

/// `weighted_sum_impl` compiled for AVX2+FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weighted_sum_fma<'a>(
    order: F32Order,
    p0: usize,
    w: &[f32],
    v_row: impl Fn(usize) -> &'a [f32],
    o: &mut [f32],
) {
    weighted_sum_impl(order, p0, w, v_row, o)
}

/// The body of `weighted_sum`.
// w: [n_cells], v_row(j): [head_dim] -> o: [head_dim]
#[inline(always)]
fn weighted_sum_impl<'a>(
    order: F32Order,
    p0: usize,
    w: &[f32],
    v_row: impl Fn(usize) -> &'a [f32],
    o: &mut [f32],
) {
    let lanes = order.lanes();
    // 16 output dims at a time; acc[lane][k] for dim d0 + k
    let mut acc = [[0f32; 16]; 64];
    for d0 in (0..o.len()).step_by(16) {
        let nd = (o.len() - d0).min(16);
        for a in acc[..lanes].iter_mut() {
            *a = [0.0; 16];
        }
        for (j, &wj) in w.iter().enumerate() {
            let lane = (p0 + j) % lanes;
            let vr = &v_row(j)[d0..d0 + nd];
            let a = &mut acc[lane];
            for k in 0..nd {
                a[k] = wj.mul_add(vr[k], a[k]);
            }
        }
        for k in 0..nd {
            o[d0 + k] = match order {
                F32Order::Lanes16 => {
                    let mut l16 = [0f32; 16];
                    for (l, x) in l16.iter_mut().enumerate() {
                        *x = acc[l][k];
                    }
                    reduce16(&l16)
                }
                F32Order::Lanes64 => {
                    let mut l64 = [0f32; 64];
                    for (l, x) in l64.iter_mut().enumerate() {
                        *x = acc[l][k];
                    }
                    reduce64(&l64)
                }
            };
        }
    }
}

/// Softmax in place over a row that ggml pads with masked (-inf) cells to
/// a multiple of 16: every element goes through the vector `expf` in
/// groups of 16 (the last group padded with zeros), group sums in f64.
/// On x86-64 with FMA an AVX2+FMA build runs (same results: `expf_vec`'s
/// `mul_add`s become single instructions).
pub fn softmax_padded(x: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if fma_available() {
        // SAFETY: AVX2 and FMA were detected on this CPU just above.
        return unsafe { softmax_padded_fma(x) };
    }
    softmax_padded_impl(x)
}

/// `softmax_padded_impl` compiled for AVX2+FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn softmax_padded_fma(x: &mut [f32]) {
    softmax_padded_impl(x)
}

/// The body of `softmax_padded`. x: [n]
#[inline(always)]
fn softmax_padded_impl(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f64;
    for g in x.chunks_mut(16) {
        let mut lanes = [0f32; 16];
        for (l, v) in lanes.iter_mut().zip(g.iter_mut()) {
            *v = crate::ops::expf_vec(*v - max);
            *l = *v;
        }
        sum += reduce16(&lanes) as f64;
    }
    let inv = (1.0 / sum) as f32;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_padded_fma_build_equals_the_portable_one() {
        for n in [1, 15, 16, 100] {
            let x: Vec<f32> = seq(n, n as u32).iter().map(|v| 9.0 * v).collect();
            let (mut a, mut b) = (x.clone(), x);
            softmax_padded(&mut a);
            softmax_padded_impl(&mut b);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a), bits(&b), "n {n}");
        }
    }

    fn seq(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn dot_orders_are_close_to_f64_and_differ_from_each_other_only_in_rounding() {
        for n in [1, 15, 16, 63, 64, 256, 300] {
            let (a, b) = (seq(n, 1), seq(n, 2));
            let exact: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            for o in [F32Order::Lanes16, F32Order::Lanes64] {
                let d = dot(o, &a, &b) as f64;
                assert!(
                    (d - exact).abs() < 1e-5 * n as f64,
                    "{o:?} n={n}: {d} vs {exact}"
                );
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn fma_builds_equal_the_portable_ones_bit_for_bit() {
        if !fma_available() {
            println!("skipped: no AVX2+FMA");
            return;
        }
        for n in [1, 17, 64, 256, 300, 1000] {
            let (a, b) = (seq(n, 5), seq(n, 6));
            for o in [F32Order::Lanes16, F32Order::Lanes64] {
                // SAFETY: AVX2 and FMA were detected above.
                let fast = unsafe { dot_fma(o, &a, &b) };
                assert_eq!(fast.to_bits(), dot_impl(o, &a, &b).to_bits(), "{o:?} n={n}");
                let v = seq(n * 40, 7);
                let row = |j: usize| &v[j * 40..(j + 1) * 40];
                let (mut x, mut y) = ([0f32; 40], [0f32; 40]);
                // SAFETY: as above.
                unsafe { weighted_sum_fma(o, 3, &a, row, &mut x) };
                weighted_sum_impl(o, 3, &a, row, &mut y);
                assert_eq!(x.map(f32::to_bits), y.map(f32::to_bits), "{o:?} n={n}");
            }
        }
    }

    #[test]
    fn lanes16_dot_is_the_lane_tree_of_fmas() {
        // element i in lane i % 16, lanes folded 8/4/2/1
        let (a, b) = (seq(48, 3), seq(48, 4));
        let mut lanes = [0f32; 16];
        for i in 0..48 {
            lanes[i % 16] = a[i].mul_add(b[i], lanes[i % 16]);
        }
        assert_eq!(
            dot(F32Order::Lanes16, &a, &b).to_bits(),
            reduce16(&lanes).to_bits()
        );
    }

    #[test]
    fn weighted_sum_equals_dot_over_positions() {
        // o[d] = dot(w, column d of v) in the same order, with cells
        // starting at p0 = 0; zero weights before p0 do not change it
        let hd = 40;
        let n = 130;
        let w = seq(n, 5);
        let v: Vec<f32> = seq(n * hd, 6);
        for order in [F32Order::Lanes16, F32Order::Lanes64] {
            let mut o = vec![0f32; hd];
            weighted_sum(order, 0, &w, |j| &v[j * hd..(j + 1) * hd], &mut o);
            for d in 0..hd {
                let col: Vec<f32> = (0..n).map(|j| v[j * hd + d]).collect();
                let full = n / order.lanes() * order.lanes();
                // dot() adds the tail serially; weighted_sum keeps it in lanes,
                // as ggml does over a padded row: compare on the full part
                let mut wp = w.clone();
                let mut cp = col.clone();
                wp.resize(full + order.lanes(), 0.0);
                cp.resize(full + order.lanes(), 0.0);
                assert_eq!(
                    o[d].to_bits(),
                    dot(order, &wp, &cp).to_bits(),
                    "{order:?} d={d}"
                );
            }
            // starting at p0 = 7 equals padding 7 zero weights in front
            let mut o2 = vec![0f32; hd];
            weighted_sum(
                order,
                7,
                &w[7..],
                |j| &v[(j + 7) * hd..(j + 8) * hd],
                &mut o2,
            );
            let mut w0 = w.clone();
            w0[..7].fill(0.0);
            let mut o3 = vec![0f32; hd];
            weighted_sum(order, 0, &w0, |j| &v[j * hd..(j + 1) * hd], &mut o3);
            assert_eq!(o2, o3);
        }
    }

    #[test]
    fn softmax_padded_sums_to_one_and_matches_grouped_softmax_on_full_groups() {
        let mut a = seq(32, 7);
        let mut b = a.clone();
        softmax_padded(&mut a);
        crate::ops::softmax(&mut b);
        assert_eq!(a, b);
        let mut c = seq(21, 8);
        softmax_padded(&mut c);
        let s: f32 = c.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
    }
}
