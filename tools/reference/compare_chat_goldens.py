#!/usr/bin/env python3
"""Compares the python3-jinja2 goldens with the @huggingface/jinja renders; prints each disagreement.
usage: compare_chat_goldens.py PY_DIR NODE_DIR"""
import json, os, sys

py_dir, node_dir = sys.argv[1], sys.argv[2]
agree = differ = 0
for name in sorted(os.listdir(py_dir)):
    py = json.load(open(os.path.join(py_dir, name), encoding="utf-8"))["renders"]
    node = json.load(open(os.path.join(node_dir, name), encoding="utf-8"))["renders"]
    for conv, want in py.items():
        got = node.get(conv, {})
        same = ("output" in want and got.get("output") == want["output"]) or ("error" in want and "error" in got)
        if same:
            agree += 1
            continue
        differ += 1
        if "output" in want and "output" in got:
            a, b = want["output"], got["output"]
            i = next((k for k in range(min(len(a), len(b))) if a[k] != b[k]), min(len(a), len(b)))
            print(f"{name[:-5]} / {conv}: outputs differ at char {i}: python {a[max(0, i - 30):i + 40]!r} node {b[max(0, i - 30):i + 40]!r}")
        else:
            print(f"{name[:-5]} / {conv}: python {'error ' + want['error'][:80] if 'error' in want else 'renders'}; node {'error ' + got.get('error', '')[:80] if 'error' in got else 'renders'}")
print(f"{agree} agree, {differ} differ")
