#!/usr/bin/env python3
"""Render chat templates with Python jinja2 (as Hugging Face transformers does) and write
reference fixtures for the Rust chat-template renderer (crates/engine/src/chat).

Environment: the setup of transformers' `apply_chat_template` (render_jinja_template in
transformers/utils/chat_template_utils.py): a jinja2 ImmutableSandboxedEnvironment with
trim_blocks, lstrip_blocks and loop controls; the globals `raise_exception` and
`strftime_now`; and transformers' own `tojson` filter, which replaces jinja2's (jinja2's
escapes <, >, &, ' as \u003c... and sorts keys) with
`json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)`. The
template sees `messages`, `tools` (None unless the case has tools, as transformers passes
it), `add_generation_prompt`, `bos_token` and `eos_token`.

Templates: the built-in ones (crates/engine/src/chat/templates), a few feature probes,
and the real templates of the model files in models/ (tokenizer.chat_template of
Qwen2.5-Coder-Instruct, with its tools branch, and SmolLM2-Instruct; fetch them with
scripts/fetch-model.sh). Templates that read `tools` are also rendered with tool lists
and tool-call conversations.

Usage: bench/build/refvenv/bin/python tools/render_chat_templates.py   (only jinja2 needed)
Writes tests/fixtures/chat/<template>.json: {"name", "template", optionally "gguf" (the model
file it was read from), "cases": [{"messages" (role, content, optionally tool_calls),
"tools" (absent: None), "add_generation_prompt", "bos_token", "eos_token", and either
"expected" or "error"}]}.
"""

import json
import pathlib
import struct
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "crates" / "engine" / "src" / "chat" / "templates"
OUT = ROOT / "tests" / "fixtures" / "chat"

# Fixture name -> model file whose tokenizer.chat_template is rendered.
GGUF_TEMPLATES = {
    "qwen2.5-coder-instruct": "models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    "smollm2-instruct": "models/smollm2-135m-instruct-q4_1.gguf",
}

# Extra templates exercising features real HF templates use (namespace, loop variables,
# Python string methods, filters, whitespace control); not built-in fallbacks.
EXTRA = {
    "features": (
        "{%- set ns = namespace(count=0, sys='') -%}\n"
        "{%- for m in messages -%}\n"
        "  {%- if m.role == 'system' -%}{%- set ns.sys = m.content -%}{%- continue -%}{%- endif -%}\n"
        "  {%- set ns.count = ns.count + 1 -%}\n"
        "  [{{ loop.index }}/{{ loop.length }}|{{ ns.count }}] {{ m.role.upper() }}: "
        "{{ m.content.strip().replace('  ', ' ') }}"
        "{% if m.content.startswith('Q') %} (question){% endif %}\n"
        "{%- if not loop.last %}\n{% endif -%}\n"
        "{%- endfor %}\n"
        "{% if ns.sys %}system={{ ns.sys | length }} chars, title={{ ns.sys.title() }}{% endif %}\n"
        "{% if add_generation_prompt %}>>> {% endif %}"
    ),
    "blocks": (
        "{% for message in messages %}\n"
        "    {% if message['role'] == 'user' %}\n"
        "        U: {{ message['content'] }}\n"
        "    {% else %}\n"
        "        A: {{ message['content'] }}{{ eos_token }}\n"
        "    {% endif %}\n"
        "{% endfor %}\n"
        "{% if add_generation_prompt %}\n"
        "A:\n"
        "{%- endif %}"
    ),
    # transformers' tojson with its options, on tools, messages and template values (dict
    # literals with their keys in sorted order: minijinja sorts the keys of those).
    "tojson": (
        "{{ messages | tojson }}\n"
        "{{ {'a': [1.5, none, true, 'x<y>'], 'b': {}} | tojson }}|{{ [] | tojson(indent=2) }}\n"
        "{% if tools %}\n"
        "{{ tools | tojson }}\n"
        "{{ tools[0] | tojson(indent=2) }}\n"
        "{{ tools[-1] | tojson(sort_keys=true, indent='\t') }}\n"
        "{{ tools[0] | tojson(true) }}\n"
        "{{ tools | tojson(separators=(',', ':')) }}\n"
        "{{ tools[0].function.parameters | tojson(ensure_ascii=true, indent=0) }}\n"
        "{% endif %}"
    ),
}

SYSTEM = {"role": "system", "content": "You are a terse assistant."}
U1 = {"role": "user", "content": "Hello!"}
A1 = {"role": "assistant", "content": "Hi. How can I help?"}
U2 = {"role": "user", "content": "  Qué tal? ✓ Ünïcode  and  spaces \n"}

CONVERSATIONS = [
    ([U1], True),
    ([U1], False),
    ([U1, A1, U2], True),
    ([U1, A1], False),
    ([SYSTEM, U1], True),
    ([SYSTEM, U1, A1, U2], True),
    ([U1, U2], True),  # roles do not alternate: some templates raise
]


# Tool definitions in OpenAI's form: keys deliberately not sorted, nested JSON schema,
# non-ASCII text, characters jinja2's own tojson would escape (<, >, &, '), escapes that
# json.dumps writes (quotes, backslash, newline, tab, control characters), floats, null,
# booleans, empty objects and arrays.
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather — température en °C, «quoted» & <b>bold</b> ☀️ 東京",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City, e.g. \"Zürich\" or 'Köln'"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "default": "celsius"},
            },
            "required": ["city"],
        },
    },
}
SEARCH = {
    "type": "function",
    "function": {
        "name": "search_code",
        "description": "Search a repository.\nRegex like \\d+\tand a bell \u0007 are fine.",
        "parameters": {
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1},
                "filters": {
                    "type": "object",
                    "description": "Nested filters",
                    "properties": {
                        "paths": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                        "max_results": {"type": "integer", "minimum": 1, "maximum": 100},
                        "score": {"type": "number", "exclusiveMinimum": 0.5, "multipleOf": 1e-3},
                        "options": {
                            "type": "object",
                            "properties": {
                                "case_sensitive": {"type": "boolean", "default": False},
                                "context": {"type": ["integer", "null"], "default": None},
                            },
                        },
                    },
                },
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    },
}
NO_PARAMS = {
    "type": "function",
    "function": {"name": "now", "description": "", "parameters": {"type": "object", "properties": {}}},
}
TOOLS = [WEATHER, SEARCH, NO_PARAMS]

ASK = {"role": "user", "content": "Weather in Zürich and Köln? Then search for `fn main`."}
CALLS = {
    "role": "assistant",
    "content": "",
    "tool_calls": [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}},
        # Without the "function" wrapper, and arguments that are a JSON string.
        {"name": "get_weather", "arguments": "{\"city\": \"Köln\"}"},
    ],
}
RESULT1 = {"role": "tool", "content": '{"temperature": 21.5, "condition": "sunny ☀️"}'}
RESULT2 = {"role": "tool", "content": '{"temperature": 18, "condition": "<cloudy>"}'}
ANSWER = {"role": "assistant", "content": "Zürich: 21.5 °C, sunny. Köln: 18 °C."}
CALL_WITH_TEXT = {
    "role": "assistant",
    "content": "Let me search.",
    "tool_calls": [
        {
            "type": "function",
            "function": {
                "name": "search_code",
                "arguments": {"query": "fn main", "filters": {"paths": ["src/"], "score": 0.75, "options": {}}},
            },
        }
    ],
}
RESULT3 = {"role": "tool", "content": "src/main.rs:1: fn main() {"}

TOOL_CONVERSATIONS = [
    (TOOLS, [U1], True),
    (TOOLS, [U1], False),
    (TOOLS, [SYSTEM, U1], True),
    (TOOLS, [SYSTEM, U1], False),
    ([NO_PARAMS], [U1, A1, U2], True),
    ([], [U1], True),  # an empty list renders as no tools
    (TOOLS, [SYSTEM, ASK, CALLS, RESULT1, RESULT2, ANSWER, U2], True),
    (TOOLS, [ASK, CALLS, RESULT1, RESULT2, CALL_WITH_TEXT, RESULT3], True),
    (TOOLS, [ASK, CALLS, RESULT1, RESULT2, CALL_WITH_TEXT, RESULT3], False),
    (None, [ASK, CALLS, RESULT1, RESULT2, ANSWER], True),
]


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    """transformers' replacement of jinja2's tojson filter."""
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def make_env():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )

    def raise_exception(message):
        raise TemplateError(message)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_cases(env, source):
    template = env.from_string(source)
    runs = [(None, messages, add_gen) for messages, add_gen in CONVERSATIONS]
    if "tools" in source:
        runs += TOOL_CONVERSATIONS
    cases = []
    for tools, messages, add_gen in runs:
        for bos, eos in [("<s>", "</s>")]:
            case = {"messages": messages}
            if tools is not None:
                case["tools"] = tools
            case.update(add_generation_prompt=add_gen, bos_token=bos, eos_token=eos)
            try:
                case["expected"] = template.render(
                    messages=messages,
                    tools=tools,
                    add_generation_prompt=add_gen,
                    bos_token=bos,
                    eos_token=eos,
                )
            except TemplateError as e:
                case["error"] = str(e)
            cases.append(case)
    return cases


def gguf_string(path, key):
    """The string value of metadata `key` in a GGUF (v2/v3) file."""
    scalar = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    with open(path, "rb") as f:

        def u32():
            return struct.unpack("<I", f.read(4))[0]

        def u64():
            return struct.unpack("<Q", f.read(8))[0]

        def string():
            return f.read(u64()).decode("utf-8")

        def skip(vtype):
            if vtype == 8:
                f.seek(u64(), 1)
            elif vtype == 9:
                item, n = u32(), u64()
                if item in scalar:
                    f.seek(scalar[item] * n, 1)
                else:
                    for _ in range(n):
                        skip(item)
            else:
                f.seek(scalar[vtype], 1)

        if f.read(4) != b"GGUF" or u32() not in (2, 3):
            raise SystemExit(f"{path}: not a GGUF v2/v3 file")
        u64()  # tensor count
        for _ in range(u64()):
            name, vtype = string(), u32()
            if name == key and vtype == 8:
                return string()
            skip(vtype)
    raise SystemExit(f"{path}: no string {key}")


def main():
    env = make_env()
    OUT.mkdir(parents=True, exist_ok=True)
    sources = {p.stem: (p.read_text(encoding="utf-8"), None) for p in sorted(TEMPLATES.glob("*.jinja"))}
    sources.update((name, (text, None)) for name, text in EXTRA.items())
    for name, model in GGUF_TEMPLATES.items():
        path = ROOT / model
        if not path.exists():
            raise SystemExit(f"{model} not found: run scripts/fetch-model.sh first")
        sources[name] = (gguf_string(path, "tokenizer.chat_template"), model)
    for name, (source, model) in sources.items():
        fixture = {"name": name, "template": source}
        if model:
            fixture["gguf"] = model
        fixture["cases"] = render_cases(env, source)
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        n_err = sum("error" in c for c in fixture["cases"])
        print(f"{path.relative_to(ROOT)}: {len(fixture['cases'])} cases ({n_err} raise)")


if __name__ == "__main__":
    main()
