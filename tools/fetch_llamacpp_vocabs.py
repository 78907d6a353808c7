#!/usr/bin/env python3
"""Fetch llama.cpp's tokenizer test vocabularies into tests/fixtures/_cache/vocab/.

llama.cpp ships small vocab-only GGUF files (`models/ggml-vocab-*.gguf`) together with
test vectors (`*.gguf.inp` inputs, `*.gguf.out` expected token ids). The only way to reach
them from this environment is through PyPI: the llama-cpp-python source distribution
vendors llama.cpp. This script downloads that sdist with `pip download` (no other network
access) and extracts just those files.

Idempotent: if the cache already holds the files (a `.complete` marker), it does nothing.
Usage: python3 tools/fetch_llamacpp_vocabs.py [--dest DIR] [--version X.Y.Z] [--force]
"""
import argparse
import os
import subprocess
import sys
import tarfile
import tempfile

DEFAULT_VERSION = "0.3.36"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DEST = os.path.join(ROOT, "tests", "fixtures", "_cache", "vocab")
MARKER = ".complete"


def wanted(member_name: str) -> str | None:
    """Return the bare file name if this archive member is a vocab file we keep."""
    parts = member_name.split("/")
    if len(parts) < 2 or parts[-2] != "models":
        return None
    if "vendor" not in parts or "llama.cpp" not in parts:
        return None
    name = parts[-1]
    if not name.startswith("ggml-vocab-"):
        return None
    if name.endswith(".gguf") or name.endswith(".gguf.inp") or name.endswith(".gguf.out"):
        return name
    return None


def download_sdist(version: str, workdir: str) -> str:
    # Only llama-cpp-python itself is fetched as source; pip may pull its
    # (pure-Python / wheel) build backend to read the sdist's metadata.
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps",
        "--no-binary", "llama-cpp-python", f"llama-cpp-python=={version}", "-d", workdir,
    ]
    res = subprocess.run(cmd, capture_output=True, text=True)
    tars = [f for f in os.listdir(workdir) if f.endswith(".tar.gz")]
    if not tars:
        sys.stderr.write(res.stdout + res.stderr)
        raise SystemExit(f"pip download of llama-cpp-python=={version} produced no .tar.gz")
    return os.path.join(workdir, tars[0])


def extract(sdist: str, dest: str) -> list[str]:
    os.makedirs(dest, exist_ok=True)
    got = []
    with tarfile.open(sdist, "r:gz") as tf:
        for m in tf:
            if not m.isfile():
                continue
            name = wanted(m.name)
            if name is None:
                continue
            src = tf.extractfile(m)
            if src is None:
                continue
            tmp = os.path.join(dest, name + ".part")
            with open(tmp, "wb") as out:
                out.write(src.read())
            os.replace(tmp, os.path.join(dest, name))
            got.append(name)
    return sorted(got)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dest", default=DEFAULT_DEST)
    ap.add_argument("--version", default=DEFAULT_VERSION)
    ap.add_argument("--sdist", help="use an already downloaded sdist instead of pip download")
    ap.add_argument("--force", action="store_true")
    args = ap.parse_args()

    marker = os.path.join(args.dest, MARKER)
    if os.path.exists(marker) and not args.force:
        print(f"vocab cache already present in {args.dest}")
        return
    if args.sdist:
        got = extract(args.sdist, args.dest)
    else:
        with tempfile.TemporaryDirectory() as td:
            got = extract(download_sdist(args.version, td), args.dest)
    if not any(g.endswith(".gguf.inp") for g in got):
        raise SystemExit("no ggml-vocab-*.gguf.inp files found in the sdist")
    with open(marker, "w") as f:
        f.write(f"llama-cpp-python=={args.version}\n" + "\n".join(got) + "\n")
    print(f"extracted {len(got)} files into {args.dest}")


if __name__ == "__main__":
    main()
