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

/// Asymmetric search `x ≈ scale * L - min` with `L` in `0..=nmax`, weighted
/// error (`|diff|` if `use_mad`, else `diff²`), trying `nstep + 1` candidate
/// inverse scales `(rmin + rdelta*is + nmax) / (max - min)` after the plain one.
/// Writes `L` (len `x.len()`), uses `laux` as scratch; returns `(scale, min)`
/// with `min >= 0` (the value subtracted).
#[allow(clippy::too_many_arguments)]
pub(crate) fn make_qkx2_quants(
    x: &[f32],
    weights: &[f32],
    nmax: i32,
    l_out: &mut [u8],
    laux: &mut [u8],
    rmin: f32,
    rdelta: f32,
    nstep: i32,
    use_mad: bool,
) -> (f32, f32) {
    let n = x.len();
    let mut min = x[0];
    let mut max = x[0];
    let mut sum_w = weights[0];
    let mut sum_x = sum_w * x[0];
    for i in 1..n {
        if x[i] < min {
            min = x[i];
        }
        if x[i] > max {
            max = x[i];
        }
        let w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if min > 0.0 {
        min = 0.0;
    }
    if max == min {
        l_out[..n].fill(0);
        return (0.0, -min);
    }
    let nmax_f = nmax as f32;
    let mut iscale = nmax_f / (max - min);
    let mut scale = 1.0 / iscale;
    let mut best_error = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
        l_out[i] = l as u8;
        let diff = scale * l as f32 + min - x[i];
        let diff = if use_mad { diff.abs() } else { diff * diff };
        best_error += weights[i] * diff;
    }
    if nstep < 1 {
        return (scale, -min);
    }
    for is in 0..=nstep {
        iscale = (rmin + rdelta * is as f32 + nmax_f) / (max - min);
        let (mut sum_l, mut sum_l2, mut sum_xl) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let l = nearest_int(iscale * (x[i] - min)).clamp(0, nmax);
            laux[i] = l as u8;
            let lf = l as f32;
            let w = weights[i];
            sum_l += w * lf;
            sum_l2 += w * lf * lf;
            sum_xl += w * lf * x[i];
        }
        let det = sum_w * sum_l2 - sum_l * sum_l;
        if det > 0.0 {
            let mut this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            let mut this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if this_min > 0.0 {
                this_min = 0.0;
                this_scale = sum_xl / sum_l2;
            }
            let mut cur_error = 0.0f32;
            for i in 0..n {
                let diff = this_scale * laux[i] as f32 + this_min - x[i];
                let diff = if use_mad { diff.abs() } else { diff * diff };
                cur_error += weights[i] * diff;
            }
            if cur_error < best_error {
                l_out[..n].copy_from_slice(&laux[..n]);
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    (scale, -min)
}

/// Symmetric search `x ≈ scale * (L - nmax)` with `L` in `0..2*nmax`, weighted
/// by `x²` (ggml's `rmse_type == 1`, no importance weights): the plain scale
/// `max / -nmax` refined by least squares, then 18 perturbed scales tried.
/// Writes `L` (len `x.len()`), returns the scale (signed).
pub(crate) fn make_qx_quants_rmse1(x: &[f32], nmax: i32, l_out: &mut [u8]) -> f32 {
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
    let nmax_f = nmax as f32;
    let mut iscale = -nmax_f / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for i in 0..n {
        let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
        l_out[i] = (l + nmax) as u8;
        let w = x[i] * x[i];
        let lf = l as f32;
        sumlx += w * x[i] * lf;
        suml2 += w * lf * lf;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for is in -9i32..=9 {
        if is == 0 {
            continue;
        }
        iscale = -(nmax_f + 0.1 * is as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let lf = nearest_int(iscale * v).clamp(-nmax, nmax - 1) as f32;
            let w = v * v;
            sumlx += w * v * lf;
            suml2 += w * lf * lf;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for i in 0..n {
                let l = nearest_int(iscale * x[i]).clamp(-nmax, nmax - 1);
                l_out[i] = (l + nmax) as u8;
            }
            scale = sumlx / suml2;
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
        let w = vec![1.0f32; 32];
        let (mut l, mut aux) = ([0u8; 32], [0u8; 32]);
        let (scale, min) = make_qkx2_quants(&x, &w, 15, &mut l, &mut aux, -1.0, 0.1, 20, false);
        for i in 0..32 {
            let back = scale * l[i] as f32 - min;
            assert!((back - x[i]).abs() < 1e-5, "i={i}: {back} vs {}", x[i]);
        }
    }

    #[test]
    fn qx_and_q3_reconstruct_small_error() {
        let x: Vec<f32> = (0..16).map(|i| ((i * 7 % 16) as f32 - 7.5) * 0.1).collect();
        let mut l = [0u8; 16];
        let s = make_qx_quants_rmse1(&x, 32, &mut l);
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
