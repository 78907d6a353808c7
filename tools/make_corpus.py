#!/usr/bin/env python3
"""Write tests/fixtures/ref/corpus.json: the tokenizer test strings shared by every model.

Deterministic (no randomness); rerunning rewrites the same file. Strings cover ASCII, whitespace
runs, tabs/newlines, code, CJK, emoji, accents/combining marks, other scripts, numbers, long
words, and text that looks like special tokens (`<s>`, `<start_of_turn>`, ...).
"""

from __future__ import annotations

import json
import os
import sys

BASIC = [
    "", " ", "  ", "   ", "a", "A", "I", ".", "Hello", "hello", "HELLO", " Hello", "  Hello",
    "Hello world", "hello world", "Hello  world", "Hello world!", "Hello, world.", "Hello world\n",
    "The quick brown fox jumps over the lazy dog.",
    "It was the best of times, it was the worst of times.",
    "Don't stop-believing: it's (mostly) fine; really?!",
    "e-mail me at someone@example.com or visit https://example.org/a/b?c=d&e=f#g",
    "He said \"yes\" and 'no' -- then left...",
    "a b c d e f g h i j k l m n o p q r s t u v w x y z",
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~",
    "Mr. Smith's 2nd-floor office (room #42) opens at 9:30am.",
]

WHITESPACE = [
    "\t", "\n", "\n\n", "\n\n\n", "\r\n", " \n", "\n ", "\t\t", " \t ", "\t \n \t",
    "    ", "        ", " " * 16, " " * 33, "\n" * 8, "\t" * 5,
    "line1\nline2", "line1\n\nline2", "line1\r\nline2", "a\tb\tc", "\tindented", "\t\tdouble indented",
    "   leading spaces", "trailing spaces   ", "inner   spaces   here", "mixed \t whitespace \n end",
    "word\n", "\nword", " word ", "  two  spaces  ", "end with tab\t", "a\u00a0b (nbsp)",
    "a\u2003b (em space)", "zero\u200bwidth", "\u3000ideographic space",
]

CODE = [
    "def f(x):\n    return x * 2\n",
    "for i in range(10):\n\tprint(i, end=' ')\n",
    "fn main() {\n    println!(\"Hello, {}!\", name);\n}\n",
    "let v: Vec<u32> = (0..n).map(|i| i * i).collect();",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }",
    "if (a && b || !c) { x += y >> 2; } else { x -= *p++; }",
    "{\"key\": [1, 2.5, true, null], \"nested\": {\"a\": \"b\"}}",
    "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "$ ls -la | grep '\\.rs$' && echo done",
    "x = [i**2 for i in range(100) if i % 3 == 0]",
    "const add = (a, b) => a + b; // arrow function",
    "/* block comment */ int *ptr = NULL;",
    "^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\\.[a-zA-Z]{2,}$",
    "    if x:\n        pass\n    else:\n        return None",
    "git commit -m \"Fix: handle CRLF\" --amend",
    "matrix[i][j] = matrix[i-1][j-1] + 1;",
    "__init__ __name__ == '__main__'",
    "camelCaseIdentifier snake_case_identifier SCREAMING_CASE kebab-case",
    "0x7fff_ffff 0b1010 0o777 1_000_000u64",
]

CJK = [
    "你好", "你好，世界！", "我爱自然语言处理。", "中华人民共和国", "今天天气很好，我们去公园散步吧。",
    "こんにちは", "こんにちは世界", "日本語のテキストです。", "カタカナとひらがな", "東京タワー",
    "안녕하세요", "한국어 텍스트", "대한민국", "漢字 かな 한글 mixed", "中文English混合text",
]

EMOJI = [
    "😀", "👍", "🎉🎉🎉", "I love 🍕!", "❤️", "👨‍👩‍👧‍👦", "🇫🇷🇯🇵", "👋🏽", "🤖 robots", "✨ sparkle ✨",
    "🏳️‍🌈", "emoji at end 🚀", "☕️ coffee", "1️⃣ 2️⃣ 3️⃣", "🧑‍💻 coding",
]

ACCENTS = [
    "café", "naïve", "résumé", "Ångström", "São Paulo", "Zürich", "straße", "Straße", "ﬁ ligature",
    "e\u0301 (combining acute)", "n\u0303o", "Ελληνικά", "Привет, мир!", "Добрый день", "Łódź",
    "Crème brûlée", "Tiếng Việt có dấu", "İstanbul ılık", "Ærøskøbing", "ÉCOLE élève",
    "mañana", "coöperate", "Dvořák", "fiancée", "piñata",
]

SCRIPTS = [
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "สวัสดีชาวโลก", "Γειά σου Κόσμε", "Բարեւ",
    "ქართული", "ᚠᛇᚻ runes", "∑ᵢ xᵢ² ≤ ∞", "α + β = γ", "∀x ∈ ℝ: x² ≥ 0", "→ ← ↑ ↓ ⇒",
    "€100 £50 ¥1000 ₹20", "©®™ §¶ †‡", "½ ¼ ¾ ⅓", "“smart quotes” ‘single’", "em—dash en–dash",
    "…ellipsis", "•bullet", "°C °F",
]

NUMBERS = [
    "0", "1", "9", "10", "42", "100", "123", "1234", "12345", "123456789", "12345678901234567890",
    "3.14159", "-2.5", "+7", "1,000,000", "1.000.000,50", "2024-01-15", "12:34:56", "1e-10",
    "6.022e23", "0.0001", "99%", "$19.99", "v1.2.3", "192.168.0.1", "(555) 123-4567", "1/2",
    "3rd 21st 100th", "Room 101", "2+2=4",
]

LONG = [
    "antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "Supercalifragilisticexpialidocious",
    "Donaudampfschifffahrtsgesellschaftskapitän",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "abababababababababababababababab",
    "thethethethethethethethe",
    "xqzjvkwp",
    "Lopadotemachoselachogaleokranioleipsanodrimhypotrimmatosilphiokarabomelitokatakechymenokichlepikossyphophattoperisteralektryonoptekephalliokigklopeleiolagoiosiraiobaphetraganopterygon",
    "https://www.example.com/very/long/path/with/many/segments/and_underscores-and-dashes.html",
    "ThisIsAVeryLongCamelCaseIdentifierThatKeepsGoingAndGoing",
    "-" * 40,
    "=" * 20 + " heading " + "=" * 20,
    "........................................",
]

SPECIAL = [
    "<s>", "</s>", "<unk>", "<s>Hello</s>", "Hello<s>world", "<s> <s>", "<s><s>", " <s>", "<s>\n",
    "< s >", "<s", "s>", "</s></s>", "<unk>x<unk>",
    "<bos>", "<eos>", "<pad>", "<mask>", "<bos>Hello<eos>",
    "<start_of_turn>", "<end_of_turn>", "<start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
    "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n",
    "text <start_of_turn> more text", "<start_of_turn", "start_of_turn>", "<start_of_image>",
    "<end_of_image>", "<image_soft_token>", "<|endoftext|>", "<|im_start|>user\nhi<|im_end|>",
    "[INST] hello [/INST]", "<0x41>", "<0x0A>", "▁", "▁Hello", "▁▁▁", "<<SYS>>\nsystem\n<</SYS>>",
    # ChatML / Qwen2.5 added tokens (tool calls, fill-in-the-middle, repository context)
    "<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>assistant\n",
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
    "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n    return c<|fim_middle|>",
    "<|repo_name|>wasm-chord\n<|file_sep|>src/main.rs\nfn main() {}", "<|endoftext|><|im_end|>",
    "<|im_start|><|im_start|>", "<|im_end", "im_end|>", "<tools>\n</tools>",
]

PROSE = [
    "ABASEMENT, n.  A decent and customary mental attitude in the presence of wealth or power.",
    "In the beginning God created the heaven and the earth.",
    "Call me Ishmael. Some years ago—never mind how long precisely—having little or no money in my purse.",
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.",
    "To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\nThe slings and arrows of outrageous fortune,",
    "The mitochondria is the powerhouse of the cell. ATP synthase rotates like a tiny motor.",
    "Q: What is the capital of France?\nA: Paris.\n\nQ: What is 7 times 8?\nA: 56.",
    "Once upon a time, in a land far, far away, there lived a king who had three daughters.",
    "Machine learning models are trained on data; they learn statistical patterns rather than rules.",
    "1. First item\n2. Second item\n   - nested bullet\n3. Third item",
    "| col A | col B |\n|-------|-------|\n| 1     | 2     |",
    "# Heading\n\nSome *emphasis* and **strong** text with `inline code`.",
]

# prefix/suffix variants of a few words: space and newline handling around word boundaries
WORDS = ["the", "Hello", "world", "token", "12", "你好", "café", "😀", "<s>"]
VARIANTS = [f"{p}{w}{s}" for w in WORDS for (p, s) in [(" ", ""), ("", " "), ("\n", ""), (" ", " "), ("\t", "")]]


def corpus() -> list[str]:
    groups = [BASIC, WHITESPACE, CODE, CJK, EMOJI, ACCENTS, SCRIPTS, NUMBERS, LONG, SPECIAL, PROSE, VARIANTS]
    seen: set[str] = set()
    out: list[str] = []
    for g in groups:
        for s in g:
            if s not in seen:
                seen.add(s)
                out.append(s)
    return out


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(__file__), "..", "tests", "fixtures", "ref", "corpus.json"
    )
    c = corpus()
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"description": "tokenizer test strings shared by every model (tools/make_corpus.py)",
                   "strings": c}, f, ensure_ascii=False, indent=0)
        f.write("\n")
    print(f"wrote {out}: {len(c)} strings")


if __name__ == "__main__":
    main()
