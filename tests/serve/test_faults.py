"""Error paths, limits, cancellation and concurrency."""

import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from conftest import GEMMA, ROOT, Server, binary, need


def error(r, status):
    assert r.status_code == status, r.text
    e = r.json()["error"]
    assert set(e) >= {"message", "type", "param", "code"}, e
    assert e["message"]
    return e


def test_every_error_path_is_openai_json(tiny):
    error(tiny.get("/v1/nope"), 404)
    error(tiny.get("/v1/completions"), 405)
    error(tiny.post("/v1/chat/completions", content=b"{not json"), 400)
    e = error(tiny.post("/v1/chat/completions", json={"messages": "hi"}), 400)
    assert e["param"] == "messages"
    e = error(tiny.post("/v1/completions", json={"prompt": "a", "temperature": "hot"}), 400)
    assert e["param"] == "temperature"
    e = error(tiny.post("/v1/completions", json={"prompt": "a", "n": 3}), 400)
    assert e["param"] == "n"
    big = b'{"prompt": "' + b"a" * (9 << 20) + b'"}'
    error(tiny.post("/v1/completions", content=big), 413)
    n_ctx = tiny.get("/slots").json()[0]["n_ctx"]
    e = error(tiny.post("/v1/completions", json={"prompt": "word " * (2 * n_ctx), "max_tokens": 1}), 400)
    assert str(n_ctx) in e["message"] and e["code"] == "context_length_exceeded"
    with pytest.raises(openai.BadRequestError):
        tiny.client().completions.create(model="m", prompt="a", n=2)


def test_a_full_queue_is_503_with_retry_after(narrow):
    body = {"prompt": "Once upon a time", "max_tokens": 100000, "stream": True,
            "ignore_eos": True, "temperature": 0}
    with httpx.Client(timeout=30) as a, httpx.Client(timeout=30) as b:
        with a.stream("POST", narrow.url + "/v1/completions", json=body) as ra:
            assert ra.status_code == 200
            # (a dropped line iterator closes the response: keep it)
            lines = ra.iter_lines()
            next(lines)
            with b.stream("POST", narrow.url + "/v1/completions", json=body) as rb:
                assert rb.status_code == 200
                r = narrow.post("/v1/completions", json=body)
                e = error(r, 503)
                assert r.headers["retry-after"] == "1"
                assert e["code"] == "queue_full"
                assert any(next(lines).startswith("data: ") for _ in range(2))
    # both clients left: both requests are cancelled
    wait_free(narrow, 2.0)


def busy(server):
    return [s["is_processing"] for s in server.get("/slots").json()]


def wait_free(server, within):
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if not any(busy(server)):
            return time.monotonic() - t0
        time.sleep(0.01)
    raise AssertionError(f"slots still busy after {within} s: {busy(server)}")


KILLED_CLIENT = """
import sys, openai
c = openai.OpenAI(base_url=sys.argv[1] + "/v1", api_key="none", max_retries=0)
for chunk in c.completions.create(model="m", prompt="Once upon a time", max_tokens=100000,
                                  temperature=0, stream=True, extra_body={"ignore_eos": True}):
    print("chunk", flush=True)
"""


def test_a_client_killed_mid_stream_frees_its_slot_within_a_second(gemma):
    p = subprocess.Popen([sys.executable, "-c", KILLED_CLIENT, gemma.url], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(3):
            assert p.stdout.readline() == "chunk\n"
        assert any(busy(gemma))
    finally:
        p.kill()
        p.wait(timeout=10)
    took = wait_free(gemma, 1.0)
    print(f"slot free {took:.3f} s after the kill")
    assert gemma.get("/health").status_code == 200
    r = gemma.client().completions.create(model="m", prompt="hi", max_tokens=2)
    assert r.usage.completion_tokens >= 1


def test_sixteen_concurrent_clients_all_answered(gemma):
    c = gemma.client()

    def one(i):
        r = c.completions.create(model="m", prompt=f"Question {i}: what is {i} plus {i}? Answer:",
                                 max_tokens=12, temperature=0)
        return r.choices[0].finish_reason

    with ThreadPoolExecutor(16) as ex:
        reasons = list(ex.map(one, range(16), timeout=300))
    assert len(reasons) == 16 and all(r in ("stop", "length") for r in reasons)
    wait_free(gemma, 1.0)


def run_greedy(prompt, n):
    out = subprocess.run([str(binary()), "run", "-m", str(GEMMA), "-p", prompt, "-n", str(n), "--temp", "0"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300, check=True)
    return out.stdout


def test_greedy_alone_beside_seven_others_and_equal_to_run(gemma):
    c = gemma.client()
    prompt = "The three primary colours are"

    def greedy():
        return c.completions.create(model="m", prompt=prompt, max_tokens=32, temperature=0).choices[0].text

    alone = greedy()
    others = ["Once upon a time", "def fibonacci(n):", "1, 2, 3,", "The quick brown fox",
              "Q: What is 7 times 8?\nA:", "I love pizza and", "Paris is"]
    start = threading.Barrier(8)

    def other(p):
        start.wait()
        return c.completions.create(model="m", prompt=p, max_tokens=32, temperature=0.9, seed=7).choices[0].text

    def target():
        start.wait()
        return greedy()

    with ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(other, p) for p in others]
        beside = ex.submit(target).result(timeout=300)
        [f.result(timeout=300) for f in futs]
    assert beside == alone
    assert alone == run_greedy(prompt, 32)


def test_sigterm_lets_in_flight_requests_finish_then_exits_0():
    s = Server(["-m", str(need(GEMMA)), "-np", "2", "-c", "512", "--shutdown-timeout", "60"])
    try:
        c = s.client()
        stream = c.completions.create(model="m", prompt="Once upon a time", max_tokens=200, temperature=0,
                                      stream=True, extra_body={"ignore_eos": True})
        it = iter(stream)
        first = next(it)
        s.proc.send_signal(signal.SIGTERM)
        rest = list(it)
        assert [first, *rest][-1].choices[0].finish_reason == "length"
        assert s.proc.wait(timeout=60) == 0
        s.drain.join(timeout=10)
        assert any("shutting down" in line for line in s.log), s.log
        with pytest.raises(httpx.ConnectError):
            httpx.get(s.url + "/health", timeout=5)
    finally:
        if s.proc.poll() is None:
            s.proc.kill()
