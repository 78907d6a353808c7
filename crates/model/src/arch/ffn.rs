//! The feed-forward part of a block:
//! `x += post_norm((act(n · Wgate) * (n · Wup)) · Wdown)` with `n = rmsnorm(x)`.

use kernels::ops;
use kernels::parallel::par_zip;

use crate::error::ModelError;
use crate::forward::project;
use crate::layout::Activation;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

use super::{add_to_residual, OutputTaps};

/// A gated activation in place: `g = act(g) * u`.
type Glu = fn(&mut [f32], &[f32]);

/// The feed-forward part of layer `il` over `n` tokens.
pub(super) fn part(m: &Model, il: usize, n: usize, s: &mut Scratch) -> Result<(), ModelError> {
    let c = m.config();
    let f = &m.weights().layers[il].ffn;
    let (e, ff) = (c.n_embd, c.n_ff);

    ops::rmsnorm_into(&s.x[..n * e], &f.norm, c.rms_eps, &mut s.xb[..n * e]);
    tap(&mut s.tap, "ffn_norm", il, &s.xb[..n * e]);
    project(
        m,
        &f.gate,
        &s.xb,
        &s.runs,
        &mut s.xq,
        false,
        &mut s.hb[..n * ff],
    )?;
    project(
        m,
        &f.up,
        &s.xb,
        &s.runs,
        &mut s.xq,
        true,
        &mut s.hb2[..n * ff],
    )?;
    tap(&mut s.tap, "ffn_gate", il, &s.hb[..n * ff]);
    tap(&mut s.tap, "ffn_up", il, &s.hb2[..n * ff]);
    let (glu, name): (Glu, _) = match c.arch.layout().activation {
        Activation::Silu => (ops::swiglu, "ffn_swiglu"),
        Activation::GeluTanh => (ops::geglu, "ffn_geglu"),
    };
    par_zip(m.pool(), &mut s.hb[..n * ff], &s.hb2[..n * ff], glu);
    tap(&mut s.tap, name, il, &s.hb[..n * ff]);

    project(
        m,
        &f.down,
        &s.hb,
        &s.runs,
        &mut s.xq,
        false,
        &mut s.xb2[..n * e],
    )?;
    let taps = OutputTaps {
        out: "ffn_out",
        normed: "ffn_post_norm",
        residual: "l_out",
    };
    add_to_residual(c, il, n, f.post_norm.as_deref(), taps, s);
    Ok(())
}
