#!/usr/bin/env python3
"""Write a synthetic (random-weight) GGUF with a real SentencePiece vocab: architecture llama
(optionally with llama 3 `rope_freqs`), qwen3 or phi3 (with LongRoPE factors).

The weights are seeded gaussians (numpy PCG64), so a (seed, shape) pair always gives the same
file. The tokenizer is llama's SPM vocab taken from llama.cpp's `ggml-vocab-llama-spm.gguf`
(shipped in the llama-cpp-python sdist under vendor/llama.cpp/models/); the `tiny*` shapes keep
only a 512-entry subset of it (control tokens, the 256 byte tokens, every printable ASCII
character piece and the highest-ranked merges) so any string still tokenizes via byte fallback.

Every architecture-specific tensor and key is random and far from an identity (norm weights
1 + 0.25 N(0,1), RoPE factors in [1, 8] or [1, 40], attention factor != 1), so an implementation
that skips or misplaces one of them cannot match llama.cpp.

Usage:
  gen_synthetic_llama.py --vocab-gguf ggml-vocab-llama-spm.gguf --shape tiny --seed 1 --out tiny.gguf
  gen_synthetic_llama.py --vocab-gguf ... --shape tiny-phi3 --out tiny-phi3.gguf
  gen_synthetic_llama.py --vocab-gguf ... --shape tinyllama-1.1b --dtype f16 --out /tmp/tl.gguf

Needs: numpy, gguf (gguf-py 0.19.0).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
import gguf


@dataclasses.dataclass(frozen=True)
class Shape:
    dim: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    ffn: int
    vocab: int  # 0 = the full source vocab
    ctx: int
    tied: bool  # tied embeddings: no output.weight tensor
    arch: str = "llama"  # llama, qwen3 or phi3
    head_dim: int = 0  # 0: dim // n_heads; else written as attention.key_length / value_length
    rope_base: float = 10000.0
    rope_freqs: bool = False  # llama: a llama-3 style rope_freqs.weight tensor
    orig_ctx: int = 0  # phi3: LongRoPE factors, extended from this context (< ctx)

    def hd(self) -> int:
        return self.head_dim or self.dim // self.n_heads


SHAPES: dict[str, Shape] = {
    # GQA (2 query heads per KV head), tied output
    "tiny": Shape(dim=256, n_layers=2, n_heads=4, n_kv_heads=2, ffn=512, vocab=512, ctx=2048, tied=True),
    # multi-head attention (n_kv_heads == n_heads), tied output
    "tiny-mha": Shape(dim=256, n_layers=2, n_heads=4, n_kv_heads=4, ffn=512, vocab=512, ctx=2048, tied=True),
    # GQA with a separate output.weight
    "tiny-untied": Shape(dim=256, n_layers=2, n_heads=4, n_kv_heads=2, ffn=512, vocab=512, ctx=2048, tied=False),
    # tiny GQA with an 8192 context: attention dominates long prompts (bench/attention_memory.sh)
    "tiny-long": Shape(dim=256, n_layers=2, n_heads=4, n_kv_heads=2, ffn=512, vocab=512, ctx=8192, tied=True),
    # TinyLlama-1.1B geometry; benchmarks only, never committed
    "tinyllama-1.1b": Shape(dim=2048, n_layers=22, n_heads=32, n_kv_heads=4, ffn=5632, vocab=0, ctx=2048, tied=False),
    # the same layers with a 1024-token vocab: decode time is the layers', not the output head's
    "tinyllama-1.1b-v1k": Shape(dim=2048, n_layers=22, n_heads=32, n_kv_heads=4, ffn=5632, vocab=1024, ctx=2048, tied=False),
    # more than 4 GiB of F32 weights read every token (2 layers of 3.4 GB), each FFN matrix
    # 1.08 GB: above the 1 GiB maxStorageBufferBindingSize of WebGPU / SwiftShader, so the GPU
    # backend must split it across bindings (scripts/make-big-model.sh; never committed)
    "big-4g": Shape(dim=4096, n_layers=2, n_heads=32, n_kv_heads=8, ffn=65792, vocab=1024, ctx=2048, tied=False),
    # other architectures, for Q4_K_M (dim and ffn multiples of 256: k-quant rows) ...
    "tiny-llama3": Shape(dim=256, n_layers=2, n_heads=4, n_kv_heads=2, ffn=256, vocab=512, ctx=4096, tied=False,
                         rope_base=500000.0, rope_freqs=True),
    "tiny-qwen3": Shape(dim=256, n_layers=2, n_heads=4, n_kv_heads=2, ffn=256, vocab=512, ctx=4096, tied=True,
                        arch="qwen3", head_dim=96, rope_base=1000000.0),
    "tiny-phi3": Shape(dim=256, n_layers=2, n_heads=4, n_kv_heads=2, ffn=256, vocab=512, ctx=4096, tied=False,
                       arch="phi3", orig_ctx=1024),
    # ... and a quarter as wide for F32 (committed F32 files stay below 0.7 MB)
    "micro-llama3": Shape(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn=128, vocab=512, ctx=4096, tied=False,
                          rope_base=500000.0, rope_freqs=True),
    "micro-qwen3": Shape(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn=128, vocab=512, ctx=4096, tied=True,
                         arch="qwen3", head_dim=24, rope_base=1000000.0),
    "micro-phi3": Shape(dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn=128, vocab=512, ctx=4096, tied=False,
                        arch="phi3", orig_ctx=1024),
}

RMS_EPS = 1e-5

# Weight scales (standard deviations). Chosen so that a random model is "peaky": the output head
# gives logits with a std of ~LOGIT_STD (healthy top-1/top-2 margins, few near-ties) and attention
# scores are not uniform. token_embd (also the output head when tied) and output.weight get
# LOGIT_STD / sqrt(dim) (0.25 for dim 256).
LOGIT_STD = 4.0
QK_GAIN = 1.5  # q/k projections: QK_GAIN / sqrt(dim)
NORM_NOISE = 0.1  # norm weights: 1 + NORM_NOISE * N(0, 1)
QK_NORM_NOISE = 0.25  # qwen3 per-head q/k norm weights: 1 + QK_NORM_NOISE * N(0, 1)

TOKEN_TYPE_NORMAL = 1
TOKEN_TYPE_UNKNOWN = 2
TOKEN_TYPE_CONTROL = 3
TOKEN_TYPE_BYTE = 6


@dataclasses.dataclass
class Vocab:
    tokens: list[str]
    scores: list[float]
    types: list[int]
    bos: int
    eos: int
    unk: int


def read_spm_vocab(path: str) -> Vocab:
    r = gguf.GGUFReader(path)

    def field(key: str):
        f = r.get_field(key)
        if f is None:
            sys.exit(f"{path}: missing key {key}")
        return f.contents()

    if field("tokenizer.ggml.model") != "llama":
        sys.exit(f"{path}: tokenizer.ggml.model is not 'llama' (SPM)")
    return Vocab(
        tokens=list(field("tokenizer.ggml.tokens")),
        scores=[float(s) for s in field("tokenizer.ggml.scores")],
        types=[int(t) for t in field("tokenizer.ggml.token_type")],
        bos=int(field("tokenizer.ggml.bos_token_id")),
        eos=int(field("tokenizer.ggml.eos_token_id")),
        unk=int(field("tokenizer.ggml.unknown_token_id")),
    )


def subset_vocab(v: Vocab, size: int) -> Vocab:
    """Control/unknown tokens, all byte tokens, every printable-ASCII single-character piece
    (and the SPM space marker), then the lowest-id (highest-ranked) merges until `size`.
    Kept in the original id order, with the original scores and types."""
    special = [i for i, t in enumerate(v.types) if t in (TOKEN_TYPE_CONTROL, TOKEN_TYPE_UNKNOWN)]
    byte = [i for i, t in enumerate(v.types) if t == TOKEN_TYPE_BYTE]
    if len(byte) != 256:
        sys.exit(f"source vocab has {len(byte)} byte tokens, expected 256")
    chars = {chr(c) for c in range(0x21, 0x7F)} | {"\u2581"}
    single = [i for i, t in enumerate(v.tokens) if v.types[i] == TOKEN_TYPE_NORMAL and t in chars]
    keep = set(special) | set(byte) | set(single)
    for i, t in enumerate(v.types):
        if len(keep) >= size:
            break
        if t == TOKEN_TYPE_NORMAL:
            keep.add(i)
    if len(keep) != size:
        sys.exit(f"cannot build a {size}-token vocab (got {len(keep)})")
    ids = sorted(keep)
    remap = {old: new for new, old in enumerate(ids)}
    return Vocab(
        tokens=[v.tokens[i] for i in ids],
        scores=[v.scores[i] for i in ids],
        types=[v.types[i] for i in ids],
        bos=remap[v.bos],
        eos=remap[v.eos],
        unk=remap[v.unk],
    )


def make_weights(shape: Shape, n_vocab: int, seed: int, dtype: np.dtype) -> list[tuple[str, np.ndarray]]:
    """Returns (name, array) in GGUF order. numpy arrays are [n_out, n_in] (GGUF ne = [n_in, n_out])."""
    rng = np.random.default_rng(seed)
    head_dim = shape.hd()
    d, f = shape.dim, shape.ffn

    def gauss(rows: int, cols: int, std: float) -> np.ndarray:
        return (rng.standard_normal((rows, cols), dtype=np.float32) * np.float32(std)).astype(dtype)

    def norm(n: int, noise: float = NORM_NOISE) -> np.ndarray:
        # norm weights stay F32 (llama.cpp never quantizes 1-D tensors)
        return (1.0 + noise * rng.standard_normal(n, dtype=np.float32)).astype(np.float32)

    def factors(hi: float) -> np.ndarray:
        # RoPE frequency divisors, one per rotated pair, log-uniform in [1, hi]
        return np.exp(rng.uniform(0.0, np.log(hi), head_dim // 2)).astype(np.float32)

    head_std = LOGIT_STD / np.sqrt(d)
    out: list[tuple[str, np.ndarray]] = [("token_embd.weight", gauss(n_vocab, d, head_std))]
    if shape.rope_freqs:
        out.append(("rope_freqs.weight", factors(8.0)))
    if shape.orig_ctx:
        out.append(("rope_factors_long.weight", factors(40.0)))
        out.append(("rope_factors_short.weight", factors(2.0)))
    for i in range(shape.n_layers):
        p = f"blk.{i}."
        # drawn in the order of the plain llama files (their bytes stay the same)
        attn_norm = norm(d)
        q = gauss(shape.n_heads * head_dim, d, QK_GAIN / np.sqrt(d))
        k = gauss(shape.n_kv_heads * head_dim, d, QK_GAIN / np.sqrt(d))
        v = gauss(shape.n_kv_heads * head_dim, d, 1.0 / np.sqrt(d))
        o = gauss(d, shape.n_heads * head_dim, 1.0 / np.sqrt(d))
        if shape.arch == "phi3":
            # one fused matrix, rows q then k then v (llama.cpp build_qkv's views)
            attn = [(p + "attn_qkv.weight", np.concatenate([q, k, v])), (p + "attn_output.weight", o)]
        else:
            attn = [(p + "attn_q.weight", q), (p + "attn_k.weight", k), (p + "attn_v.weight", v),
                    (p + "attn_output.weight", o)]
        if shape.arch == "qwen3":
            attn += [(p + "attn_q_norm.weight", norm(head_dim, QK_NORM_NOISE)),
                     (p + "attn_k_norm.weight", norm(head_dim, QK_NORM_NOISE))]
        ffn_norm = norm(d)
        gate = gauss(f, d, 1.0 / np.sqrt(d))
        up = gauss(f, d, 1.0 / np.sqrt(d))
        down = gauss(d, f, 1.0 / np.sqrt(f))
        if shape.arch == "phi3":
            # gate and up in one ffn_up of 2*ffn rows, gate first (ggml_swiglu: silu(first half) * second)
            ffn = [(p + "ffn_up.weight", np.concatenate([gate, up]))]
        else:
            ffn = [(p + "ffn_gate.weight", gate), (p + "ffn_up.weight", up)]
        out += [(p + "attn_norm.weight", attn_norm), *attn, (p + "ffn_norm.weight", ffn_norm), *ffn,
                (p + "ffn_down.weight", down)]
    out.append(("output_norm.weight", norm(d)))
    if not shape.tied:
        out.append(("output.weight", gauss(n_vocab, d, head_std)))
    return out


def model_name(shape_name: str) -> str:
    """general.name. Not "phi3": llama.cpp's vocab loader then sets attributes of Phi-3's
    special tokens (<|endoftext|> ...), which the tiny SPM vocab does not have."""
    return f"synthetic-{shape_name}".replace("phi3", "phi")


def write_gguf(
    path: str,
    name: str,
    shape: Shape,
    vocab: Vocab,
    tensors: list[tuple[str, np.ndarray]],
    file_type: int,
    extra_kv: dict[str, str] | None = None,
) -> None:
    w = gguf.GGUFWriter(path, shape.arch)
    w.add_name(name)
    w.add_context_length(shape.ctx)
    w.add_embedding_length(shape.dim)
    w.add_block_count(shape.n_layers)
    w.add_feed_forward_length(shape.ffn)
    w.add_head_count(shape.n_heads)
    w.add_head_count_kv(shape.n_kv_heads)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_rope_freq_base(shape.rope_base)
    w.add_rope_dimension_count(shape.hd())
    if shape.head_dim:
        w.add_key_length(shape.head_dim)
        w.add_value_length(shape.head_dim)
    if shape.orig_ctx:
        # what convert_hf_to_gguf.py writes for LongRoPE: the original context and the attention
        # factor sqrt(1 + ln(ctx / orig) / ln(orig)) (no rope.scaling.type key)
        w.add_rope_scaling_orig_ctx_len(shape.orig_ctx)
        w.add_rope_scaling_attn_factors(float(np.sqrt(1 + np.log(shape.ctx / shape.orig_ctx) / np.log(shape.orig_ctx))))
    w.add_vocab_size(len(vocab.tokens))
    w.add_file_type(file_type)
    for k, v in (extra_kv or {}).items():
        w.add_string(k, v)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(vocab.tokens)
    w.add_token_scores(vocab.scores)
    w.add_token_types(vocab.types)
    w.add_bos_token_id(vocab.bos)
    w.add_eos_token_id(vocab.eos)
    w.add_unk_token_id(vocab.unk)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    for tname, arr in tensors:
        w.add_tensor(tname, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab-gguf", required=True, help="llama.cpp models/ggml-vocab-llama-spm.gguf")
    ap.add_argument("--shape", required=True, choices=sorted(SHAPES))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dtype", choices=["f32", "f16"], default="f32")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    shape = SHAPES[a.shape]
    vocab = read_spm_vocab(a.vocab_gguf)
    if shape.vocab:
        vocab = subset_vocab(vocab, shape.vocab)
    dtype = np.float32 if a.dtype == "f32" else np.float16
    file_type = 0 if a.dtype == "f32" else 1  # LLAMA_FTYPE_ALL_F32 / MOSTLY_F16
    tensors = make_weights(shape, len(vocab.tokens), a.seed, dtype)
    extra = {"general.description": f"wasm-chord synthetic llama, shape={a.shape} seed={a.seed}"}
    write_gguf(a.out, model_name(a.shape), shape, vocab, tensors, file_type, extra)
    n_params = sum(t.size for _, t in tensors)
    print(f"wrote {a.out}: shape={a.shape} seed={a.seed} vocab={len(vocab.tokens)} params={n_params}")


if __name__ == "__main__":
    main()
