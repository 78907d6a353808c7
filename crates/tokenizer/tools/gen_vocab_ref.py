#!/usr/bin/env python3
"""Reference data for the tokenizer crate, produced with llama.cpp (llama-cpp-python).

For every ggml-vocab-*.gguf in the vocab cache (tools/fetch_llamacpp_vocabs.py) and the
Gemma 3 model, writes tests/fixtures/vocab/<name>.ref.json with:
  - detok: llama_detokenize(ids of each .inp case, remove_special=False,
    unparse_special in {False, True}) as hex bytes;
  - special: llama_tokenize of strings with special-token syntax, for all four
    (add_special, parse_special) combinations;
  - pieces: llama_token_to_piece(id, lstrip=0, special in {False, True}) for a sample of ids;
  - eog: every id llama_vocab_is_eog accepts; bos/eos/add_bos/add_eos.

Usage: /root/refvenv/bin/python crates/tokenizer/tools/gen_vocab_ref.py
"""
import ctypes
import json
import os
import sys

import llama_cpp

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CACHE = os.path.join(ROOT, "tests", "fixtures", "_cache", "vocab")
OUT = os.path.join(ROOT, "tests", "fixtures", "vocab")
SEP = "\n__ggml_vocab_test__\n"

VOCABS = [
    "llama-spm", "phi-3", "llama-bpe", "qwen2", "qwen35", "gpt-2", "mpt", "starcoder",
    "refact", "command-r", "falcon", "deepseek-coder", "deepseek-llm", "gemma-4",
]

SPECIAL_STRINGS = [
    "<s>Hello</s>",
    " <s> spaced </s> ",
    "<|endoftext|>Hi<|endoftext|>",
    "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<|user|>\nHi <|end|>\n<|assistant|>",
    "<unk><pad><bos><eos><mask>",
    "text<|endoftext|>  more",
    "a\n\n<|im_end|>\n\nb",
]


def tokenize(vocab, text: bytes, add_special: bool, parse_special: bool):
    n_max = len(text) + 16
    buf = (llama_cpp.llama_token * n_max)()
    n = llama_cpp.llama_tokenize(vocab, text, len(text), buf, n_max, add_special, parse_special)
    if n < 0:
        raise RuntimeError("tokenize buffer too small")
    return [buf[i] for i in range(n)]


def detokenize(vocab, ids, unparse_special: bool) -> bytes:
    arr = (llama_cpp.llama_token * max(1, len(ids)))(*ids)
    cap = 64 + 64 * len(ids)
    text = ctypes.create_string_buffer(cap)
    n = llama_cpp.llama_detokenize(vocab, arr, len(ids), text, cap, False, unparse_special)
    if n < 0:
        raise RuntimeError("detokenize buffer too small")
    return text.raw[:n]


def piece(vocab, tid: int, special: bool) -> bytes:
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(vocab, tid, buf, 256, 0, special)
    if n < 0:
        raise RuntimeError("piece buffer too small")
    return buf.raw[:n]


def read_cases(path):
    with open(path + ".inp", encoding="utf-8", newline="") as f:
        raw = f.read()
    inputs = []
    pos = 0
    while pos < len(raw):
        i = raw.find(SEP, pos)
        if i < 0:
            inputs.append(raw[pos:])
            break
        inputs.append(raw[pos:i])
        pos = i + len(SEP)
    with open(path + ".out", encoding="utf-8") as f:
        outs = [[int(t) for t in line.split()] for line in f.read().splitlines()]
    return list(zip(inputs, outs))


def build(name: str, path: str, with_cases: bool):
    model = llama_cpp.llama_model_load_from_file(
        path.encode(), llama_cpp.llama_model_params(vocab_only=True)
    )
    if not model:
        raise RuntimeError(f"cannot load {path}")
    vocab = llama_cpp.llama_model_get_vocab(model)
    n_vocab = llama_cpp.llama_vocab_n_tokens(vocab)
    doc = {
        "vocab": name,
        "provenance": {"llama_cpp_python": llama_cpp.__version__,
                       "generator": "crates/tokenizer/tools/gen_vocab_ref.py"},
        "n_vocab": n_vocab,
        "bos": llama_cpp.llama_vocab_bos(vocab),
        "eos": llama_cpp.llama_vocab_eos(vocab),
        "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(vocab)),
        "add_eos": bool(llama_cpp.llama_vocab_get_add_eos(vocab)),
        "eog": [i for i in range(n_vocab) if llama_cpp.llama_vocab_is_eog(vocab, i)],
    }
    if with_cases:
        doc["detok"] = [
            {"ids": ids,
             "text": detokenize(vocab, ids, False).hex(),
             "text_special": detokenize(vocab, ids, True).hex()}
            for _, ids in read_cases(path)
        ]
    special = []
    for s in SPECIAL_STRINGS:
        for add in (False, True):
            for parse in (False, True):
                ids = tokenize(vocab, s.encode(), add, parse)
                special.append({"text": s, "add_special": add, "parse_special": parse, "ids": ids,
                                "detok": detokenize(vocab, ids, False).hex(),
                                "detok_special": detokenize(vocab, ids, True).hex()})
    doc["special"] = special
    sample = sorted(set(list(range(min(n_vocab, 300))) + list(range(0, n_vocab, 997)) + doc["eog"]))
    doc["pieces"] = [[i, piece(vocab, i, False).hex(), piece(vocab, i, True).hex()] for i in sample]
    llama_cpp.llama_model_free(model)
    return doc


def main():
    llama_cpp.llama_backend_init()
    os.makedirs(OUT, exist_ok=True)
    jobs = [(v, os.path.join(CACHE, f"ggml-vocab-{v}.gguf"), True) for v in VOCABS]
    jobs.append(("gemma-3-270m", os.path.join(ROOT, "models", "gemma-3-270m-q4_k_m.gguf"), False))
    for name, path, with_cases in jobs:
        if not os.path.exists(path):
            print(f"skip {name}: {path} missing", file=sys.stderr)
            continue
        doc = build(name, path, with_cases)
        out = os.path.join(OUT, f"{name}.ref.json")
        with open(out, "w", encoding="utf-8") as f:
            json.dump(doc, f, ensure_ascii=False, separators=(",", ":"))
            f.write("\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
