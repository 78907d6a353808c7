#!/usr/bin/env python3
"""Load test for any OpenAI-compatible server (llama-server, `wasm-chord serve`, vLLM, ...).

For every concurrency level C, C clients send streaming requests back to back (each a fixed prompt
of the built-in set, taken in turn) until REQUESTS requests were sent or DURATION seconds have passed
(requests in flight are then awaited). Requests ask for greedy decoding (temperature 0) and, unless
--no-ignore-eos, `ignore_eos` (llama-server's extension), so every request generates max_tokens.

Per level it reports:
  - aggregate generated tokens/s: completion tokens of all successful requests / wall time of the level;
  - time to first token (TTFT: request sent -> first streamed text), p50 / p99;
  - inter-token latency (ITL: gap between streamed chunks that carry text, divided by the tokens they
    carry when usage says a chunk held more than one), p50 / p99;
  - failed requests (HTTP error, error event, broken stream, timeout) and short ones (fewer tokens than
    max_tokens: the server stopped early, e.g. it ignored ignore_eos).
Tokens are counted from the server's `usage` (stream_options.include_usage) when it sends one, else
one per text chunk.

Usage: serve_load.py --url http://127.0.0.1:8080 [--concurrency 1,4,8,16] [--max-tokens 128]
                     [--requests N] [--duration S] [--endpoint chat|completions] [--json]
Exit status: 0 when the run completed (failures are in the report; --fail-on-error makes any failed
or short request exit 1), 1 when the server cannot be reached, 2 on bad arguments.
Requirements: httpx (bench/requirements-serve.txt).
"""

import argparse
import asyncio
import json
import os
import sys
import time
from urllib.parse import urlparse

import httpx

# Fixed prompts of different lengths (a few to a few hundred tokens), used in turn.
PROMPTS = [
    "Write a short story about a lighthouse keeper who finds a message in a bottle.",
    "Explain, step by step, how a hash table handles collisions.",
    "List ten uses of a paperclip.",
    "Translate into French: The weather is nice today, so we will walk to the market and buy bread.",
    "Summarize the following text in three sentences. " + (
        "The history of computing spans centuries, from mechanical calculators to electronic machines. "
        "Early devices such as the abacus helped people count; later, Charles Babbage designed the "
        "Analytical Engine, which Ada Lovelace programmed on paper. In the twentieth century, vacuum "
        "tubes gave way to transistors and then to integrated circuits, and computers shrank from rooms "
        "to pockets. ") * 3,
    "What is the capital of Australia? Answer, then explain why it is not Sydney.",
    "Write a Python function that checks whether a string is a palindrome, with tests.",
    "Describe the water cycle to a ten-year-old.",
]


def percentile(values, q):
    """Linear interpolation between closest ranks (numpy's default); None for no values."""
    if not values:
        return None
    s = sorted(values)
    k = (len(s) - 1) * q / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def build_request(args, model, prompt):
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": args.max_tokens,
        "temperature": 0,
    }
    if not args.no_ignore_eos:
        body["ignore_eos"] = True
    if args.endpoint == "chat":
        body["messages"] = [{"role": "user", "content": prompt}]
        return "/v1/chat/completions", body
    body["prompt"] = prompt
    return "/v1/completions", body


def chunk_text(endpoint, event):
    choices = event.get("choices") or []
    if not choices:
        return ""
    if endpoint == "chat":
        return (choices[0].get("delta") or {}).get("content") or ""
    return choices[0].get("text") or ""


async def one_request(client, args, model, prompt):
    """Sends one streaming request; returns a dict of its timings and token count."""
    path, body = build_request(args, model, prompt)
    t0 = time.perf_counter()
    chunk_times = []
    usage_tokens = None
    result = {"ok": False, "error": None}
    try:
        async with client.stream("POST", path, json=body) as resp:
            if resp.status_code != 200:
                text = (await resp.aread()).decode(errors="replace")
                result["error"] = f"HTTP {resp.status_code}: {' '.join(text.split())[:200]}"
                return result
            done = False
            async for line in resp.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    done = True
                    break
                event = json.loads(data)
                if "error" in event:
                    result["error"] = f"error event: {json.dumps(event['error'])[:200]}"
                    return result
                if chunk_text(args.endpoint, event):
                    chunk_times.append(time.perf_counter())
                usage = event.get("usage")
                if usage and usage.get("completion_tokens") is not None:
                    usage_tokens = usage["completion_tokens"]
            if not done:
                result["error"] = "stream ended without [DONE]"
                return result
    except (httpx.HTTPError, json.JSONDecodeError, OSError) as e:
        result["error"] = f"{type(e).__name__}: {e}"[:200]
        return result
    t_end = time.perf_counter()
    tokens = usage_tokens if usage_tokens is not None else len(chunk_times)
    gaps = [b - a for a, b in zip(chunk_times, chunk_times[1:])]
    # Chunks may carry several tokens (or a token may produce no text yet, e.g. half a UTF-8
    # character): spread the gaps over the tokens the usage reports.
    per_gap = (tokens - 1) / len(gaps) if gaps and tokens > 1 else 1.0
    result.update(
        ok=True,
        tokens=tokens,
        ttft=(chunk_times[0] - t0) if chunk_times else None,
        itl=[g / per_gap for g in gaps] if per_gap > 0 else gaps,
        latency=t_end - t0,
    )
    return result


async def run_level(client, args, model, concurrency):
    results = []
    counter = {"next": 0}
    t_start = time.perf_counter()
    deadline = t_start + args.duration
    n_requests = args.requests if args.requests else max(2 * concurrency, 8)

    async def worker():
        while True:
            i = counter["next"]
            if i >= n_requests or time.perf_counter() >= deadline:
                return
            counter["next"] += 1
            r = await one_request(client, args, model, PROMPTS[i % len(PROMPTS)])
            r["end"] = time.perf_counter()
            results.append(r)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - t_start
    ok = [r for r in results if r["ok"]]
    failed = [r for r in results if not r["ok"]]
    ttfts = [r["ttft"] * 1000 for r in ok if r["ttft"] is not None]
    itls = [g * 1000 for r in ok for g in r["itl"]]
    tokens = sum(r["tokens"] for r in ok)
    ms = lambda v: None if v is None else round(v, 2)
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "ok": len(ok),
        "failed": len(failed),
        "short": sum(1 for r in ok if r["tokens"] < args.max_tokens),
        "errors": sorted({r["error"] for r in failed})[:5],
        "wall_s": round(wall, 3),
        "generated_tokens": tokens,
        "tokens_per_s": round(tokens / wall, 2) if wall > 0 else None,
        "ttft_ms_p50": ms(percentile(ttfts, 50)),
        "ttft_ms_p99": ms(percentile(ttfts, 99)),
        "itl_ms_p50": ms(percentile(itls, 50)),
        "itl_ms_p99": ms(percentile(itls, 99)),
        "latency_s_p50": ms(percentile([r["latency"] for r in ok], 50)),
    }


async def resolve_model(client, requested):
    if requested:
        return requested
    try:
        resp = await client.get("/v1/models")
        if resp.status_code == 200:
            data = resp.json().get("data") or []
            if data and data[0].get("id"):
                return data[0]["id"]
    except (httpx.HTTPError, ValueError):
        pass
    return "default"


async def main_async(args):
    headers = {}
    key = args.api_key or os.environ.get("OPENAI_API_KEY")
    if key:
        headers["Authorization"] = f"Bearer {key}"
    max_c = max(args.concurrency)
    # Loopback servers must not go through an HTTP proxy from the environment.
    host = urlparse(args.url).hostname or ""
    trust_env = host not in ("127.0.0.1", "localhost", "::1")
    async with httpx.AsyncClient(
        base_url=args.url.rstrip("/"),
        headers=headers,
        timeout=httpx.Timeout(args.timeout, connect=10.0),
        limits=httpx.Limits(max_connections=max_c + 4, max_keepalive_connections=max_c + 4),
        trust_env=trust_env,
    ) as client:
        try:
            await client.get("/v1/models")
        except httpx.HTTPError as e:
            print(f"serve_load.py: cannot reach {args.url}: {type(e).__name__}: {e}", file=sys.stderr)
            return None
        model = await resolve_model(client, args.model)
        for _ in range(args.warmup):
            r = await one_request(client, args, model, PROMPTS[0])
            if not r["ok"]:
                print(f"serve_load.py: warm-up request failed: {r['error']}", file=sys.stderr)
        levels = []
        if not args.json:
            print(HEADER, flush=True)
        for c in args.concurrency:
            level = await run_level(client, args, model, c)
            levels.append(level)
            if not args.json:
                print_level(level)
            else:
                print(f"[serve_load] c={c}: {level['tokens_per_s']} tok/s, "
                      f"{level['failed']} failed", file=sys.stderr)
    return {
        "url": args.url,
        "model": model,
        "endpoint": args.endpoint,
        "max_tokens": args.max_tokens,
        "ignore_eos": not args.no_ignore_eos,
        "duration_limit_s": args.duration,
        "levels": levels,
    }


HEADER = ("| conc | requests | failed | short | tok/s | TTFT p50 ms | TTFT p99 ms | ITL p50 ms | ITL p99 ms |\n"
          "|---|---|---|---|---|---|---|---|---|")


def print_level(level):
    keys = ["concurrency", "requests", "failed", "short", "tokens_per_s", "ttft_ms_p50", "ttft_ms_p99",
            "itl_ms_p50", "itl_ms_p99"]
    cells = ["—" if level[k] is None else str(level[k]) for k in keys]
    print("| " + " | ".join(cells) + " |", flush=True)
    for e in level["errors"]:
        print(f"  error: {e}", flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8080", help="base URL (without /v1)")
    p.add_argument("--concurrency", default="1,4,8,16", help="comma-separated levels")
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--requests", type=int, default=0,
                   help="requests per level (default max(2 x concurrency, 8))")
    p.add_argument("--duration", type=float, default=120.0,
                   help="seconds per level after which no new request is sent")
    p.add_argument("--endpoint", choices=["chat", "completions"], default="chat")
    p.add_argument("--model", default="", help="model field (default: the first of /v1/models)")
    p.add_argument("--api-key", default="", help="bearer token (default: $OPENAI_API_KEY)")
    p.add_argument("--no-ignore-eos", action="store_true",
                   help="do not send ignore_eos (for servers that reject unknown parameters)")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured requests before the levels")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    p.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    p.add_argument("--fail-on-error", action="store_true",
                   help="exit 1 if any request failed or was short")
    args = p.parse_args(argv)
    try:
        args.concurrency = [int(c) for c in args.concurrency.split(",") if c.strip()]
    except ValueError:
        p.error("--concurrency: comma-separated integers")
    if not args.concurrency or min(args.concurrency) < 1 or args.max_tokens < 1:
        p.error("concurrency levels and --max-tokens must be >= 1")
    return args


def main(argv=None):
    args = parse_args(argv)
    report = asyncio.run(main_async(args))
    if report is None:
        return 1
    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
    bad = sum(lv["failed"] + lv["short"] for lv in report["levels"])
    return 1 if args.fail_on_error and bad else 0


if __name__ == "__main__":
    sys.exit(main())
