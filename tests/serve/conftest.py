"""Starts `wasm-chord serve` on ephemeral ports for the suite.

The binary is $WASM_CHORD_BIN, else target/release/wasm-chord, else
target/debug/wasm-chord. Gemma 3 270M (models/gemma-3-270m-q4_k_m.gguf)
serves most tests; a missing model skips them, or fails them when CI is set.
Every server listens on 127.0.0.1 only and is stopped with SIGTERM, which
must end it with status 0.
"""

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

ROOT = Path(__file__).resolve().parents[2]
GEMMA = ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
TINY = ROOT / "tests" / "fixtures" / "models" / "tiny-llama3-q4_k_m.gguf"


def binary() -> Path:
    if os.environ.get("WASM_CHORD_BIN"):
        return Path(os.environ["WASM_CHORD_BIN"])
    for profile in ("release", "debug"):
        p = ROOT / "target" / profile / "wasm-chord"
        if p.exists():
            return p
    pytest.fail("no wasm-chord binary: cargo build --release -p wasm-chord")


def need(model: Path) -> Path:
    if not model.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{model} is missing (scripts/fetch-model.sh)")
        pytest.skip(f"{model} not found (scripts/fetch-model.sh)")
    return model


class Server:
    """A running `wasm-chord serve`; `url` is its base URL."""

    def __init__(self, args, env=None):
        self.args = args
        self.proc = subprocess.Popen(
            [str(binary()), "serve", "--host", "127.0.0.1", "--port", "0", *args],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.log = []
        self.url = None
        deadline = time.monotonic() + 60
        while self.url is None:
            line = self.proc.stderr.readline()
            if not line:
                raise RuntimeError(f"serve exited: {self.log}")
            self.log.append(line)
            if "listening on http://" in line:
                self.url = line.split("listening on ", 1)[1].strip()
            assert time.monotonic() < deadline, self.log
        self.drain = threading.Thread(target=self._drain, daemon=True)
        self.drain.start()
        self.health_seen = []
        while True:
            r = httpx.get(self.url + "/health", timeout=10)
            self.health_seen.append((r.status_code, r.text))
            if r.status_code == 200:
                break
            assert time.monotonic() < deadline, self.health_seen
            time.sleep(0.01)

    def _drain(self):
        for line in self.proc.stderr:
            self.log.append(line)

    def client(self, **kw) -> openai.OpenAI:
        kw.setdefault("api_key", "none")
        return openai.OpenAI(base_url=self.url + "/v1", timeout=120, max_retries=0, **kw)

    def get(self, path, **kw):
        return httpx.get(self.url + path, timeout=30, **kw)

    def post(self, path, **kw):
        return httpx.post(self.url + path, timeout=120, **kw)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def started(args, env=None):
    s = Server(args, env)
    yield s
    code = s.stop()
    assert code == 0, "".join(s.log)


@pytest.fixture(scope="session")
def gemma():
    """Gemma 3 270M, 8 slots of 2048 tokens, greedy by default."""
    yield from started(["-m", str(need(GEMMA)), "-np", "8", "-c", "2048", "--temp", "0"])


@pytest.fixture(scope="session")
def tiny():
    """The tiny llama3-shaped fixture model: 8 slots of 8192 tokens, capped by its
    training context (long generations)."""
    yield from started(["-m", str(TINY), "-np", "8", "-c", "8192", "-t", "2"])


@pytest.fixture(scope="session")
def narrow():
    """Gemma on one slot with a queue of one (its 2000-token generations take
    seconds, the tiny model's milliseconds)."""
    yield from started(["-m", str(need(GEMMA)), "-np", "1", "--queue", "1", "-c", "2048"])


@pytest.fixture(scope="session")
def keyed():
    """The tiny model behind an API key given in the environment."""
    yield from started(["-m", str(TINY), "-c", "512"], env={"WASM_CHORD_API_KEY": "sekret"})
