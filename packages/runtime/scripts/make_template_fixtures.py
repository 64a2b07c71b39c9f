#!/usr/bin/env python3
"""Reference fixtures for Wisp's tokenizer and chat templates, from Hugging Face transformers.

For each tokenizer folder it writes <name>.json with:
  - chat_cases: apply_chat_template(messages, add_generation_prompt=..., tokenize=False) and the ids of
    apply_chat_template(..., tokenize=True), for a fixed list of conversations (single user turn,
    system + user, multi-turn, non-ASCII, no generation prompt, and per-template extras such as Qwen3's
    enable_thinking and tools). Skipped for tokenizers without a chat template.
  - encode_cases: encode(text) with and without special tokens, decode(ids) with and without
    skip_special_tokens, for a fixed list of texts.
  - bos/eos ids and len(tokenizer).
packages/runtime/test/template.test.ts replays every fixture through Wisp's TypeScript tokenizer.

Runs offline (the GPU machine has no network): tokenizers are loaded from local folders only.
Needs python3 with transformers (5.x was the target; 4.4x works too).

Usage, from the repository root (models default to ../shared/models, output to
packages/runtime/fixtures/templates):
  python3 packages/runtime/scripts/make_template_fixtures.py \
      [--models DIR] [--out DIR] [NAME=FOLDER ...]
NAME=FOLDER pairs replace the default set; FOLDER is relative to --models (or absolute), e.g.
  qwen3=tokenizers/qwen3
Exit status 1 if any tokenizer failed (the others are still written).

The JSON is written with indent=2; the repository's formatter packs number arrays differently, so after
copying the files in, run: npx biome format --write packages/runtime/fixtures/templates
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

DEFAULT_TOKENIZERS = {
    "qwen3": "tokenizers/qwen3",
    "llama3_1": "tokenizers/llama3_1",
    # No chat template: encode/decode parity only (Llama 2 style BOS, byte fallback).
    "stories260K": "stories260K/hf",
    # No tokenizer_config.json either: the tokenizer.json pipeline alone.
    "smollm2": "tokenizers/smollm2-135m-instruct",
}

# Llama 3.1+ templates print a date; a fixed one keeps fixtures stable. Passed only to templates that
# read date_string, and recorded in the case's kwargs so the TypeScript test passes it too.
FIXED_DATE_STRING = "26 Jul 2024"

CONVERSATIONS = [
    ("single_user", [{"role": "user", "content": "Hello! How are you?"}], True),
    (
        "system_user",
        [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"},
        ],
        True,
    ),
    (
        "multi_turn",
        [
            {"role": "system", "content": "You are a concise assistant."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Tell me a joke."},
        ],
        True,
    ),
    (
        "non_ascii",
        [
            {"role": "user", "content": "Grüße, 你好 👋 — ¿qué tal? Привет! 日本語 🇫🇷 👨‍👩‍👧"},
            {"role": "assistant", "content": "Hallo! 你好！ 😊"},
            {"role": "user", "content": "Ça va ?"},
        ],
        True,
    ),
    (
        "no_generation_prompt",
        [
            {"role": "user", "content": "  Spaces around \n\n"},
            {"role": "assistant", "content": "Noted.\n"},
        ],
        False,
    ),
    (
        "assistant_with_think",
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "<think>\nLet me greet.\n</think>\n\nHello! How can I help?"},
            {"role": "user", "content": "Thanks"},
        ],
        True,
    ),
]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Zürich"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

ENCODE_TEXTS = [
    "Once upon a time",
    "Grüße, 你好 👋",
    "日本語のテキストと中文混合。",
    "Emoji: 👨‍👩‍👧 family, 🇫🇷 flag, 🙂",
    "  leading spaces and trailing  ",
    "Hello , world ! I 'm here , aren 't you ?",
    "line one\n\nline two\ttab",
    "def f(x):\n    return x ** 2  # ünïcödé",
    "Numbers 1234567 and 3.14159",
    "<|im_start|> and <s> typed as text",
]


def as_ids(out) -> list[int]:
    """apply_chat_template(tokenize=True) returns a list, a BatchEncoding or a tensor depending on version."""
    if hasattr(out, "keys") and "input_ids" in out:
        out = out["input_ids"]
    if hasattr(out, "tolist"):
        out = out.tolist()
    out = list(out)
    if out and isinstance(out[0], (list, tuple)):
        if len(out) != 1:
            raise ValueError(f"expected one sequence, got {len(out)}")
        out = list(out[0])
    return [int(i) for i in out]


def first_id(value) -> int | None:
    if isinstance(value, (list, tuple)):
        return int(value[0]) if value else None
    return None if value is None else int(value)


def template_source(tok) -> str:
    t = getattr(tok, "chat_template", None)
    if isinstance(t, dict):
        return "\n".join(str(v) for v in t.values())
    return t or ""


def chat_cases(tok) -> list[dict]:
    source = template_source(tok)
    if not source:
        return []
    base_kwargs = {"date_string": FIXED_DATE_STRING} if "date_string" in source else {}
    if "strftime_now" in source:
        print("  warning: template calls strftime_now (today's date); its cases will not be stable", file=sys.stderr)

    cases = [(name, msgs, agp, None, dict(base_kwargs)) for name, msgs, agp in CONVERSATIONS]
    if "enable_thinking" in source:
        cases.append(("enable_thinking_false", CONVERSATIONS[1][1], True, None, {**base_kwargs, "enable_thinking": False}))
    if "tools" in source:
        cases.append(
            ("tools", [{"role": "user", "content": "Weather in Zürich?"}], True, [WEATHER_TOOL], dict(base_kwargs))
        )
    if "tool_calls" in source:
        # A full tool round trip: the call's arguments go through the template's tojson (non-ASCII included).
        call = {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Zürich", "unit": "celsius"}}}
        messages = [
            {"role": "user", "content": "Weather in Zürich?"},
            {"role": "assistant", "content": "", "tool_calls": [call]},
            {"role": "tool", "content": '{"temp_c": 21, "sky": "sunny ☀"}'},
        ]
        cases.append(("tool_round_trip", messages, True, [WEATHER_TOOL], dict(base_kwargs)))

    out = []
    for name, messages, agp, tools, kwargs in cases:
        extra = dict(kwargs)
        if tools is not None:
            extra["tools"] = tools
        text = tok.apply_chat_template(messages, add_generation_prompt=agp, tokenize=False, **extra)
        ids = as_ids(tok.apply_chat_template(messages, add_generation_prompt=agp, tokenize=True, **extra))
        encoded = tok.encode(text, add_special_tokens=False)
        if ids != encoded:
            # Wisp defines encodeChat as encode(render, add_special_tokens=False); say so if transformers differs.
            print(f"  note: {name}: tokenize=True ids differ from encode(text, add_special_tokens=False)", file=sys.stderr)
        out.append(
            {
                "name": name,
                "messages": messages,
                "add_generation_prompt": agp,
                "tools": tools,
                "kwargs": kwargs,
                "text": text,
                "ids": ids,
            }
        )
    return out


def encode_cases(tok) -> list[dict]:
    out = []
    for text in ENCODE_TEXTS:
        ids = [int(i) for i in tok.encode(text, add_special_tokens=True)]
        out.append(
            {
                "text": text,
                "ids": ids,
                "ids_no_special": [int(i) for i in tok.encode(text, add_special_tokens=False)],
                "decoded": tok.decode(ids, skip_special_tokens=False),
                "decoded_skip_special": tok.decode(ids, skip_special_tokens=True),
            }
        )
    return out


def make_fixture(name: str, folder: str, rel: str) -> dict:
    import transformers
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    generation_eos = None
    gen_path = os.path.join(folder, "generation_config.json")
    if os.path.exists(gen_path):
        with open(gen_path, encoding="utf-8") as f:
            generation_eos = first_id(json.load(f).get("eos_token_id"))
    return {
        "tokenizer": name,
        "model_dir": rel,
        "transformers_version": transformers.__version__,
        "tokenizer_class": type(tok).__name__,
        "bos_token_id": first_id(tok.bos_token_id),
        "eos_token_id": first_id(tok.eos_token_id) if tok.eos_token_id is not None else generation_eos,
        "vocab_size": len(tok),
        "clean_up_tokenization_spaces": bool(getattr(tok, "clean_up_tokenization_spaces", False)),
        "chat_cases": chat_cases(tok),
        "encode_cases": encode_cases(tok),
    }


def main() -> int:
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=os.path.join(repo, "..", "shared", "models"), help="models root")
    parser.add_argument(
        "--out", default=os.path.join(repo, "packages", "runtime", "fixtures", "templates"), help="output folder"
    )
    parser.add_argument("pairs", nargs="*", metavar="NAME=FOLDER", help="tokenizers to use (default: qwen3, llama3_1, stories260K, smollm2)")
    args = parser.parse_args()

    tokenizers = dict(DEFAULT_TOKENIZERS)
    if args.pairs:
        tokenizers = {}
        for pair in args.pairs:
            name, sep, rel = pair.partition("=")
            if not sep or not name or not rel:
                parser.error(f"expected NAME=FOLDER, got {pair!r}")
            tokenizers[name] = rel

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.makedirs(args.out, exist_ok=True)
    failed = []
    for name, rel in tokenizers.items():
        folder = rel if os.path.isabs(rel) else os.path.join(args.models, rel)
        print(f"{name}: {folder}")
        try:
            if not os.path.exists(os.path.join(folder, "tokenizer.json")):
                raise FileNotFoundError(f"{folder}/tokenizer.json not found (see --models)")
            fixture = make_fixture(name, folder, rel)
        except Exception:
            traceback.print_exc()
            failed.append(name)
            continue
        path = os.path.join(args.out, f"{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(fixture, f, ensure_ascii=False, indent=2)
            f.write("\n")
        print(
            f"  wrote {path}: {len(fixture['chat_cases'])} chat cases, {len(fixture['encode_cases'])} encode cases "
            f"({fixture['tokenizer_class']}, transformers {fixture['transformers_version']})"
        )
    print("then, where node is: npx biome format --write packages/runtime/fixtures/templates")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
