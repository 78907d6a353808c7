#!/usr/bin/env python3
"""Generate the malformed GGUF corpus (tests/fixtures/malformed/*.gguf) and a
tiny valid file (fuzz/seeds/valid_tiny.gguf).

Standard library only: every file is packed by hand from the GGUF layout, so
the corpus does not depend on the writer it helps to test. Each malformed file
breaks exactly one rule; crates/gguf/tests/malformed.rs maps every file name
to the error variant the reader must return.

Usage: python3 tools/gen_malformed.py   (run from anywhere; rewrites the files)
"""

import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "malformed")
SEEDS = os.path.join(ROOT, "fuzz", "seeds")

# GGUF value type ids
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
# ggml type ids used here
T_F32, T_F16, T_Q8_0, T_Q4_K = 0, 1, 8, 12


def u32(x):
    return struct.pack("<I", x)


def u64(x):
    return struct.pack("<Q", x)


def gstr(s):
    b = s if isinstance(s, bytes) else s.encode()
    return u64(len(b)) + b


def header(n_tensors, n_kv, version=3, magic=b"GGUF"):
    return magic + u32(version) + u64(n_tensors) + u64(n_kv)


def kv(key, vtype, payload):
    """A metadata pair; `payload` is the already packed value."""
    return gstr(key) + u32(vtype) + payload


def kv_str(key, s):
    return kv(key, STR, gstr(s))


def kv_u32(key, x):
    return kv(key, U32, u32(x))


def tinfo(name, dims, ggml_type, offset):
    out = gstr(name) + u32(len(dims))
    for d in dims:
        out += u64(d)
    return out + u32(ggml_type) + u64(offset)


def pad(b, align=32):
    return b + b"\0" * ((-len(b)) % align)


def gguf(kvs, infos, data=b"", align=32, version=3):
    """A complete file: header, pairs, infos, padding, data."""
    meta = header(len(infos), len(kvs), version) + b"".join(kvs) + b"".join(infos)
    return pad(meta, align) + data


ARCH = kv_str("general.architecture", "test")


def valid_tiny():
    """Two tensors (F32 [4], Q8_0 [32, 2]), a few value types, alignment 32."""
    kvs = [
        ARCH,
        kv_u32("test.count", 7),
        kv("test.scale", F32, struct.pack("<f", 0.5)),
        kv("test.flag", BOOL, b"\x01"),
        kv("test.tokens", ARR, u32(STR) + u64(3) + gstr("<s>") + gstr("a") + gstr("\u2581b")),
        kv("test.ids", ARR, u32(I32) + u64(2) + struct.pack("<ii", -1, 5)),
    ]
    f32_data = struct.pack("<4f", 1.0, -2.0, 0.25, 8.0)  # 16 bytes, padded to 32
    q8_block = struct.pack("<e", 0.5) + bytes(range(32))  # 34 bytes
    infos = [tinfo("a.f32", [4], T_F32, 0), tinfo("b.q8_0", [32, 2], T_Q8_0, 32)]
    return gguf(kvs, infos, pad(f32_data) + pad(q8_block * 2))


def one_tensor(name="t", dims=(8,), ggml_type=T_F32, offset=0, data_len=32, kvs=(ARCH,)):
    return gguf(list(kvs), [tinfo(name, list(dims), ggml_type, offset)], b"\x11" * data_len)


def cases():
    v = valid_tiny()
    meta_only = header(0, 1) + ARCH  # no padding needed without tensors
    c = {}

    # --- header
    c["bad_magic"] = b"GGML" + v[4:]
    c["empty_file"] = b""
    c["truncated_in_magic"] = b"GG"
    c["truncated_in_header"] = v[:14]
    c["version_0"] = header(0, 0, version=0)
    c["version_1"] = header(0, 0, version=1)
    c["version_4"] = header(0, 0, version=4)
    c["big_endian"] = b"GGUF" + struct.pack(">IQQ", 3, 0, 1) + b"\0" * 32
    c["huge_kv_count"] = header(0, 1 << 40) + ARCH
    c["huge_tensor_count"] = header(1 << 40, 1) + ARCH

    # --- metadata
    c["truncated_in_kv_key"] = header(0, 1) + u64(20) + b"general.arch"
    c["truncated_in_kv_string"] = meta_only[:-2]
    c["truncated_in_kv_value"] = header(0, 1) + gstr("x.u64") + u32(U64) + b"\1\2\3"
    c["truncated_in_kv_type"] = header(0, 1) + gstr("x.u64") + b"\4\0"
    c["truncated_in_string_array"] = header(0, 1) + kv(
        "x.arr", ARR, u32(STR) + u64(2) + gstr("abc") + gstr("de")[:-1]
    )
    c["huge_string_length"] = header(0, 1) + gstr("x.str") + u32(STR) + u64(1 << 63) + b"abc"
    c["huge_key_length"] = header(0, 1) + u64(0xFFFF_FFFF_FFFF_FFFF) + b"key" + b"\0" * 16
    c["huge_array_count"] = header(0, 1) + kv("x.arr", ARR, u32(U32) + u64(1 << 40) + u32(0))
    # 3 elements' worth of u32 bytes would fit, but 3 strings need >= 24 bytes.
    c["huge_string_array_count"] = header(0, 1) + kv("x.arr", ARR, u32(STR) + u64(3) + u64(0) * 2)
    c["array_count_overflow"] = header(0, 1) + kv("x.arr", ARR, u32(U64) + u64(1 << 62) + u64(0))
    nested = b""
    for _ in range(9):
        nested += u32(ARR) + u64(1)
    nested += u32(U8) + u64(1) + b"\x07"
    c["nested_too_deep"] = header(0, 1) + kv("x.deep", ARR, nested)
    c["unknown_value_type"] = header(0, 1) + kv("x.bad", 13, u32(0))
    c["unknown_array_elem_type"] = header(0, 1) + kv("x.bad", ARR, u32(99) + u64(1) + u32(0))
    c["invalid_utf8_key"] = header(0, 1) + kv(b"x.\xff\xfe", U8, b"\0")
    c["invalid_utf8_value"] = header(0, 1) + kv("x.str", STR, gstr(b"ok\xc3("))
    c["invalid_utf8_in_string_array"] = header(0, 1) + kv(
        "x.arr", ARR, u32(STR) + u64(2) + gstr("fine") + gstr(b"\x80")
    )
    c["empty_key"] = header(0, 1) + kv("", U32, u32(0)) + b"\0" * 8
    c["duplicate_key"] = header(0, 3) + ARCH + kv_u32("x.n", 1) + kv_u32("x.n", 2)
    c["alignment_zero"] = header(0, 1) + kv_u32("general.alignment", 0)
    c["alignment_not_pow2"] = header(0, 1) + kv_u32("general.alignment", 48)
    c["alignment_wrong_type"] = header(0, 1) + kv("general.alignment", U64, u64(32))

    # --- tensor infos
    c["truncated_in_tensor_info"] = (header(1, 1) + ARCH + tinfo("t", [8], T_F32, 0))[:-5]
    c["truncated_in_tensor_name"] = header(1, 1) + ARCH + u64(10) + b"blk"
    c["tensor_name_too_long"] = one_tensor(name="n" * 64)
    c["invalid_utf8_tensor_name"] = one_tensor(name=b"w\xc0\xaf")
    c["duplicate_tensor"] = gguf([ARCH], [tinfo("t", [8], T_F32, 0), tinfo("t", [8], T_F32, 32)], b"\0" * 64)
    c["too_many_dims"] = one_tensor(dims=(8, 1, 1, 1, 1))
    c["dim_negative"] = one_tensor(dims=(8, 1 << 63))
    c["dims_overflow"] = one_tensor(dims=(1 << 32, 1 << 32))
    c["unknown_type"] = one_tensor(ggml_type=4)  # removed Q4_2
    c["unknown_type_large"] = one_tensor(ggml_type=1000)
    c["row_not_block_multiple"] = one_tensor(dims=(100, 2), ggml_type=T_Q4_K)
    c["tensor_size_overflow"] = one_tensor(dims=(1 << 62,))

    # --- data section
    c["data_section_missing"] = header(1, 1) + ARCH + tinfo("t", [0], T_F32, 0)
    c["offset_misaligned"] = one_tensor(offset=16, data_len=64)
    c["tensor_out_of_bounds"] = one_tensor(offset=64, data_len=64)
    c["tensor_offset_overflow"] = one_tensor(offset=(1 << 64) - 32)
    c["truncated_tensor_data"] = one_tensor(dims=(16,), data_len=60)
    c["tensor_overlap"] = gguf(
        [ARCH], [tinfo("a", [16], T_F32, 0), tinfo("b", [8], T_F32, 32)], b"\0" * 64
    )
    c["tensor_overlap_same_offset"] = gguf(
        [ARCH], [tinfo("a", [8], T_F16, 0), tinfo("b", [4], T_F32, 0)], b"\0" * 32
    )
    c["misaligned_with_alignment_kv"] = gguf(
        [kv_u32("general.alignment", 64)], [tinfo("t", [8], T_F32, 32)], b"\0" * 128, align=64
    )
    return c


def main():
    os.makedirs(OUT, exist_ok=True)
    os.makedirs(SEEDS, exist_ok=True)
    for name in os.listdir(OUT):
        if name.endswith(".gguf"):
            os.remove(os.path.join(OUT, name))
    for name, data in sorted(cases().items()):
        assert len(data) < 4096, name
        with open(os.path.join(OUT, name + ".gguf"), "wb") as f:
            f.write(data)
    with open(os.path.join(SEEDS, "valid_tiny.gguf"), "wb") as f:
        f.write(valid_tiny())
    print(f"wrote {len(cases())} files to {OUT} and valid_tiny.gguf to {SEEDS}", file=sys.stderr)


if __name__ == "__main__":
    main()
