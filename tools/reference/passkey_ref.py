#!/usr/bin/env python3
"""Passkey retrieval prompts as LM-Infinite builds them, for the golden of tests/LongLM.Tests/Evaluation/PasskeyTests.

Written from a reading of github:Glaciohound/LM-Infinite at a0ce64c6b7ae54f6059668c899603a6eb0c94c18
(data/passkey_retrieval/create_passkey_data.py: TASK_PREFIX, DEFAULT_CONTENT, KEY_CONTENT, " ".join of
[prefix] + fillers + [key line] + fillers; data/get_data.py: + " What is the pass key? The pass key is "), with
LongLM's two documented changes (docs/passkey.md): the length budget is the whole prompt as the model reads it
(BOS, prefix and question included), and the key line sits after floor(depth * n + 0.5) of the n fillers.

The token counter here is a toy one, independent of any tokenizer: BOS plus one token per whitespace-separated
word. The C# test runs PasskeyPrompt.Build with the same counter and compares every field.

Usage: python3 tools/reference/passkey_ref.py > tests/LongLM.Tests/golden/passkey_words.json
"""
import json
import math

TASK_PREFIX = ("There is an important info hidden inside a lot of irrelevant text. Find it and memorize it. "
               "I will quiz you about the important information there.")
DEFAULT_CONTENT = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
KEY_CONTENT = "The pass key is {KEY}. Remember it. {KEY} is the pass key."
QUESTION = " What is the pass key? The pass key is "


def count_words(text):
    return 1 + len(text.split())  # BOS + words


def text_for(passkey, n, depth):
    before = math.floor(depth * n + 0.5)
    parts = [TASK_PREFIX] + [DEFAULT_CONTENT] * before + [KEY_CONTENT.format(KEY=passkey)] + [DEFAULT_CONTENT] * (n - before)
    return " ".join(parts) + QUESTION, before


def build(length, depth, passkey):
    # Words add up exactly, so the largest n with fixed + n * per <= length is found by division.
    fixed = count_words(text_for(passkey, 0, depth)[0])
    per = len(DEFAULT_CONTENT.split())
    n = (length - fixed) // per
    assert n >= 1, (length, fixed)
    text, before = text_for(passkey, n, depth)
    tokens = count_words(text)
    assert tokens <= length < tokens + per
    return {"length": length, "depth": depth, "passkey": passkey, "fillers": n, "fillers_before": before,
            "tokens": tokens, "text": text}


CASES = [(70, 0.0, 1234567), (100, 0.5, 42), (100, 1.0, 9999999), (137, 0.25, 7), (137, 0.75, 31337), (300, 0.3, 8675309), (300, 0.5, 555)]

if __name__ == "__main__":
    print(json.dumps({"source": "tools/reference/passkey_ref.py (word counter: BOS + whitespace words)",
                      "cases": [build(*c) for c in CASES]}, indent=1))
