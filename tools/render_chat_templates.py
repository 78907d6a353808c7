#!/usr/bin/env python3
"""Render chat templates with Python jinja2 (as Hugging Face transformers does) and write
reference fixtures for the Rust chat-template renderer (crates/engine/src/chat).

Environment: jinja2 ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and loop controls, plus the
globals `raise_exception` and `strftime_now`, i.e. the setup of transformers'
`apply_chat_template`.

Usage: /root/refvenv/bin/python tools/render_chat_templates.py
Writes tests/fixtures/chat/<template>.json: {"name", "template", "cases": [{"messages",
"add_generation_prompt", "bos_token", "eos_token", and either "expected" or "error"}]}.
"""

import json
import pathlib
from datetime import datetime

from jinja2.exceptions import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "crates" / "engine" / "src" / "chat" / "templates"
OUT = ROOT / "tests" / "fixtures" / "chat"

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


def make_env():
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"]
    )

    def raise_exception(message):
        raise TemplateError(message)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def render_cases(env, source):
    template = env.from_string(source)
    cases = []
    for messages, add_gen in CONVERSATIONS:
        for bos, eos in [("<s>", "</s>")]:
            case = {
                "messages": messages,
                "add_generation_prompt": add_gen,
                "bos_token": bos,
                "eos_token": eos,
            }
            try:
                case["expected"] = template.render(
                    messages=messages, add_generation_prompt=add_gen, bos_token=bos, eos_token=eos
                )
            except TemplateError as e:
                case["error"] = str(e)
            cases.append(case)
    return cases


def main():
    env = make_env()
    OUT.mkdir(parents=True, exist_ok=True)
    sources = {p.stem: p.read_text(encoding="utf-8") for p in sorted(TEMPLATES.glob("*.jinja"))}
    sources.update(EXTRA)
    for name, source in sources.items():
        fixture = {"name": name, "template": source, "cases": render_cases(env, source)}
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        n_err = sum("error" in c for c in fixture["cases"])
        print(f"{path.relative_to(ROOT)}: {len(fixture['cases'])} cases ({n_err} raise)")


if __name__ == "__main__":
    main()
