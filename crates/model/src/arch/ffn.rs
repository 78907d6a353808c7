//! The feed-forward part of a block:
//! `x += post_norm((act(n · Wgate) * (n · Wup)) · Wdown)` with `n = rmsnorm(x)`.

use crate::backend::{Backend, Buf};
use crate::error::ModelError;
use crate::layout::Activation;
use crate::model::Model;
use crate::scratch::{tap, Scratch};

use super::{add_to_residual, OutputTaps};

/// The feed-forward part of layer `il` over `n` tokens.
pub(super) fn part<B: Backend>(
    m: &Model<B>,
    il: usize,
    n: usize,
    s: &mut Scratch<B>,
) -> Result<(), ModelError> {
    let c = m.config();
    let b = m.backend();
    let f = &m.weights().layers[il].ffn;

    b.rmsnorm(&mut s.acts, Buf::X, Buf::Xb, &f.norm, c.rms_eps, n);
    tap(b, s, "ffn_norm", il, Buf::Xb, n);
    let gate_up = [(&f.gate, Buf::Hb), (&f.up, Buf::Hb2)];
    b.project(&mut s.acts, Buf::Xb, &gate_up, &s.runs)?;
    tap(b, s, "ffn_gate", il, Buf::Hb, n);
    tap(b, s, "ffn_up", il, Buf::Hb2, n);
    let act = c.arch.layout().activation;
    let name = match act {
        Activation::Silu => "ffn_swiglu",
        Activation::GeluTanh => "ffn_geglu",
    };
    b.glu(&mut s.acts, act, n);
    tap(b, s, name, il, Buf::Hb, n);

    b.project(&mut s.acts, Buf::Hb, &[(&f.down, Buf::Xb2)], &s.runs)?;
    let taps = OutputTaps {
        out: "ffn_out",
        normed: "ffn_post_norm",
        residual: "l_out",
    };
    add_to_residual(m, il, n, f.post_norm.as_ref(), taps, s);
    Ok(())
}
