"""Reference logits from llama.cpp (llama-cpp-python) for crates/model tests.

Usage: /root/refvenv/bin/python make_ref.py MODEL.gguf OUT.json [--f16-kv]
Records, for a fixed prompt: the prompt token ids, the last-token top-64
logits plus the logits of 512 fixed token ids, and a 32-token greedy
continuation with each step's top-1/top-2 margin.
"""
import json
import sys

import numpy as np
import llama_cpp.llama_cpp as llama_low
from llama_cpp import Llama

# The AMX extra buffer type crashes on this machine; plain CPU buffers only.
_default_params = llama_low.llama_model_default_params


def _params_without_extra_bufts():
    p = _default_params()
    p.use_extra_bufts = False
    return p


llama_low.llama_model_default_params = _params_without_extra_bufts

PROMPT = "The capital of France is Paris. The capital of Germany is"


def main():
    model, out = sys.argv[1], sys.argv[2]
    kv_type = 1 if "--f16-kv" in sys.argv else 0
    llm = Llama(model_path=model, n_ctx=256, n_batch=256, n_threads=2, logits_all=True,
                flash_attn=False, type_k=kv_type, type_v=kv_type, verbose=False)
    toks = llm.tokenize(PROMPT.encode(), add_bos=True, special=False)
    llm.eval(toks)
    last = np.array(llm.scores[len(toks) - 1], dtype=np.float32)
    n_vocab = last.shape[0]
    top = np.argsort(-last)[:64]
    rng = np.random.default_rng(1234)
    probe = sorted(set(rng.integers(0, n_vocab, 512).tolist()))
    # greedy continuation, one token per eval
    greedy, margins = [], []
    logits = last
    for _ in range(32):
        order = np.argsort(-logits)[:2]
        greedy.append(int(order[0]))
        margins.append(float(logits[order[0]] - logits[order[1]]))
        llm.eval([int(order[0])])
        logits = np.array(llm.scores[llm.n_tokens - 1], dtype=np.float32)
    json.dump({
        "model": model.split("/")[-1],
        "kv_type": "f16" if kv_type else "f32",
        "prompt": PROMPT,
        "tokens": toks,
        "n_vocab": n_vocab,
        "top_ids": top.tolist(),
        "top_logits": last[top].tolist(),
        "probe_ids": probe,
        "probe_logits": last[probe].tolist(),
        "greedy": greedy,
        "greedy_margins": margins,
    }, open(out, "w"))


main()
