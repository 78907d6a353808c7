"""Dump llama.cpp's intermediate tensors for a prompt (debugging a divergence).

Usage: /root/refvenv/bin/python dump_layers.py MODEL.gguf OUT_DIR NAMES ID ID ...
NAMES is a comma list of graph tensor names without the layer suffix (e.g.
l_out,attn_norm,ffn_norm,kqv_out,ffn_geglu,result_norm); every contiguous F32 tensor
whose name is NAME or NAME-<layer> is written to OUT_DIR/<name>.f32 (raw little-endian,
ggml order: [n_tokens, width]). Compare with `cargo run -p model --example dump_logits
-- MODEL OUT f32 --layers N IDS...` (hidden state after N blocks = l_out-(N-1)).
Reference settings as in tools/llamacpp_ref.py (f32 KV cache, 1 thread, no flash attention).
"""
import ctypes
import os
import sys

import numpy as np
import llama_cpp as L

sys.path.insert(0, "tools")
import llamacpp_ref as R  # noqa: E402


def main():
    model, out_dir, names = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
    ids = [int(x) for x in sys.argv[4:]]
    os.makedirs(out_dir, exist_ok=True)
    got = {}
    seen = {}

    def wanted(name):
        return any(name == w or (name.startswith(w + "-") and name[len(w) + 1:].isdigit()) for w in names)

    def callback(ptr, ask, _user):
        t = R.GgmlTensor.from_address(ptr)
        name = t.name.decode()
        if ask:
            return wanted(name)
        n = t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3]
        if t.type == 0 and t.nb[0] == 4 and t.nb[1] == 4 * t.ne[0]:
            a = np.ctypeslib.as_array((ctypes.c_float * n).from_address(t.data)).copy()
            # one call per micro-batch (n_ubatch = 512): concatenate the rows
            got[name] = np.concatenate([got[name], a]) if name in got else a
            # several graph nodes can carry one name (Qcur: matmul, reshape, rope): also
            # keep each occurrence as NAME.<i> (meaningful within one micro-batch)
            seen[name] = seen.get(name, 0) + 1
            got[f"{name}.{seen[name] - 1}"] = a
        return True

    cb = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_bool, ctypes.c_void_p)(callback)
    m = R.Model(model)
    L.llama_free(m.ctx)
    cp = L.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch, cp.n_seq_max = 2048, 2048, 512, 1
    cp.n_threads = cp.n_threads_batch = 1
    cp.flash_attn_type = L.LLAMA_FLASH_ATTN_TYPE_DISABLED
    cp.type_k = cp.type_v = R.GGML_TYPE_F32
    cp.offload_kqv = cp.op_offload = False
    cp.no_perf = True
    cp.cb_eval = ctypes.cast(cb, type(cp.cb_eval))
    m.ctx = L.llama_init_from_model(m.model, cp)
    want = [False] * len(ids)
    want[-1] = True
    m.decode(ids, 0, want)
    for name, a in got.items():
        a.astype(np.float32).tofile(os.path.join(out_dir, name + ".f32"))
    print(f"{len(got)} tensors -> {out_dir}")


main()
