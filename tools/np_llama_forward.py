#!/usr/bin/env python3
"""An independent float64 numpy forward pass for llama-architecture GGUF files (F32/F16 or any
type gguf-py can dequantize), used to cross-check llama.cpp on the synthetic models.

It spells out the math the Rust `llama` forward must implement: RMSNorm (x / sqrt(mean(x²)+eps) * w),
RoPE in llama's *normal* mode (rotate interleaved pairs (x[2i], x[2i+1]) by pos * base^(-2i/hd)),
causal softmax attention with scores / sqrt(head_dim) and GQA (query head h uses KV head
h / (n_heads / n_kv_heads)), SwiGLU FFN (silu(gate) * up, then down), final RMSNorm, output head
(`output.weight`, or `token_embd.weight` when tied).

Usage: np_llama_forward.py MODEL.gguf "text" [--check]   (--check compares with llama.cpp)
"""

from __future__ import annotations

import argparse

import numpy as np
import gguf


def load(path: str) -> tuple[dict[str, np.ndarray], dict]:
    r = gguf.GGUFReader(path)
    weights = {}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        weights[t.name] = np.asarray(a, dtype=np.float64).reshape([int(x) for x in reversed(t.shape)])

    def f(key: str):
        return r.get_field(key).contents()

    cfg = {
        "dim": f("llama.embedding_length"),
        "n_layers": f("llama.block_count"),
        "n_heads": f("llama.attention.head_count"),
        "n_kv_heads": f("llama.attention.head_count_kv"),
        "eps": f("llama.attention.layer_norm_rms_epsilon"),
        "base": f("llama.rope.freq_base"),
    }
    return weights, cfg


def rmsnorm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def rope_normal(x: np.ndarray, pos: np.ndarray, base: float) -> np.ndarray:
    # x: [T, H, hd]; pairs (2i, 2i+1) rotated by angle pos * base^(-2i/hd)
    hd = x.shape[-1]
    inv = base ** (-np.arange(0, hd, 2) / hd)
    ang = pos[:, None] * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def forward(w: dict[str, np.ndarray], c: dict, tokens: list[int]) -> np.ndarray:
    """tokens: [T] -> logits [T, n_vocab] (float64)."""
    n = len(tokens)
    d, nh, nkv = c["dim"], c["n_heads"], c["n_kv_heads"]
    hd = d // nh
    x = w["token_embd.weight"][tokens]
    pos = np.arange(n, dtype=np.float64)
    mask = np.triu(np.full((n, n), -np.inf), 1)
    for layer in range(c["n_layers"]):
        p = f"blk.{layer}."
        h = rmsnorm(x, w[p + "attn_norm.weight"], c["eps"])
        q = rope_normal((h @ w[p + "attn_q.weight"].T).reshape(n, nh, hd), pos, c["base"])
        k = rope_normal((h @ w[p + "attn_k.weight"].T).reshape(n, nkv, hd), pos, c["base"])
        v = (h @ w[p + "attn_v.weight"].T).reshape(n, nkv, hd)
        att = np.zeros((n, nh, hd))
        for head in range(nh):
            kv = head // (nh // nkv)
            s = q[:, head] @ k[:, kv].T / np.sqrt(hd) + mask
            s = np.exp(s - s.max(1, keepdims=True))
            att[:, head] = (s / s.sum(1, keepdims=True)) @ v[:, kv]
        x = x + att.reshape(n, d) @ w[p + "attn_output.weight"].T
        h = rmsnorm(x, w[p + "ffn_norm.weight"], c["eps"])
        g, u = h @ w[p + "ffn_gate.weight"].T, h @ w[p + "ffn_up.weight"].T
        x = x + (g / (1.0 + np.exp(-g)) * u) @ w[p + "ffn_down.weight"].T
    h = rmsnorm(x, w["output_norm.weight"], c["eps"])
    return h @ w.get("output.weight", w["token_embd.weight"]).T


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("text")
    ap.add_argument("--check", action="store_true", help="compare the last-position logits with llama.cpp")
    a = ap.parse_args()
    w, c = load(a.model)
    import llamacpp_ref as R  # needs llama-cpp-python only for tokenizing / --check

    m = R.Model(a.model, n_ctx=2048)
    ids = m.tokenize(a.text, True, False)
    ours = forward(w, c, ids)[-1]
    print(f"{len(ids)} tokens; argmax {int(ours.argmax())}, logit std {ours.std():.3f}")
    if a.check:
        ref = m.last_logits(ids)
        print(f"llama.cpp argmax {int(ref.argmax())}; max |diff| {np.abs(ours - ref).max():.3g}")
    m.close()


if __name__ == "__main__":
    main()
