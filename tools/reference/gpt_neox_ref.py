#!/usr/bin/python3
"""Independent NumPy float64 reference forward of HF GPTNeoXForCausalLM (transformers modeling_gpt_neox).

Purpose: golden logits for LongLM's GPT-NeoX family (Pythia, gpt-neox-20b), vanilla, with LM-Infinite's Lambda mask
and with top-k middle tokens. It shares no code with the .NET runtime: it uses NumPy, llama_ref.py's safetensors
reader and rope_attention_ref.py's float64 attention (algorithms.md 1, 2.2-2.5).

  h = embed_in[ids]
  per layer: fused = ln1(h) @ query_key_value.T + b, viewed as [n, heads, 3 * head_size]:
               q = fused[..., :hs], k = fused[..., hs:2hs], v = fused[..., 2hs:]          (per-head layout)
             rotary (rotate_half, HALF-SPLIT) on the first rotary_ndims = int(head_size * rotary_pct) dims of q, k;
               inv_freq = 1 / base^(arange(0, rotary_ndims, 2) / rotary_ndims), base = rotary_emb_base (rope_theta)
             a = dense(softmax(q k^T / sqrt(head_size) + mask) v)
             use_parallel_residual true:  h = h + a(ln1(h)) + mlp(ln2(h))
             use_parallel_residual false: h = h + a(ln1(h)); h = h + mlp(ln2(h))
             mlp(x) = dense_4h_to_h(gelu(dense_h_to_4h(x)))       gelu: exact erf ("gelu"), tanh form (gelu_new ...)
  logits = final_layer_norm(h) @ embed_out.T       (embed_in.T when tie_word_embeddings)

Every run is a sequence of forward calls sharing one raw (un-rotated) K/V cache per layer (INCREMENTAL semantics):
--schedule 30 is one call, HF's model(input_ids); --schedule 20,1,1,... is a prefill then one-token calls. Top-k
middle tokens touch only the last row of each call (algorithms.md 2.5), so a top-k golden needs its schedule, and the
runtime test runs the same calls. Logits: every row of every call, concatenated.

Usage:
  /usr/bin/python3 tools/reference/gpt_neox_ref.py --model DIR --ids 1,2,3 --out FILE.json \
      [--lambda L,G,D] [--topk K,INSERT_AT,FROM_LAYER] [--schedule N1,N2,...]
  /usr/bin/python3 tools/reference/gpt_neox_ref.py --selftest
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import load_weights, round_sig  # noqa: E402
from rope_attention_ref import attention, rotate  # noqa: E402

_erf = np.vectorize(math.erf)


def gelu_exact(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


GELU = {"gelu": gelu_exact, "gelu_new": gelu_tanh, "gelu_fast": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh}


def layer_norm(x, w, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)      # biased, as torch LayerNorm
    return (x - mean) / np.sqrt(var + eps) * w + b


class GptNeoXRef:
    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.d = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.hs = self.d // self.H
        self.n_layers = cfg["num_hidden_layers"]
        self.eps = float(cfg.get("layer_norm_eps", 1e-5))
        pct = cfg.get("rotary_pct", cfg.get("partial_rotary_factor", 0.25))
        self.rot = int(self.hs * pct)
        base = float(cfg.get("rotary_emb_base", cfg.get("rope_theta", 10000)))
        self.inv_freq = 1.0 / base ** (np.arange(0, self.rot, 2, dtype=np.float64) / self.rot)
        self.parallel = cfg.get("use_parallel_residual", True)
        self.bias = cfg.get("attention_bias", True)
        act = cfg.get("hidden_act", "gelu")
        if act not in GELU:
            raise ValueError("hidden_act %r is not computed by this reference" % act)
        self.gelu = GELU[act]
        if cfg.get("rope_scaling"):
            raise ValueError("rope_scaling is not computed by this reference")
        tied = cfg.get("tie_word_embeddings", False)
        self.head = w["gpt_neox.embed_in.weight"] if tied else w["embed_out.weight"]

    def _linear(self, x, prefix, bias=True):
        y = x @ self.w[prefix + ".weight"].T
        return y + self.w[prefix + ".bias"] if bias else y

    def _ln(self, x, prefix):
        return layer_norm(x, self.w[prefix + ".weight"], self.w[prefix + ".bias"], self.eps)

    def new_cache(self):
        return [(np.zeros((0, self.H, self.hs)), np.zeros((0, self.H, self.hs))) for _ in range(self.n_layers)]

    def forward_call(self, ids, cache, lam=None, topk=None):
        """One forward call of ids after the cache's tokens; appends the call's raw keys/values to cache."""
        n, H, hs, d, w = len(ids), self.H, self.hs, self.d, self.w
        start = cache[0][0].shape[0]
        h = w["gpt_neox.embed_in.weight"][np.asarray(ids)]
        for i in range(self.n_layers):
            p = "gpt_neox.layers.%d." % i
            fused = self._linear(self._ln(h, p + "input_layernorm"), p + "attention.query_key_value", self.bias)
            fused = fused.reshape(n, H, 3 * hs)
            q, k, v = fused[:, :, :hs], fused[:, :, hs:2 * hs], fused[:, :, 2 * hs:]
            kc, vc = np.concatenate([cache[i][0], k]), np.concatenate([cache[i][1], v])
            cache[i] = (kc, vc)
            layer_topk = None
            if topk is not None and i >= topk[2]:
                layer_topk = (topk[0], topk[1])
            a = attention(q, kc, vc, start, self.inv_freq, self.rot, "half", lam=lam, topk=layer_topk,
                          scale=1.0 / math.sqrt(hs)).reshape(n, d)
            a = self._linear(a, p + "attention.dense", self.bias)
            if self.parallel:
                m = self._linear(self.gelu(self._linear(self._ln(h, p + "post_attention_layernorm"), p + "mlp.dense_h_to_4h")),
                                 p + "mlp.dense_4h_to_h")
                h = h + a + m
            else:
                h = h + a
                m = self._linear(self.gelu(self._linear(self._ln(h, p + "post_attention_layernorm"), p + "mlp.dense_h_to_4h")),
                                 p + "mlp.dense_4h_to_h")
                h = h + m
        h = self._ln(h, "gpt_neox.final_layer_norm")
        return h @ self.head.T

    def calls(self, ids, schedule, lam=None, topk=None):
        cache, out, at = self.new_cache(), [], 0
        for c in schedule:
            out.append(self.forward_call(ids[at:at + c], cache, lam, topk))
            at += c
        return np.concatenate(out)


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    if cfg.get("model_type") != "gpt_neox":
        raise ValueError("model_type %r is not gpt_neox" % cfg.get("model_type"))
    return GptNeoXRef(cfg, load_weights(model_dir))


def selftest():
    # algorithms.md 7.1: half-split pairing of (1, 2, 3, 4) at position 3 with inv_freq (1, 0.01), and partial rotary
    # (dims past rotary_ndims pass through), as modeling_gpt_neox's rotate_half on q[..., :rotary_ndims].
    x = np.array([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]])
    y = rotate(x, [3], np.array([1.0, 0.01]), 4, "half")[0, 0]
    assert np.allclose(y, [-1.4133525, 1.8791181, -2.8288575, 4.0581911, 5.0, 6.0], atol=1e-6), y
    # gelu forms: exact erf vs tanh differ, and gelu(1) = 0.8413447 (Phi(1)).
    assert abs(gelu_exact(np.array([1.0]))[0] - 0.8413447460685429) < 1e-12
    assert abs(gelu_tanh(np.array([1.0]))[0] - 0.8411919906082768) < 1e-12
    print("gpt_neox_ref selftest: algorithms.md 7.1 half-split partial rotary and the GELU forms OK", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="Hugging Face model folder (model_type gpt_neox)")
    ap.add_argument("--ids", help="comma-separated token ids")
    ap.add_argument("--out", help="output JSON file")
    ap.add_argument("--lambda", dest="lam", help="LM-Infinite L,G,D (local window, starting tokens, distance limit)")
    ap.add_argument("--topk", help="top-k middle tokens K,INSERT_AT,FROM_LAYER (needs --lambda)")
    ap.add_argument("--schedule", help="call sizes N1,N2,... summing to the ids (default: one call)")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args(argv)
    if args.selftest:
        selftest()
        return
    if not (args.model and args.ids and args.out):
        ap.error("--model, --ids and --out are required")
    ids = [int(t) for t in args.ids.split(",") if t.strip()]
    lam = tuple(int(t) for t in args.lam.split(",")) if args.lam else None
    topk = tuple(int(t) for t in args.topk.split(",")) if args.topk else None
    if topk is not None and lam is None:
        ap.error("--topk needs --lambda")
    schedule = [int(t) for t in args.schedule.split(",")] if args.schedule else [len(ids)]
    if sum(schedule) != len(ids):
        ap.error("--schedule sums to %d, not the %d ids" % (sum(schedule), len(ids)))
    model = load_model(args.model)
    logits = model.calls(ids, schedule, lam, topk)
    mode = ""
    if lam is not None:
        mode = "; LM-Infinite Lambda mask with distance ceiling, L=%d G=%d D=%d" % lam
    if topk is not None:
        mode += "; top-k middle tokens k=%d inserted at distance %d in layers >= %d, on the last row of each call" % topk
    doc = {
        "source": ("tools/reference/gpt_neox_ref.py, NumPy float64 forward of HF GPTNeoXForCausalLM (transformers "
                   "modeling_gpt_neox semantics: per-head fused query_key_value, half-split partial rotary "
                   "(rotary_ndims %d of %d), %s residual, %s GELU; attention by rope_attention_ref.py; weights "
                   "read from safetensors and upcast to float64)%s")
        % (model.rot, model.hs, "parallel" if model.parallel else "sequential", model.cfg.get("hidden_act", "gelu"), mode),
        "model": os.path.basename(os.path.normpath(args.model)),
        "ids": ids,
        "positions": "all",
        "schedule": schedule,
        "semantics": "incremental: consecutive calls of the schedule's sizes sharing one cache; logits of every row",
        "attention": {"mode": "vanilla"} if lam is None else dict(
            {"mode": "lambda", "L": lam[0], "G": lam[1], "D": lam[2]},
            **({} if topk is None else {"top_k": topk[0], "insert_at": topk[1], "from_layer": topk[2]})),
        "logits": [[round_sig(v) for v in row] for row in logits],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d row(s) x %d logits" % (args.out, logits.shape[0], logits.shape[1]), file=sys.stderr)


if __name__ == "__main__":
    main()
