"""Shared helpers around llama-cpp-python's low-level API (the reference implementation).

One place fixes the reference settings so every fixture is produced the same way:
n_threads = n_threads_batch = 1 (or REF_THREADS), flash attention disabled, F32 K and V cache, no GPU offload,
no extra buffer types (no AMX / repacked weights).
Imported by gen_ref_fixtures.py, quantize_tiny_models.py and gen_quant_fixtures.py.
"""

from __future__ import annotations

import ctypes
import os

import numpy as np
import llama_cpp as L

# Commit of ggml-org/llama.cpp vendored in llama-cpp-python 0.3.36 (its CHANGELOG:
# "update llama.cpp to ggml-org/llama.cpp@0c1e57098"); the sdist ships no .git to get the full hash.
LLAMA_CPP_COMMIT = "0c1e57098"
# Threads of every evaluation: 1 unless REF_THREADS says otherwise. ggml computes each output of a
# matrix product, norm or softmax row on one thread over the whole row, so the bits do not depend
# on it; more threads only make the long perplexity runs of the larger models shorter.
THREADS = int(os.environ.get("REF_THREADS", "1"))
GGML_TYPE_F32 = 0

_backend_ready = False


def _quiet_log(level, text, user_data):  # noqa: ARG001
    pass


_log_cb = L.llama_log_callback(_quiet_log)


def init_backend(verbose: bool = False) -> None:
    global _backend_ready
    if _backend_ready:
        return
    if not verbose:
        L.llama_log_set(_log_cb, ctypes.c_void_p(0))
    L.llama_backend_init()
    _backend_ready = True


def host_isa() -> str:
    """The widest x86 vector ISA of this CPU, which the native llama.cpp build uses: its f32
    reductions (vec_dot_f32, tinyBLAS, softmax) sum in AVX-512 or AVX2 lane order."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((ln.split(":", 1)[1].split() for ln in f if ln.startswith("flags")), [])
    except OSError:
        return "unknown"
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"


def provenance(**settings) -> dict:
    """The block every fixture file carries."""
    return {
        "generator": "wasm-chord tools/ (see tools/README.md)",
        "llama_cpp_python": L.__version__,
        "llama_cpp_commit": LLAMA_CPP_COMMIT,
        "host_isa": host_isa(),
        "settings": {
            "n_threads": THREADS,
            "n_threads_batch": THREADS,
            "flash_attn": False,
            "type_k": "f32",
            "type_v": "f32",
            "n_gpu_layers": 0,
            "use_extra_bufts": False,
            **settings,
        },
    }


class GgmlTensor(ctypes.Structure):
    """struct ggml_tensor of ggml 0c1e57098 (GGML_MAX_DIMS 4, GGML_MAX_SRC 10, name[64])."""
    _fields_ = [("type", ctypes.c_int), ("buffer", ctypes.c_void_p), ("ne", ctypes.c_int64 * 4),
                ("nb", ctypes.c_size_t * 4), ("op", ctypes.c_int), ("op_params", ctypes.c_int32 * 16),
                ("flags", ctypes.c_int32), ("src", ctypes.c_void_p * 10), ("view_src", ctypes.c_void_p),
                ("view_offs", ctypes.c_size_t), ("data", ctypes.c_void_p), ("name", ctypes.c_char * 64),
                ("extra", ctypes.c_void_p), ("padding", ctypes.c_char * 8)]


class Capture:
    """A `cb_eval` callback keeping every contiguous F32 graph tensor named NAME-<layer> (or
    NAME) for NAME in `names`: `got[tensor name]` = list of float32 arrays, one per graph node
    carrying that name, in evaluation order (e.g. Qcur: matmul output, then after RoPE)."""

    def __init__(self, names: list[str]):
        self.names = names
        self.got: dict[str, list[np.ndarray]] = {}
        proto = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_bool, ctypes.c_void_p)
        self.callback = proto(self._cb)

    def _wanted(self, name: str) -> bool:
        return any(name == w or (name.startswith(w + "-") and name[len(w) + 1:].isdigit()) for w in self.names)

    def _cb(self, ptr, ask, _user):
        t = GgmlTensor.from_address(ptr)
        name = t.name.decode()
        if ask:
            return self._wanted(name)
        n = t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]
        if t.type == GGML_TYPE_F32 and t.nb[0] == 4 and t.nb[1] == 4 * t.ne[0]:
            a = np.ctypeslib.as_array((ctypes.c_float * n).from_address(t.data)).copy()
            self.got.setdefault(name, []).append(a)
        return True


class Model:
    """A loaded model plus one context with the reference settings."""

    def __init__(self, path: str, n_ctx: int = 2048, n_batch: int | None = None, vocab_only: bool = False,
                 capture: Capture | None = None):
        init_backend()
        if not os.path.exists(path):
            raise FileNotFoundError(path)
        mp = L.llama_model_default_params()
        mp.n_gpu_layers = 0
        mp.use_mmap = True
        # no extra buffer types (AMX / weight repacking): the plain ggml-cpu kernels are the
        # reference, and the AMX buffer segfaults on quantized weights on this (AMX-capable) VM
        mp.use_extra_bufts = False
        mp.vocab_only = vocab_only
        self.model = L.llama_model_load_from_file(path.encode(), mp)
        if not self.model:
            raise RuntimeError(f"llama.cpp could not load {path}")
        self.vocab = L.llama_model_get_vocab(self.model)
        self.n_vocab = L.llama_vocab_n_tokens(self.vocab)
        self.ctx = None
        self.n_ctx = n_ctx
        self.n_batch = n_batch or n_ctx
        if not vocab_only:
            cp = L.llama_context_default_params()
            cp.n_ctx = n_ctx
            cp.n_batch = self.n_batch
            cp.n_ubatch = min(self.n_batch, 512)
            cp.n_seq_max = 1
            cp.n_threads = THREADS
            cp.n_threads_batch = THREADS
            cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
            cp.type_k = GGML_TYPE_F32
            cp.type_v = GGML_TYPE_F32
            cp.offload_kqv = False
            cp.op_offload = False
            cp.no_perf = True
            if capture is not None:
                cp.cb_eval = ctypes.cast(capture.callback, type(cp.cb_eval))
            self.ctx = L.llama_init_from_model(self.model, cp)
            if not self.ctx:
                raise RuntimeError(f"llama.cpp could not create a context for {path}")

    def close(self) -> None:
        if self.ctx:
            L.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            L.llama_model_free(self.model)
            self.model = None

    # ---- vocab ---------------------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (L.llama_token * cap)()
        n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            cap = -n
            buf = (L.llama_token * cap)()
            n = L.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, parse_special)
        if n < 0:
            raise RuntimeError(f"tokenize failed ({n}) for {text!r}")
        return list(buf[:n])

    def piece(self, tok: int, special: bool = True) -> bytes:
        buf = ctypes.create_string_buffer(256)
        n = L.llama_token_to_piece(self.vocab, tok, buf, 256, 0, special)
        if n < 0:
            raise RuntimeError(f"token_to_piece failed for {tok}")
        return buf.raw[:n]

    def bos(self) -> int:
        return L.llama_vocab_bos(self.vocab)

    def eos(self) -> int:
        return L.llama_vocab_eos(self.vocab)

    def add_bos(self) -> bool:
        return bool(L.llama_vocab_get_add_bos(self.vocab))

    def meta(self) -> dict[str, str]:
        out = {}
        buf = ctypes.create_string_buffer(1 << 16)
        for i in range(L.llama_model_meta_count(self.model)):
            L.llama_model_meta_key_by_index(self.model, i, buf, len(buf))
            key = buf.value.decode("utf-8", "replace")
            L.llama_model_meta_val_str_by_index(self.model, i, buf, len(buf))
            out[key] = buf.value.decode("utf-8", "replace")
        return out

    # ---- evaluation ----------------------------------------------------------------------
    def clear(self) -> None:
        L.llama_memory_clear(L.llama_get_memory(self.ctx), True)

    def decode(self, tokens: list[int], pos0: int, want_logits: list[bool]) -> dict[int, np.ndarray]:
        """Decode `tokens` at positions pos0.. in sequence 0 (in n_batch-sized calls); return
        {index in tokens: logits copy (float32 [n_vocab])} for every index with want_logits."""
        out: dict[int, np.ndarray] = {}
        for b0 in range(0, len(tokens), self.n_batch):
            chunk = tokens[b0 : b0 + self.n_batch]
            batch = L.llama_batch_init(len(chunk), 0, 1)
            try:
                batch.n_tokens = len(chunk)
                for k, t in enumerate(chunk):
                    batch.token[k] = t
                    batch.pos[k] = pos0 + b0 + k
                    batch.n_seq_id[k] = 1
                    batch.seq_id[k][0] = 0
                    batch.logits[k] = 1 if want_logits[b0 + k] else 0
                rc = L.llama_decode(self.ctx, batch)
                if rc != 0:
                    raise RuntimeError(f"llama_decode returned {rc}")
                for k in range(len(chunk)):
                    if want_logits[b0 + k]:
                        p = L.llama_get_logits_ith(self.ctx, k)
                        out[b0 + k] = np.ctypeslib.as_array(p, shape=(self.n_vocab,)).copy()
            finally:
                L.llama_batch_free(batch)
        return out

    def last_logits(self, tokens: list[int]) -> np.ndarray:
        """Fresh cache, prefill `tokens` in one pass, logits at the last position."""
        self.clear()
        want = [False] * len(tokens)
        want[-1] = True
        return self.decode(tokens, 0, want)[len(tokens) - 1]


def top_k(logits: np.ndarray, k: int) -> list[list]:
    """[[id, value], ...] by descending value; ties broken by lower id."""
    idx = np.lexsort((np.arange(len(logits)), -logits.astype(np.float64)))[:k]
    return [[int(i), f32(logits[i])] for i in idx]


def f32(x) -> float:
    """A float32 value as the shortest decimal that parses back to the same float32."""
    return float(repr(np.float32(x)).removeprefix("np.float32(").removesuffix(")"))


def logsumexp(logits: np.ndarray) -> float:
    x = logits.astype(np.float64)
    m = x.max()
    return float(m + np.log(np.exp(x - m).sum()))
