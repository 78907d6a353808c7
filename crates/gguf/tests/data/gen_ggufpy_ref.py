#!/usr/bin/env python3
"""Write ggufpy_ref.gguf with gguf-py (the reference writer from llama.cpp):
alignment 64, every scalar type, typed and nested arrays, F32/F16/Q8_0/Q4_K
tensors. crates/gguf/tests/ggufpy.rs reads it and rewrites it byte for byte.

Usage: /root/refvenv/bin/python crates/gguf/tests/data/gen_ggufpy_ref.py
(needs `pip install gguf==0.19.0 numpy`).
"""

import os

import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf import GGUFValueType as V
from gguf import GGUFWriter

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ggufpy_ref.gguf")

w = GGUFWriter(OUT, "refarch")
w.add_custom_alignment(64)
w.add_uint8("ref.u8", 250)
w.add_int8("ref.i8", -5)
w.add_uint16("ref.u16", 65000)
w.add_int16("ref.i16", -32000)
w.add_uint32("ref.u32", 123456789)
w.add_int32("ref.i32", -123456789)
w.add_uint64("ref.u64", 2**63 + 11)
w.add_int64("ref.i64", -(2**62))
w.add_float32("ref.f32", 0.1)
w.add_float64("ref.f64", -2.5e-300)
w.add_bool("ref.bool", True)
w.add_string("ref.str", "gguf-py ▁snowman ☃")
w.add_array("ref.arr_i32", [1, -2, 3])
w.add_array("ref.arr_f32", [0.5, 1.5])
w.add_array("ref.arr_str", ["a", "", "ü"])
w.add_array("ref.arr_bool", [True, False])
w.add_key_value("ref.arr_u8", [1, 2, 255], V.ARRAY, sub_type=V.UINT8)
w.add_array("ref.nested", [[1, 2], [3]])

rng = np.random.default_rng(7)
w.add_tensor("f32", np.arange(10, dtype=np.float32))
w.add_tensor("f16", rng.standard_normal((3, 4)).astype(np.float16))
w.add_tensor("q8_0", rng.integers(0, 256, (2, 34), dtype=np.uint8), raw_dtype=Q.Q8_0)
w.add_tensor("q4_k", rng.integers(0, 256, (1, 144), dtype=np.uint8), raw_dtype=Q.Q4_K)

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote", OUT, os.path.getsize(OUT), "bytes")
