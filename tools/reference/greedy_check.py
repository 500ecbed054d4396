#!/usr/bin/python3
"""Validate llama_ref.py: greedy decoding must reproduce a model's expected_greedy_*.json.

  /usr/bin/python3 tools/reference/greedy_check.py \
      [--model /work/shared/models/stories260K] [--expected FILE] [--steps 200]

The full forward is recomputed each step (no KV cache), so this also checks the
causal mask / positions on every prefix length. Exits non-zero on mismatch.
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import LlamaRef  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="/work/shared/models/stories260K")
    ap.add_argument("--expected", default=None,
                    help="default: MODEL/expected_greedy_200.json")
    ap.add_argument("--steps", type=int, default=None,
                    help="tokens to check (default: all of greedy_ids)")
    args = ap.parse_args()

    exp_path = args.expected or os.path.join(args.model, "expected_greedy_200.json")
    with open(exp_path) as f:
        exp = json.load(f)
    prompt, want = list(exp["prompt_ids"]), list(exp["greedy_ids"])
    steps = args.steps or len(want)
    if steps > len(want):
        sys.exit("only %d expected tokens available" % len(want))

    model = LlamaRef(args.model)
    seq = list(prompt)
    got = []
    min_margin = float("inf")
    for step in range(steps):
        logits = model.forward(seq)[-1]
        top2 = np.argsort(logits)[-2:]
        tok = int(np.argmax(logits))
        min_margin = min(min_margin, float(logits[top2[1]] - logits[top2[0]]))
        got.append(tok)
        seq.append(tok)
        if tok != want[step]:
            print("FAIL at step %d: got %d, expected %d" % (step, tok, want[step]))
            print("got      :", got)
            print("expected :", want[:step + 1])
            sys.exit(1)
    print("PASS: %d/%d greedy tokens match %s (prompt %s); smallest top1-top2 logit margin %.4g"
          % (steps, len(want), exp_path, prompt, min_margin))


if __name__ == "__main__":
    main()
