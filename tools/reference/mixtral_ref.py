#!/usr/bin/python3
"""Independent NumPy float64 reference forward of HF MixtralForCausalLM (and CLEX-Mixtral).

Purpose: golden logits for LongLM's Mixtral family. It shares no code with the .NET runtime; it uses only the
Python standard library, NumPy, the safetensors parser of llama_ref.py, the RoPE attention of
rope_attention_ref.py and (CLEX) clex_ref.py's clex_frequencies / select_t / log_factor.

transformers modeling_mixtral, per forward call of n new tokens on a raw K/V cache:
  x = embed_tokens[ids]
  per layer: h = RMSNorm(x; input_layernorm)            (x / sqrt(mean(x^2) + eps) * w)
             q, k, v = h @ Wq.T, h @ Wk.T, h @ Wv.T     (no biases; GQA heads)
             x = x + o_proj(attention(q, k, v))          (half-split RoPE, rope_theta; sliding_window, Lambda, top-k)
             h = RMSNorm(x; post_attention_layernorm)
             router_logits = h @ gate.T                  [n, E]
             p = softmax(router_logits)                  (HF: float32; here float64)
             top-k experts (k = num_experts_per_tok), ties to the lower index; w = p_top / sum(p_top)
             x = x + sum over the chosen e of w_e * w2_e(silu(w1_e(h)) * w3_e(h))
  logits = RMSNorm(x; norm) @ lm_head.T
Every call also records the smallest gap p_(k) - p_(k+1) (k-th minus (k+1)-th largest router probability) over
every row and layer, so a golden file can show that it does not sit on a routing tie.

CLEX (rope_scaling type clex; algorithms.md 3.2-3.4): one call of S ids uses t = min(ceil(S / L_tr), max_factor),
frequencies = the stored model.clex_layer.inv_freq at t = 1, else float32(exp(z(t))) of the ODE (time-embedding base
10000 whatever rope_theta is); no log scaling (Mixtral has none).

Usage:
  mixtral_ref.py --model DIR --ids 1,2,3 --out FILE.json [--lambda L,G,D] [--topk K,INSERT_AT,FROM_LAYER]
                 [--schedule P]     (one prefill call of P tokens, then one-token calls; default: one call)
  mixtral_ref.py --model CLEXDIR --ids ... --clex-single S1,S2,... --rows R1,R2,... --out FILE.json
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import load_weights, round_sig  # noqa: E402
from rope_attention_ref import attention  # noqa: E402
from clex_ref import clex_frequencies, select_t  # noqa: E402


class MixtralRef:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        self.w = load_weights(model_dir)
        self.hidden = cfg["hidden_size"]
        self.heads = cfg["num_attention_heads"]
        self.kv_heads = cfg.get("num_key_value_heads", self.heads)
        self.head_dim = cfg.get("head_dim") or self.hidden // self.heads
        self.layers = cfg["num_hidden_layers"]
        self.experts = cfg.get("num_local_experts", 8)
        self.top = cfg.get("num_experts_per_tok", 2)
        self.eps = cfg.get("rms_norm_eps", 1e-5)
        self.theta = cfg.get("rope_theta", 1e6)
        self.window = cfg.get("sliding_window")
        self.trained = cfg["max_position_embeddings"]
        d = self.head_dim
        self.inv_freq = 1.0 / (self.theta ** (np.arange(0, d, 2, dtype=np.int64).astype(np.float64) / d))
        self.clex = None
        rs = cfg.get("rope_scaling") or {}
        if rs.get("type", rs.get("rope_type")) == "clex":
            self.max_factor = int(rs["max_factor"])
            inv = self.w["model.clex_layer.inv_freq"].astype(np.float32)
            self.clex = clex_frequencies(inv, self.w["model.clex_layer.proj_func.ode_up_proj"],
                                         self.w["model.clex_layer.proj_func.ode_down_proj"],
                                         rs.get("act", "silu"), float(rs.get("time_dt", 0.01)), self.max_factor)
        self.head = self.w.get("lm_head.weight")
        if self.head is None or cfg.get("tie_word_embeddings", False):
            self.head = self.w["model.embed_tokens.weight"]
        self.min_gap = np.inf

    def _rms(self, x, weight):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + self.eps) * weight

    def _moe(self, h, p):
        logits = h @ self.w[p + "gate.weight"].T
        out = np.zeros_like(h)
        for r in range(h.shape[0]):
            z = logits[r] - logits[r].max()
            prob = np.exp(z) / np.exp(z).sum()
            order = sorted(range(self.experts), key=lambda e: (-prob[e], e))
            if self.top < self.experts:
                self.min_gap = min(self.min_gap, prob[order[self.top - 1]] - prob[order[self.top]])
            chosen = order[:self.top]
            weights = prob[chosen] / prob[chosen].sum()
            for e, we in zip(chosen, weights):
                q = "%sexperts.%d." % (p, e)
                g = self.w[q + "w1.weight"] @ h[r]
                u = self.w[q + "w3.weight"] @ h[r]
                out[r] += we * (self.w[q + "w2.weight"] @ (g / (1.0 + np.exp(-g)) * u))
        return out

    def new_cache(self):
        return {"n": 0, "k": [None] * self.layers, "v": [None] * self.layers}

    def forward_call(self, ids, cache, lam=None, topk=None, inv_freq=None):
        """One HF forward of the new `ids` on `cache` (raw keys/values, updated in place); float64 logits [n, vocab].
        topk = (k, insert_at, from_layer)."""
        inv = self.inv_freq if inv_freq is None else inv_freq
        n, start = len(ids), cache["n"]
        x = self.w["model.embed_tokens.weight"][np.asarray(ids)]
        hd = self.head_dim
        for l in range(self.layers):
            p = "model.layers.%d." % l
            h = self._rms(x, self.w[p + "input_layernorm.weight"])
            q = (h @ self.w[p + "self_attn.q_proj.weight"].T).reshape(n, self.heads, hd)
            k = (h @ self.w[p + "self_attn.k_proj.weight"].T).reshape(n, self.kv_heads, hd)
            v = (h @ self.w[p + "self_attn.v_proj.weight"].T).reshape(n, self.kv_heads, hd)
            cache["k"][l] = k if cache["k"][l] is None else np.concatenate([cache["k"][l], k])
            cache["v"][l] = v if cache["v"][l] is None else np.concatenate([cache["v"][l], v])
            layer_topk = topk[:2] if topk is not None and l >= topk[2] else None
            a = attention(q, cache["k"][l], cache["v"][l], start, inv, hd, "half", lam=lam, topk=layer_topk,
                          window=self.window if lam is None else None)
            x = x + a.reshape(n, self.heads * hd) @ self.w[p + "self_attn.o_proj.weight"].T
            x = x + self._moe(self._rms(x, self.w[p + "post_attention_layernorm.weight"]), p + "block_sparse_moe.")
        cache["n"] += n
        return self._rms(x, self.w["model.norm.weight"]) @ self.head.T

    def calls(self, ids, prefill=None, lam=None, topk=None):
        """One call of every id, or a prefill call of `prefill` ids then one-token calls."""
        cache = self.new_cache()
        if prefill is None:
            return self.forward_call(ids, cache, lam, topk)
        rows = [self.forward_call(ids[:prefill], cache, lam, topk)]
        for i in range(prefill, len(ids)):
            rows.append(self.forward_call(ids[i:i + 1], cache, lam, topk))
        return np.concatenate(rows)

    def clex_one_call(self, ids):
        """HF model(input_ids) of CLEX-Mixtral: every row at t(S), S = len(ids). Returns (logits, t)."""
        t = select_t(len(ids), self.trained, self.max_factor)
        return self.forward_call(ids, self.new_cache(), inv_freq=self.clex[t].astype(np.float64)), t


def write(path, doc):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True)
    ap.add_argument("--lambda", dest="lam", help="LM-Infinite L,G,D")
    ap.add_argument("--topk", help="K,INSERT_AT,FROM_LAYER (needs --lambda)")
    ap.add_argument("--schedule", type=int, help="prefill P ids in one call, then one-token calls")
    ap.add_argument("--clex-single", help="S1,S2,...: one CLEX call of the first S ids each")
    ap.add_argument("--rows", help="--clex-single: rows kept (negative: from the end)")
    ap.add_argument("--fixture", default="", help="how the model folder was made")
    args = ap.parse_args(argv)
    ids = [int(t) for t in args.ids.split(",") if t.strip()]
    model = MixtralRef(args.model)
    source = ("tools/reference/mixtral_ref.py, NumPy float64 forward of HF MixtralForCausalLM (modeling_mixtral: "
              "RMSNorm, GQA attention with half-split RoPE via rope_attention_ref.py, MixtralSparseMoeBlock top-%d of "
              "%d experts, ties to the lower index; weights upcast to float64)" % (model.top, model.experts))
    doc = {"source": source, "fixture": args.fixture, "ids": ids}
    if args.clex_single:
        if model.clex is None:
            ap.error("--clex-single needs a CLEX model (rope_scaling type clex)")
        calls = []
        for S in (int(s) for s in args.clex_single.split(",")):
            logits, t = model.clex_one_call(ids[:S])
            rows = sorted({(r if r >= 0 else S + r) for r in (int(x) for x in args.rows.split(","))} & set(range(S)))
            calls.append({"S": S, "t": t, "rows": rows, "logits": [[round_sig(v) for v in logits[r]] for r in rows]})
            print("S = %d: t = %d" % (S, t), file=sys.stderr)
        doc["source"] += "; CLEX one call per S (t = min(ceil(S / L_tr), max_factor), time-embedding base 10000)"
        doc["calls"] = calls
    else:
        lam = tuple(int(t) for t in args.lam.split(",")) if args.lam else None
        topk = tuple(int(t) for t in args.topk.split(",")) if args.topk else None
        if topk is not None and lam is None:
            ap.error("--topk needs --lambda")
        logits = model.calls(ids, args.schedule, lam, topk)
        doc["attention"] = {"mode": "vanilla", "sliding_window": model.window} if lam is None else \
            {"mode": "lambda", "L": lam[0], "G": lam[1], "D": lam[2]}
        if topk is not None:
            doc["attention"].update({"top_k": topk[0], "insert_at": topk[1], "from_layer": topk[2]})
        doc["schedule"] = "one call" if args.schedule is None else "prefill %d, then one-token calls" % args.schedule
        doc["logits"] = [[round_sig(v) for v in row] for row in logits]
    doc["min_routing_gap"] = float(model.min_gap)
    write(args.out, doc)
    print("wrote %s; smallest top-%d/top-%d router probability gap %.3g" % (args.out, model.top, model.top + 1, model.min_gap),
          file=sys.stderr)


if __name__ == "__main__":
    main()
