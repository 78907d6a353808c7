//! Scale searches of ggml's reference k-quant quantizers (no importance matrix).
//!
//! Each function quantizes one sub-block `x` and returns its scale (and min);
//! the float operations are done in the same order as ggml's reference code so
//! the chosen quants, and hence the bytes, match llama.cpp's quantizer.

/// Groups whose largest magnitude is below this are stored as all zero.
pub(crate) const GROUP_MAX_EPS: f32 = 1e-15;

/// `if (v > m) m = v;` as ggml writes it: keeps `m` when `v` is NaN.
#[inline]
pub(crate) fn max_c(m: f32, v: f32) -> f32 {
    if v > m {
        v
    } else {
        m
    }
}

/// Round to nearest, ties to even, via the 1.5·2^23 trick ggml uses. Exact for
/// |v| < 2^22; larger or non-finite inputs give the same (meaningless but
/// deterministic) value as ggml, never a panic.
#[inline]
pub(crate) fn nearest_int(v: f32) -> i32 {
    let shifted = v + 12_582_912.0;
    (shifted.to_bits() & 0x007f_ffff) as i32 - 0x0040_0000
}

/// A slice of a block as a fixed-size group (the searches are generic over
/// the group length so their loops have no bounds checks and vectorize).
///
/// # Panics
/// If `s.len() != N`.
#[inline]
pub(crate) fn group<T, const N: usize>(s: &[T]) -> &[T; N] {
    s.try_into().expect("k-quant group length")
}

/// [`group`] for output slices.
#[inline]
pub(crate) fn group_mut<T, const N: usize>(s: &mut [T]) -> &mut [T; N] {
    s.try_into().expect("k-quant group length")
}

/// `nearest_int(v)` clamped to `lo..=hi`, as a float.
#[inline]
fn quant_f(v: f32, lo: i32, hi: i32) -> f32 {
    nearest_int(v).max(lo).min(hi) as f32
}

/// `0 + v[0] + v[1] + ...` in order: the reduction ggml's loops do, kept
/// apart from the element-wise products so those can be vectorized (each
/// product and each sum is still the same IEEE operation as ggml's).
#[inline]
fn sum_in_order<const N: usize>(v: &[f32; N]) -> f32 {
    v.iter().fold(0.0f32, |s, &x| s + x)
}

/// Weighted error `sum w * |scale*L + min - x|` (or squared) of `L` (in `lf`),
/// `t` as scratch.
#[inline]
fn weighted_error<const N: usize>(
    x: &[f32; N],
    w: &[f32; N],
    lf: &[f32; N],
    scale: f32,
    min: f32,
    use_mad: bool,
    t: &mut [f32; N],
) -> f32 {
    for i in 0..N {
        let diff = scale * lf[i] + min - x[i];
        t[i] = w[i] * if use_mad { diff.abs() } else { diff * diff };
    }
    sum_in_order(t)
}

/// Asymmetric search `x ≈ scale * L - min` with `L` in `0..=nmax`, weighted
/// error (`|diff|` if `use_mad`, else `diff²`), trying `nstep + 1` candidate
/// inverse scales `(rmin + rdelta*is + nmax) / (max - min)` after the plain one.
/// Writes `L`; returns `(scale, min)` with `min >= 0` (the value subtracted).
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx2_quants<const N: usize>(
    x: &[f32; N],
    w: &[f32; N],
    nmax: i32,
    l_out: &mut [u8; N],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = w[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..N {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        sum_w += w[i];
        sum_x += w[i] * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out.fill(0);
        return (0.0, -min);
    }
    let nmax_f = nmax as f32;
    let mut iscale = nmax_f / (max - min);
    let mut scale = 1.0 / iscale;
    // Per-element terms: x - min, L, and the weighted products to be summed.
    let mut xm = [0.0f32; N];
    let mut lf = [0.0f32; N];
    let (mut t0, mut t1, mut t2) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    for i in 0..N {
        xm[i] = x[i] - min;
    }
    for i in 0..N {
        lf[i] = quant_f(iscale * xm[i], 0, nmax);
        l_out[i] = lf[i] as u8;
    }
    let mut best_error = weighted_error(x, w, &lf, scale, min, use_mad, &mut t0);
    if nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax_f) / (max - min);
        for i in 0..N {
            lf[i] = quant_f(iscale * xm[i], 0, nmax);
            let wl = w[i] * lf[i];
            t0[i] = wl;
            t1[i] = wl * lf[i];
            t2[i] = wl * x[i];
        }
        let (sum_l, sum_l2, sum_xl) = (sum_in_order(&t0), sum_in_order(&t1), sum_in_order(&t2));
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let cur_error = weighted_error(x, w, &lf, this_scale, this_min, use_mad, &mut t0);
            if cur_error < best_error {
                for i in 0..N {
                    l_out[i] = lf[i] as u8;
                }
                best_error = cur_error;
                scale = this_scale;
                if this_min != min {
                    // ggml's later candidates use the new min in (x - min) and (max - min).
                    min = this_min;
                    for i in 0..N {
                        xm[i] = x[i] - min;
                    }
                }
            }
        }
    }
    (scale, -min)
}

/// Symmetric search `x ≈ scale * (L - nmax)` with `L` in `0..2*nmax`, weighted
/// by `x²` (ggml's `rmse_type == 1`, no importance weights): the plain scale
/// `max / -nmax` refined by least squares, then 18 perturbed scales tried.
/// Writes `L`, returns the scale (signed).
pub(crate) fn make_qx_quants_rmse1<const N: usize>(
    x: &[f32; N],
    nmax: i32,
    l_out: &mut [u8; N],
) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let av = v.abs();
        if av > amax {
            amax = av;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out.fill(0);
        return 0.0;
    }
    // ggml sums w*x*l and w*l*l with w = x²: (x·x)·x and x·x are the same every round.
    let (mut w, mut wx) = ([0.0f32; N], [0.0f32; N]);
    for i in 0..N {
        w[i] = x[i] * x[i];
        wx[i] = w[i] * x[i];
    }
    let (mut lf, mut t0, mut t1) = ([0.0f32; N], [0.0f32; N], [0.0f32; N]);
    let nmax_f = nmax as f32;
    let mut best = f32::NAN;
    let mut scale = 0.0f32;
    for is in -10i32..=9 {
        if is == 0 {
            continue;
        }
        // is == -10 stands for ggml's first, unperturbed scale.
        let iscale = if is == -10 {
            -nmax_f / max
        } else {
            -(nmax_f + 0.1 * is as f32) / max
        };
        for i in 0..N {
            lf[i] = quant_f(iscale * x[i], -nmax, nmax - 1);
            t0[i] = wx[i] * lf[i];
            t1[i] = w[i] * lf[i] * lf[i];
        }
        let (sumlx, suml2) = (sum_in_order(&t0), sum_in_order(&t1));
        let take = if is == -10 {
            scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
            true
        } else {
            suml2 > 0.0 && sumlx * sumlx > best * suml2
        };
        if take {
            for i in 0..N {
                l_out[i] = (lf[i] as i32 + nmax) as u8;
            }
            if is != -10 {
                scale = sumlx / suml2;
            }
            best = scale * sumlx;
        }
    }
    scale
}

/// Q3_K's symmetric search `x ≈ scale * (L - nmax)`, `L` in `0..2*nmax`: the
/// plain scale `max / -nmax`, then up to 5 passes moving single quants while
/// the `x²`-weighted least-squares fit improves. Writes `L`, returns the scale.
pub(crate) fn make_q3_quants_rmse(x: &[f32], nmax: i32, l_out: &mut [i8]) -> f32 {
    let n = x.len();
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        let av = v.abs();
        if av > amax {
            amax = av;
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        l_out[..n].fill(0);
        return 0.0;
    }
    let iscale = -(nmax as f32) / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        l_out[i] = l as i8;
        let w = x[i] * x[i];
        let lf = l as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    for _ in 0..5 {
        let mut n_changed = 0;
        for i in 0..n {
            let w = x[i] * x[i];
            let li = l_out[i] as f32;
            let mut slx = sumlx - w * x[i] * li;
            if slx > 0.0 {
                let mut sl2 = suml2 - w * li * li;
                let new_l = nearest_int(x[i] * sl2 / slx).clamp(-nmax, nmax - 1);
                if new_l != l_out[i] as i32 {
                    let nl = new_l as f32;
                    slx += w * x[i] * nl;
                    sl2 += w * nl * nl;
                    if sl2 > 0.0 && slx * slx * suml2 > sumlx * sumlx * sl2 {
                        l_out[i] = new_l as i8;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed += 1;
                    }
                }
            }
        }
        if n_changed == 0 {
            break;
        }
    }
    for l in l_out[..n].iter_mut() {
        *l += nmax as i8;
    }
    if suml2 > 0.0 {
        sumlx / suml2
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_half_to_even() {
        assert_eq!(nearest_int(0.5), 0);
        assert_eq!(nearest_int(1.5), 2);
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(-0.5), 0);
        assert_eq!(nearest_int(-1.5), -2);
        assert_eq!(nearest_int(-2.49), -2);
        assert_eq!(nearest_int(31.51), 32);
        assert_eq!(nearest_int(-4_000_000.4), -4_000_000);
    }

    #[test]
    fn qkx2_recovers_exact_grid() {
        // x = 0.25 * L - 1.0 with L in 0..=15 is representable exactly.
        let x: Vec<f32> = (0..32).map(|i| 0.25 * (i % 16) as f32 - 1.0).collect();
        let x: [f32; 32] = x.try_into().unwrap();
        let w = [1.0f32; 32];
        let mut l = [0u8; 32];
        let (scale, min) = make_qkx2_quants(&x, &w, 15, &mut l, -1.0, 0.1, 20, false);
        for i in 0..32 {
            let back = scale * l[i] as f32 - min;
            assert!((back - x[i]).abs() < 1e-5, "i={i}: {back} vs {}", x[i]);
        }
    }

    #[test]
    fn qx_and_q3_reconstruct_small_error() {
        let x: Vec<f32> = (0..16).map(|i| ((i * 7 % 16) as f32 - 7.5) * 0.1).collect();
        let mut l = [0u8; 16];
        let s = make_qx_quants_rmse1(&x.clone().try_into().unwrap(), 32, &mut l);
        let err: f32 = (0..16)
            .map(|i| (s * (l[i] as f32 - 32.0) - x[i]).abs())
            .fold(0.0, f32::max);
        assert!(err <= s.abs() * 0.5 + 1e-6, "qx max err {err}, scale {s}");
        let mut l3 = [0i8; 16];
        let s3 = make_q3_quants_rmse(&x, 4, &mut l3);
        assert!(l3.iter().all(|&v| (0..8).contains(&v)));
        let err3: f32 = (0..16)
            .map(|i| (s3 * (l3[i] as f32 - 4.0) - x[i]).powi(2))
            .sum();
        assert!(err3 / 16.0 < 0.01, "q3 mse {}", err3 / 16.0);
    }

    #[test]
    fn all_zero_groups() {
        let x = [0.0f32; 16];
        let mut l = [9u8; 16];
        assert_eq!(make_qx_quants_rmse1(&x, 32, &mut l), 0.0);
        assert!(l.iter().all(|&v| v == 0));
        let mut l3 = [9i8; 16];
        assert_eq!(make_q3_quants_rmse(&x, 4, &mut l3), 0.0);
        assert!(l3.iter().all(|&v| v == 0));
    }
}
