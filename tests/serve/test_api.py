"""The OpenAI API through the official `openai` package, on Gemma 3 270M."""

import openai
import pytest

CHAT = [{"role": "user", "content": "Name three colours."}]
PROMPT = "The capital of France is"


def stream_text(chunks):
    """Joins streamed deltas; checks one id for all chunks and the role first."""
    chunks = list(chunks)
    ids = {c.id for c in chunks}
    assert len(ids) == 1, ids
    text = ""
    for c in chunks:
        for ch in c.choices:
            text += (ch.delta.content if hasattr(ch, "delta") else ch.text) or ""
    return chunks, text


def test_chat_streamed_equals_whole_at_temperature_0(gemma):
    c = gemma.client()
    whole = c.chat.completions.create(model="any", messages=CHAT, max_tokens=32, temperature=0)
    assert whole.object == "chat.completion"
    assert whole.choices[0].message.role == "assistant"
    assert whole.choices[0].finish_reason in ("stop", "length")
    chunks, text = stream_text(
        c.chat.completions.create(model="any", messages=CHAT, max_tokens=32, temperature=0, stream=True)
    )
    assert text == whole.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
    assert all(ch.finish_reason is None for c in chunks[:-1] for ch in c.choices)


def test_completion_streamed_equals_whole_at_temperature_0(gemma):
    c = gemma.client()
    whole = c.completions.create(model="gpt-whatever", prompt=PROMPT, max_tokens=24, temperature=0)
    assert whole.object == "text_completion"
    chunks, text = stream_text(
        c.completions.create(model="x", prompt=PROMPT, max_tokens=24, temperature=0, stream=True)
    )
    assert text == whole.choices[0].text
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_same_seed_same_text(gemma):
    c = gemma.client()

    def sampled(seed):
        r = c.completions.create(model="m", prompt="Once upon a time", max_tokens=24,
                                 temperature=1.0, top_p=1.0, seed=seed)
        return r.choices[0].text

    assert sampled(1234) == sampled(1234)
    assert len({sampled(s) for s in (1, 2, 3)}) > 1


def test_stop_cuts_before_the_string(gemma):
    c = gemma.client()
    full = c.completions.create(model="m", prompt="1, 2, 3, 4,", max_tokens=16, temperature=0).choices[0].text
    assert " 7" in full, full
    r = c.completions.create(model="m", prompt="1, 2, 3, 4,", max_tokens=16, temperature=0, stop=[" 7", "zzz"])
    assert r.choices[0].finish_reason == "stop"
    assert r.choices[0].text == full[: full.index(" 7")]
    r = c.chat.completions.create(model="m", messages=[{"role": "user", "content": "Count from 1 to 9."}],
                                  max_tokens=40, temperature=0, stop="5")
    assert "5" not in r.choices[0].message.content


def test_logprobs_and_top_logprobs(gemma):
    c = gemma.client()
    r = c.chat.completions.create(model="m", messages=CHAT, max_tokens=6, temperature=0,
                                  logprobs=True, top_logprobs=3)
    content = r.choices[0].logprobs.content
    assert len(content) == 6
    for t in content:
        assert t.logprob <= 0
        assert len(t.top_logprobs) == 3
        # greedy: the chosen token is the most likely
        assert t.top_logprobs[0].token == t.token
        assert t.top_logprobs[0].logprob == pytest.approx(t.logprob)
        assert [x.logprob for x in t.top_logprobs] == sorted((x.logprob for x in t.top_logprobs), reverse=True)
    assert "".join(t.token for t in content) == r.choices[0].message.content
    r = c.completions.create(model="m", prompt=PROMPT, max_tokens=4, temperature=0, logprobs=2)
    lp = r.choices[0].logprobs
    assert len(lp.tokens) == 4 and len(lp.token_logprobs) == 4
    assert all(len(t) == 2 for t in lp.top_logprobs)


def test_usage_and_include_usage(gemma):
    c = gemma.client()
    n_prompt = len(gemma.post("/tokenize", json={"content": PROMPT, "add_special": True}).json()["tokens"])
    r = c.completions.create(model="m", prompt=PROMPT, max_tokens=5, temperature=0)
    assert r.usage.prompt_tokens == n_prompt
    assert r.usage.completion_tokens == 5
    assert r.usage.total_tokens == n_prompt + 5
    assert r.usage.prompt_tokens_details.cached_tokens >= 0
    chunks = list(c.chat.completions.create(model="m", messages=CHAT, max_tokens=5, temperature=0,
                                            stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.completion_tokens == 5
    assert all(ch.usage is None for ch in chunks[:-1])


def test_second_chat_turn_is_cached(gemma):
    c = gemma.client()
    msgs = [{"role": "user", "content": "Write one sentence about the sea."}]
    first = c.chat.completions.create(model="m", messages=msgs, max_tokens=24, temperature=0)
    msgs += [{"role": "assistant", "content": first.choices[0].message.content},
             {"role": "user", "content": "Now one about mountains."}]
    second = c.chat.completions.create(model="m", messages=msgs, max_tokens=8, temperature=0)
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached >= first.usage.prompt_tokens, (cached, first.usage)


def test_extensions_and_any_model_name(gemma):
    c = gemma.client()
    r = c.completions.create(model="no-such-model", prompt=PROMPT, max_tokens=40, temperature=0.7,
                             extra_body={"top_k": 5, "min_p": 0.1, "repeat_penalty": 1.1,
                                         "cache_prompt": False, "ignore_eos": True})
    assert r.usage.completion_tokens == 40
    assert r.choices[0].finish_reason == "length"
    assert r.usage.prompt_tokens_details.cached_tokens == 0
    models = c.models.list().data
    assert [m.id for m in models] == ["gemma-3-270m-q4_k_m.gguf"]


def test_health_slots_tokenize_detokenize(gemma):
    assert gemma.get("/health").json() == {"status": "ok"}
    # start-up says what the slots' KV cache takes
    assert any("8 slots of 2048 tokens; KV cache" in line and "MiB" in line for line in gemma.log), gemma.log
    assert all(code in (200, 503) for code, _ in gemma.health_seen)
    slots = gemma.get("/slots").json()
    assert [s["id"] for s in slots] == list(range(8))
    assert all(s["is_processing"] is False for s in slots)
    ids = gemma.post("/tokenize", json={"content": "Hello world"}).json()["tokens"]
    assert gemma.post("/detokenize", json={"tokens": ids}).json() == {"content": "Hello world"}
    pieces = gemma.post("/tokenize", json={"content": "Hello", "with_pieces": True}).json()["tokens"]
    assert "".join(p["piece"] for p in pieces) == "Hello"


def test_metrics_move_after_two_requests(gemma):
    def scrape():
        out = {}
        for line in gemma.get("/metrics").text.splitlines():
            if line and not line.startswith("#"):
                k, v = line.rsplit(" ", 1)
                out[k] = float(v)
        return out

    before = scrape()
    c = gemma.client()
    for p in ("One", "Two"):
        c.completions.create(model="m", prompt=p, max_tokens=4, temperature=0)
    after = scrape()
    ok = 'wasm_chord_requests_total{status="200"}'
    assert after[ok] - before.get(ok, 0) >= 2
    for k in ("wasm_chord_generated_tokens_total", "wasm_chord_prompt_tokens_total",
              "wasm_chord_time_to_first_token_seconds_count", "wasm_chord_token_latency_seconds_count",
              "wasm_chord_time_to_first_token_seconds_sum", 'wasm_chord_token_latency_seconds_bucket{le="+Inf"}'):
        assert after[k] > before.get(k, 0), k
    assert after["wasm_chord_generated_tokens_total"] - before["wasm_chord_generated_tokens_total"] == 8
    assert after["wasm_chord_slots"] == 8
    assert after["wasm_chord_queue_depth"] == 0 and after["wasm_chord_slots_busy"] == 0


def test_api_key_401_without_it(keyed):
    with pytest.raises(openai.AuthenticationError) as e:
        keyed.client(api_key="wrong").completions.create(model="m", prompt="hi", max_tokens=2)
    assert e.value.status_code == 401
    r = keyed.post("/v1/completions", json={"prompt": "hi", "max_tokens": 2})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    ok = keyed.client(api_key="sekret").completions.create(model="m", prompt="hi", max_tokens=2)
    assert ok.usage.completion_tokens >= 1
    assert keyed.get("/health").status_code == 200
