"""llama.cpp's own spread on the Gemma 3 270M fixture prompts.

Usage: /root/refvenv/bin/python gemma_spread.py [MODEL.gguf] > spread.jsonl
(from the repository root; default model models/gemma-3-270m-q4_k_m.gguf)

Runs llama.cpp (llama-cpp-python 0.3.36, settings of tools/llamacpp_ref.py) on every
prompt of tests/fixtures/ref/gemma-3-270m-q4_k_m.logits.json in two variants that are
as legitimate as the fixture's own settings:
  f16            K/V cache in f16 instead of f32 (batched prefill as in the fixtures);
  f32-tokenwise  f32 cache, but the prompt decoded one token at a time (another
                 summation order in the batched matmuls).
and prints per prompt, against the fixtures: max |Δlogit| over the fixture's top 20,
top-20 overlap, the missing ids' distance to the fixture's 20th logit, the top-1, and the
first step at which the 32-token greedy continuation parts from the fixture's, with the
fixture margin there. The tolerances of crates/model/tests/gemma_fixtures.rs come from it.
"""
import json
import sys

import numpy as np
import llama_cpp as L

sys.path.insert(0, "tools")
import llamacpp_ref as R  # noqa: E402

MODEL = sys.argv[1] if len(sys.argv) > 1 else "models/gemma-3-270m-q4_k_m.gguf"
REF = "tests/fixtures/ref/gemma-3-270m-q4_k_m"


def f16_context(m):
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = 2048, 2048, 512, 1
    cp.n_threads = cp.n_threads_batch = 1
    cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
    cp.type_k = cp.type_v = 1  # GGML_TYPE_F16
    cp.offload_kqv = cp.op_offload = False
    cp.no_perf = True
    return L.llama_init_from_model(m.model, cp)


def main():
    logits = json.load(open(f"{REF}.logits.json"))["prompts"]
    greedy = json.load(open(f"{REF}.greedy.json"))["prompts"]
    m = R.Model(MODEL)
    contexts = {"f16": f16_context(m), "f32-tokenwise": m.ctx}
    for variant, ctx in contexts.items():
        m.ctx = ctx
        for p, g in zip(logits, greedy):
            ids = p["ids"]
            m.clear()
            if variant == "f32-tokenwise":
                for k, t in enumerate(ids):
                    last = m.decode([t], k, [True])[0]
            else:
                want = [False] * len(ids)
                want[-1] = True
                last = m.decode(ids, 0, want)[len(ids) - 1]
            order = np.lexsort((np.arange(len(last)), -last.astype(np.float64)))
            mine = set(order[:20].tolist())
            cut = p["top"][19][1]
            missing = [[i, v - cut] for i, v in p["top"] if i not in mine]
            gen, cur, pos = [], last, len(ids)
            for step in range(32):
                nxt = int(np.argmax(cur))
                gen.append(nxt)
                if step < 31:
                    cur = m.decode([nxt], pos, [True])[0]
                    pos += 1
            div = next((i for i, (a, b) in enumerate(zip(gen, g["generated"])) if a != b), None)
            print(json.dumps({
                "variant": variant,
                "prompt": p["name"],
                "max_abs_diff_top20": max(abs(float(last[i]) - v) for i, v in p["top"]),
                "top20_overlap": 20 - len(missing),
                "missing": missing,
                "top1": int(order[0]),
                "fixture_top1": p["top"][0][0],
                "greedy_first_divergence": div,
                "fixture_margin_there": None if div is None else g["steps"][div]["margin"],
            }), flush=True)


main()
