#!/usr/bin/env python3
"""Reference fixtures from llama.cpp (via llama-cpp-python) for one or more GGUF models.

For each model NAME (file stem) writes into tests/fixtures/ref/:
  NAME.tokens.json  token ids of every corpus string (corpus.json) for add_special x parse_special
  NAME.logits.json  last-position logits of the prompts: top-20, logsumexp, argmax (+ full logits
                    when n_vocab <= 4096)
  NAME.greedy.json  32-step greedy continuations of the same prompts, with top-1/top-2 margins
  NAME.ppl.json     perplexity exactly as llama.cpp's tools/perplexity (see tools/README.md)
  NAME.meta.json    model metadata summary, special ids, chat template presence
Settings: n_threads 1, flash attention off, F32 KV cache, CPU only (llamacpp_ref.py).

Usage:
  gen_ref_fixtures.py MODEL.gguf [MODEL.gguf ...] [--only tokens,logits,greedy,ppl,meta]
      [--tokens-name NAME] [--ppl-ctx 512,1024] [--text tests/fixtures/text/devils-dictionary.txt]
      [--n-ctx 1024 --suffix .ctx1024]   logits / greedy in another context size (LongRoPE files pick
      their factors by it), written as NAME.ctx1024.{logits,greedy}.json
  gen_ref_fixtures.py --vocab-only VOCAB.gguf [...]   tokens only, from vocab-only files such as
      llama.cpp's tests/fixtures/_cache/vocab/ggml-vocab-{llama-bpe,qwen2}.gguf (NAME.tokens.json)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np

import llamacpp_ref as R

ROOT = os.path.normpath(os.path.join(os.path.dirname(__file__), ".."))
REF = os.path.join(ROOT, "tests", "fixtures", "ref")
DEFAULT_TEXT = os.path.join(ROOT, "tests", "fixtures", "text", "devils-dictionary.txt")
TOP_K = 20
GREEDY_STEPS = 32
FULL_LOGITS_MAX_VOCAB = 4096
EVAL_CTX = 2048  # context size for the logits / greedy fixtures

PROMPTS = [
    ("capital", "The capital of France is"),
    ("once", "Once upon a time"),
    ("code", "def fibonacci(n):\n    "),
    ("count", "1, 2, 3, 4, 5,"),
    ("fox", "The quick brown fox"),
    ("qa", "Q: What is 7 times 8?\nA:"),
    ("translate", "Translate to French: Hello, how are you?"),
    ("cjk", "你好，世界！今天"),
    ("emoji", "I love 🍕 and"),
    ("devil", "ABDOMEN, n.  The temple of the god Stomach,"),
    ("single", "a"),
]
CHAT_PROMPT = ("chat", "<start_of_turn>user\nWrite a haiku about the sea.<end_of_turn>\n<start_of_turn>model\n")


def write_json(path: str, obj) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, separators=(",", ":") if ("tokens" in path or "ids" in path) else None, indent=None)
        f.write("\n")
    print(f"  wrote {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes)")


def rel(path: str) -> str:
    p = os.path.abspath(path)
    return os.path.relpath(p, ROOT) if p.startswith(ROOT) else os.path.basename(p)


def load_text(path: str) -> str:
    # llama.cpp's `-f FILE` reads the file and drops ONE trailing '\n'
    with open(path, encoding="utf-8") as f:
        text = f.read()
    return text[:-1] if text.endswith("\n") else text


def prompt_set(m: R.Model, text: str) -> list[dict]:
    """The prompts with their ids (add_special=true). A ~700-token prompt from the text exercises
    long positions (and Gemma's 512-token sliding window); a chat prompt parses special tokens."""
    prompts = [(n, t, False) for n, t in PROMPTS]
    long_text = text[: 2600]
    ids = m.tokenize(long_text, True, False)
    # tiny vocabularies give many more tokens per character; greedy steps must fit the context
    while len(ids) > min(1500, m.n_ctx - GREEDY_STEPS - 1):
        long_text = long_text[: len(long_text) * 3 // 4]
        ids = m.tokenize(long_text, True, False)
    prompts.append(("long", long_text, False))
    if "<start_of_turn>" in [m.piece(i).decode("utf-8", "replace") for i in m.tokenize("<start_of_turn>", False, True)]:
        prompts.append((CHAT_PROMPT[0], CHAT_PROMPT[1], True))
    out = []
    for name, t, special in prompts:
        out.append({"name": name, "text": t, "add_special": True, "parse_special": special,
                    "ids": m.tokenize(t, True, special)})
    return out


def gen_tokens(m: R.Model, corpus: list[str]) -> dict:
    entries = []
    for s in corpus:
        for add_special in (True, False):
            for parse_special in (False, True):
                entries.append({"text": s, "add_special": add_special, "parse_special": parse_special,
                                "ids": m.tokenize(s, add_special, parse_special)})
    return {"n_vocab": m.n_vocab, "bos": m.bos(), "eos": m.eos(), "add_bos": m.add_bos(), "entries": entries}


def logit_record(logits: np.ndarray) -> dict:
    rec = {"argmax": int(np.argmax(logits)), "logsumexp": R.logsumexp(logits), "top": R.top_k(logits, TOP_K)}
    if len(logits) <= FULL_LOGITS_MAX_VOCAB:
        rec["full"] = [R.f32(x) for x in logits]
    return rec


def gen_logits(m: R.Model, prompts: list[dict]) -> list[dict]:
    out = []
    for p in prompts:
        lg = m.last_logits(p["ids"])
        out.append({"name": p["name"], "ids": p["ids"], **logit_record(lg)})
    return out


def gen_greedy(m: R.Model, prompts: list[dict]) -> list[dict]:
    out = []
    for p in prompts:
        ids = list(p["ids"])
        lg = m.last_logits(ids)
        steps = []
        for step in range(GREEDY_STEPS):
            (a, va), (b, vb) = R.top_k(lg, 2)
            steps.append({"id": a, "logit": va, "second_id": b, "margin": va - vb})
            if step + 1 < GREEDY_STEPS:
                lg = m.decode([a], len(ids) + step, [True])[0]
        gen = [s["id"] for s in steps]
        out.append({"name": p["name"], "ids": p["ids"], "generated": gen,
                    "text": b"".join(m.piece(t, False) for t in gen).decode("utf-8", "replace"), "steps": steps})
    return out


def perplexity(m: R.Model, tokens: list[int], n_ctx: int) -> dict:
    """llama.cpp tools/perplexity/perplexity.cpp `perplexity()` (ppl_stride = 0) with n_seq = 1."""
    n_chunk = len(tokens) // n_ctx
    first = n_ctx // 2
    nll_total, count = 0.0, 0
    chunks = []
    for i in range(n_chunk):
        start = i * n_ctx
        chunk = tokens[start : start + n_ctx]
        if m.add_bos():
            chunk = [m.bos()] + chunk[1:]
        m.clear()
        want = [k >= first for k in range(n_ctx)]
        logits = m.decode(chunk, 0, want)
        nll_chunk = 0.0
        for j in range(first, n_ctx - 1):
            lg = logits[j]
            mx = float(lg.max())
            sum_exp = float(np.exp((lg - np.float32(mx)).astype(np.float32), dtype=np.float32).astype(np.float64).sum())
            target = tokens[start + j + 1]  # the original token (only position 0 was replaced)
            nll_chunk += -(float(lg[target]) - mx - math.log(sum_exp))
        n = n_ctx - first - 1
        nll_total += nll_chunk
        count += n
        chunks.append({"chunk": i, "nll_sum": nll_chunk, "ppl": math.exp(nll_chunk / n),
                       "ppl_cumulative": math.exp(nll_total / count)})
    return {"n_ctx": n_ctx, "n_chunk": n_chunk, "scored_per_chunk": n_ctx - first - 1, "count": count,
            "nll_mean": nll_total / count, "ppl": math.exp(nll_total / count), "chunks": chunks}


def gen_meta(m: R.Model, path: str) -> dict:
    meta = m.meta()
    summary = {k: v for k, v in meta.items() if not k.startswith("tokenizer.ggml.") or k.endswith("_id")
               or k in ("tokenizer.ggml.model", "tokenizer.ggml.pre") or k.startswith("tokenizer.ggml.add_")}
    return {"file": rel(path), "bytes": os.path.getsize(path), "n_vocab": m.n_vocab, "bos": m.bos(), "eos": m.eos(),
            "add_bos": m.add_bos(), "has_chat_template": "tokenizer.chat_template" in meta,
            "special_pieces": {str(i): m.piece(i).decode("utf-8", "replace") for i in sorted({m.bos(), m.eos(), 0})},
            "metadata": summary}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--only", default="meta,tokens,logits,greedy,ppl")
    ap.add_argument("--tokens-name", help="write the tokens fixture under this name (shared vocab)")
    ap.add_argument("--ppl-ctx", default="512,1024")
    ap.add_argument("--text", default=DEFAULT_TEXT)
    ap.add_argument("--vocab-only", action="store_true", help="load only the vocab; writes NAME.tokens.json")
    ap.add_argument("--n-ctx", type=int, default=EVAL_CTX, help="context size of the logits / greedy fixtures")
    ap.add_argument("--suffix", default="", help="appended to NAME in the logits / greedy file names")
    a = ap.parse_args()
    what = {"tokens"} if a.vocab_only else set(a.only.split(","))
    with open(os.path.join(REF, "corpus.json"), encoding="utf-8") as f:
        corpus = json.load(f)["strings"]
    text = load_text(a.text)
    os.makedirs(REF, exist_ok=True)

    for path in a.models:
        name = os.path.splitext(os.path.basename(path))[0]
        print(f"{name}:")
        t0 = time.time()
        m = R.Model(path, n_ctx=a.n_ctx, vocab_only=a.vocab_only)
        base = {"model": name, "model_file": rel(path), "provenance": R.provenance(),
                "n_ctx": a.n_ctx}
        if "meta" in what:
            write_json(os.path.join(REF, f"{name}.meta.json"), {**base, **gen_meta(m, path)})
        if "tokens" in what:
            tname = a.tokens_name or name
            write_json(os.path.join(REF, f"{tname}.tokens.json"), {**base, **gen_tokens(m, corpus)})
        if a.vocab_only:
            m.close()
            continue
        prompts = prompt_set(m, text)
        if "logits" in what:
            write_json(os.path.join(REF, f"{name}{a.suffix}.logits.json"),
                       {**base, "prompts": gen_logits(m, prompts)})
        if "greedy" in what:
            write_json(os.path.join(REF, f"{name}{a.suffix}.greedy.json"),
                       {**base, "steps": GREEDY_STEPS, "eos": m.eos(),
                        "note": "no stop on EOS; each step after the prompt decodes one token",
                        "prompts": gen_greedy(m, prompts)})
        m.close()
        if "ppl" in what:
            runs = []
            ids = None
            for n_ctx in [int(x) for x in a.ppl_ctx.split(",")]:
                pm = R.Model(path, n_ctx=n_ctx, n_batch=n_ctx)
                ids = pm.tokenize(text, True, False)
                if len(ids) < 2 * n_ctx:
                    print(f"  ppl: {len(ids)} tokens < 2*{n_ctx}, skipped")
                    pm.close()
                    continue
                t1 = time.time()
                runs.append(perplexity(pm, ids, n_ctx))
                print(f"  ppl n_ctx={n_ctx}: {runs[-1]['ppl']:.4f} ({time.time() - t1:.0f}s)")
                pm.close()
            if runs:
                # the text's token ids depend only on the vocab: one file per vocab name
                vname = a.tokens_name or name
                ids_file = f"{vname}.text_ids.json"
                write_json(os.path.join(REF, ids_file),
                           {"text_file": rel(a.text), "vocab": vname, "add_special": True, "parse_special": False,
                            "note": "one trailing newline dropped before tokenizing (llama.cpp -f)",
                            "n_tokens": len(ids), "ids": ids, "provenance": R.provenance()})
                write_json(os.path.join(REF, f"{name}.ppl.json"),
                           {**base, "text_file": rel(a.text), "ids_file": f"tests/fixtures/ref/{ids_file}",
                            "n_tokens": len(ids), "n_batch": "= n_ctx", "n_ubatch": 512, "runs": runs})
        print(f"  done in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
