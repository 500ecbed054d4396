#!/usr/bin/python3
"""Independent NumPy float64 reference forward of HF GPTJForCausalLM (transformers modeling_gptj).

Purpose: golden logits for LongLM's GPT-J family, vanilla, with LM-Infinite's Lambda mask and distance ceiling, and
with top-k middle tokens over an incremental call schedule. It shares no code with the .NET runtime; it uses NumPy,
llama_ref.py's safetensors parser and the shared float64 RoPE attention of rope_attention_ref.py.

GPT-J (modeling_gptj), weights upcast to float64:
  h = wte[ids]
  per block: x = LayerNorm(h; ln_1)                                       (eps layer_norm_epsilon, default 1e-5)
             q, k, v = x @ q_proj.T, x @ k_proj.T, x @ v_proj.T             (no biases), viewed [n, n_head, head_dim]
             RoPE: rotate_every_two (interleaved pairs 2k, 2k+1) on the first rotary_dim dims of q and k, the rest
                   pass through; inv_freq = 1 / base^(arange(0, rotary_dim, 2) / rotary_dim), base 10000
                   (or config rope_theta); rotary_dim absent = 64, null = head_dim
             a = softmax(q k^T / sqrt(head_dim) + causal) v
             h = h + out_proj(a) + fc_out(gelu_new(fc_in(x)))              (parallel branches, ONE residual add)
             gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  logits = LayerNorm(h; ln_f) @ lm_head.T + lm_head.bias                  (lm_head.weight = wte when tied)

Modes:
  one shot (HF model(input_ids)):      --ids ... [--lambda L,G,D]
  incremental (a raw K/V cache per layer, calls of the given sizes, e.g. a prefill then one-token calls):
                                       --ids ... --calls 20,1,1,... [--lambda L,G,D] [--topk k,insert_at,from_layer]
  Top-k (algorithms.md 2.5) changes only the LAST row of each call in layers >= from_layer, and the later layers'
  cached keys depend on it, so a top-k golden is made by the incremental mode; the logits of every row of every call
  are written, in order (the same [N, vocab] layout as one shot).

Usage:
  /usr/bin/python3 tools/reference/gptj_ref.py --model DIR --ids 1,2,3 --out FILE.json [--lambda 8,2,8]
      [--calls 20,1,1] [--topk 2,4,1] [--fixture "how the model was made"]
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import load_weights, round_sig  # noqa: E402
from rope_attention_ref import attention  # noqa: E402


def layer_norm(x, w, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # biased, as torch LayerNorm
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class GptJRef:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        if cfg.get("model_type") != "gptj":
            raise ValueError("model_type %r is not gptj" % cfg.get("model_type"))
        if cfg.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError("activation_function %r is not the tanh GELU" % cfg["activation_function"])
        self.w = load_weights(model_dir)
        self.d = cfg["n_embd"]
        self.H = cfg["n_head"]
        self.hd = self.d // self.H
        self.n_layers = cfg["n_layer"]
        self.eps = float(cfg.get("layer_norm_epsilon", 1e-5))
        self.rotary_dim = cfg["rotary_dim"] if "rotary_dim" in cfg else 64
        if self.rotary_dim is None:
            self.rotary_dim = self.hd
        base = float(cfg.get("rope_theta") or 10000.0)
        self.inv_freq = 1.0 / base ** (np.arange(0, self.rotary_dim, 2, dtype=np.float64) / self.rotary_dim)
        w = self.w
        self.head = w["transformer.wte.weight"] if cfg.get("tie_word_embeddings", False) else w["lm_head.weight"]
        self.head_bias = w["lm_head.bias"]

    def new_cache(self):
        return [(np.zeros((0, self.H, self.hd)), np.zeros((0, self.H, self.hd))) for _ in range(self.n_layers)]

    def call(self, ids, cache, lam=None, topk=None):
        """One forward call of ids after the cache's tokens; cache holds raw (un-rotated) keys and values per layer."""
        n, H, hd, w = len(ids), self.H, self.hd, self.w
        start = cache[0][0].shape[0]
        h = w["transformer.wte.weight"][np.asarray(ids)]
        for i in range(self.n_layers):
            p = "transformer.h.%d." % i
            x = layer_norm(h, w[p + "ln_1.weight"], w[p + "ln_1.bias"], self.eps)
            q = (x @ w[p + "attn.q_proj.weight"].T).reshape(n, H, hd)
            k = (x @ w[p + "attn.k_proj.weight"].T).reshape(n, H, hd)
            v = (x @ w[p + "attn.v_proj.weight"].T).reshape(n, H, hd)
            ck, cv = cache[i]
            ck, cv = np.concatenate([ck, k]), np.concatenate([cv, v])
            cache[i] = (ck, cv)
            layer_topk = None
            if topk is not None and i >= topk[2]:
                layer_topk = (topk[0], topk[1])
            a = attention(q, ck, cv, start, self.inv_freq, self.rotary_dim, "interleaved",
                          lam=lam, topk=layer_topk).reshape(n, self.d)
            attn_out = a @ w[p + "attn.out_proj.weight"].T
            mlp_out = gelu_new(x @ w[p + "mlp.fc_in.weight"].T + w[p + "mlp.fc_in.bias"]) @ w[p + "mlp.fc_out.weight"].T \
                + w[p + "mlp.fc_out.bias"]
            h = h + attn_out + mlp_out
        h = layer_norm(h, w["transformer.ln_f.weight"], w["transformer.ln_f.bias"], self.eps)
        return h @ self.head.T + self.head_bias


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face model folder (model_type gptj)")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True, help="output JSON file")
    ap.add_argument("--lambda", dest="lam", help="LM-Infinite L,G,D (local window, starting tokens, distance limit)")
    ap.add_argument("--calls", help="call sizes summing to the number of ids (default: one call)")
    ap.add_argument("--topk", help="k,insert_at,from_layer: top-k middle tokens on each call's last row (needs --lambda)")
    ap.add_argument("--fixture", help="how the model folder was made (written into the file)")
    args = ap.parse_args(argv)

    ids = [int(t) for t in args.ids.split(",") if t.strip()]
    lam = tuple(int(t) for t in args.lam.split(",")) if args.lam else None
    if lam is not None and (len(lam) != 3 or lam[0] <= 0 or lam[1] < 0 or lam[2] < lam[0]):
        ap.error("--lambda needs L,G,D with L > 0, G >= 0, D >= L")
    topk = tuple(int(t) for t in args.topk.split(",")) if args.topk else None
    if topk is not None and (lam is None or len(topk) != 3):
        ap.error("--topk needs k,insert_at,from_layer and --lambda")
    calls = [int(t) for t in args.calls.split(",")] if args.calls else [len(ids)]
    if sum(calls) != len(ids) or min(calls) <= 0:
        ap.error("--calls must be positive sizes summing to %d" % len(ids))

    model = GptJRef(args.model)
    cache = model.new_cache()
    rows, at = [], 0
    for size in calls:
        rows.append(model.call(ids[at:at + size], cache, lam, topk))
        at += size
    logits = np.concatenate(rows)

    mode = "" if lam is None else "; LM-Infinite Lambda mask with distance ceiling, L=%d G=%d D=%d" % lam
    if topk is not None:
        mode += "; top-k middle tokens k=%d insert_at=%d from layer %d on the last row of each call" % topk
    attention_doc = {"mode": "vanilla"} if lam is None else {"mode": "lambda", "L": lam[0], "G": lam[1], "D": lam[2]}
    if topk is not None:
        attention_doc.update({"top_k": topk[0], "top_k_insert_at": topk[1], "top_k_from_layer": topk[2]})
    doc = {
        "source": "tools/reference/gptj_ref.py, NumPy float64 forward of HF GPTJForCausalLM (transformers modeling_gptj "
                  "semantics: parallel attention + MLP from ln_1, interleaved RoPE on the first rotary_dim dims, tanh "
                  "GELU, lm_head with bias; attention from rope_attention_ref.py; weights upcast to float64)" + mode,
        "model": os.path.basename(os.path.normpath(args.model)),
        "fixture": args.fixture,
        "ids": ids,
        "calls": calls,
        "positions": "all",
        "attention": attention_doc,
        "logits": [[round_sig(v) for v in row] for row in logits],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d position(s) x %d logits in %d call(s)" % (args.out, logits.shape[0], logits.shape[1], len(calls)),
          file=sys.stderr)


if __name__ == "__main__":
    main()
