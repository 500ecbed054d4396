#!/usr/bin/python3
"""Independent NumPy float64 reference forward of HF PhiForCausalLM (and CLEX-Phi-2).

Purpose: golden logits for LongLM's Phi family. It shares no code with the .NET runtime; it uses only the Python
standard library, NumPy, the safetensors reader of llama_ref.py, the shared RoPE attention of rope_attention_ref.py
and the CLEX pieces of clex_ref.py (clex_frequencies, select_t).

PhiForCausalLM (transformers modeling_phi, PhiConfig defaults):
  head_dim = hidden_size // num_attention_heads; rotary_dim = int(partial_rotary_factor * head_dim) (default 0.5)
  inv_freq_k = 1 / rope_theta^(2k / rotary_dim), k < rotary_dim / 2          (PhiRotaryEmbedding(dim=rotary_dim))
  h = embed_tokens[ids]
  per layer: x = LayerNorm(h; input_layernorm, layer_norm_eps)
             q, k, v = q_proj(x), k_proj(x), v_proj(x)                      (all with biases)
             rotate_half RoPE on the first rotary_dim dims of each head, the rest pass through; scale 1/sqrt(head_dim)
             h = h + dense(attn(q, k, v)) + fc2(gelu_new(fc1(x)))           (parallel: one LayerNorm, both branches)
             gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  logits = LayerNorm(h; final_layernorm) @ lm_head.weight.T + lm_head.bias

LM-Infinite (--lambda L,G,D) and top-k middle tokens (--topk k,insert_at,from_layer) come from
rope_attention_ref.attention. Top-k changes only the last row of each call, and later layers' cached keys depend on
it, so --topk runs INCREMENTAL calls (--calls P,1,1,...: a prefill call of P tokens then one-token calls, sharing a
raw K/V cache per layer); each call's logits rows are written in order.

CLEX-Phi-2 (DAMO-NLP-SG/CLEX, CLEX/phi2/modeling_phi2_clex.py): PhiModel holds clex_layer =
CLEXScalingRotaryEmbedding(rope_dim = int(partial_rotary_factor * head_dim), max_position_embeddings, rope_scaling,
rope_theta), so the checkpoint has model.clex_layer.inv_freq [d/2], model.clex_layer.proj_func.ode_up_proj [d/2, ld]
and ode_down_proj [ld, d/2] with d = rotary_dim (not head_dim). One forward of S tokens rotates every query and every
(raw, cached) key with the frequencies of t = min(ceil(S / L_tr), max_factor); the Phi code applies no log scaling
(log_scale is never read). --clex-single S1,S2,... gives one call on an empty cache per S (HF model(input_ids)).

Usage:
  phi_ref.py --model DIR --ids 1,2,3 --out F.json [--lambda L,G,D]
  phi_ref.py --model DIR --ids ... --out F.json --lambda L,G,D --topk K,INSERT_AT,FROM_LAYER --calls P,1,1,...
  phi_ref.py --model DIR --clex-single 64,100,150 --ids-seed 5 --out F.json [--row-stride 16]
  phi_ref.py --selftest
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
from clex_ref import clex_frequencies, select_t, make_ids  # noqa: E402

SOURCE = ("tools/reference/phi_ref.py, NumPy float64 forward of HF PhiForCausalLM (transformers modeling_phi: one "
          "LayerNorm, parallel attention + MLP residual, half-split RoPE on the first int(partial_rotary_factor * "
          "head_dim) dims, gelu_new, biases on every Linear and the lm_head; attention from rope_attention_ref.py)%s")


def layer_norm(x, w, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


class PhiRef:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        if cfg.get("qk_layernorm"):
            raise ValueError("qk_layernorm is not supported")
        if cfg.get("hidden_act", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError("hidden_act %r is not supported" % cfg.get("hidden_act"))
        self.w = load_weights(model_dir)
        self.d = cfg["hidden_size"]
        self.H = cfg["num_attention_heads"]
        self.KV = cfg.get("num_key_value_heads") or self.H
        self.hd = self.d // self.H
        self.n_layers = cfg["num_hidden_layers"]
        self.eps = float(cfg.get("layer_norm_eps", 1e-5))
        self.rotary_dim = int(cfg.get("partial_rotary_factor", 0.5) * self.hd)
        theta = float(cfg.get("rope_theta", 10000.0))
        self.inv_freq = 1.0 / theta ** (np.arange(0, self.rotary_dim, 2, dtype=np.float64) / self.rotary_dim)
        self.head = self.w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings", False) else self.w["lm_head.weight"]
        self.clex = None
        rs = cfg.get("rope_scaling") or {}
        if rs.get("type", rs.get("rope_type")) == "clex":
            self._load_clex(rs)
        elif rs:
            raise ValueError("rope_scaling %r is not supported by this reference" % rs)

    def _load_clex(self, rs):
        m = self.rotary_dim // 2
        inv = self.w["model.clex_layer.inv_freq"]
        up = self.w["model.clex_layer.proj_func.ode_up_proj"]
        down = self.w["model.clex_layer.proj_func.ode_down_proj"]
        hidden = int(rs.get("param_factor", 1) * self.rotary_dim)
        if inv.shape != (m,) or up.shape != (m, hidden) or down.shape != (hidden, m):
            raise ValueError("CLEX tensor shapes %s %s %s, expected [%d] [%d,%d] [%d,%d] (d = rotary_dim %d)"
                             % (inv.shape, up.shape, down.shape, m, m, hidden, hidden, m, self.rotary_dim))
        self.max_factor = int(rs["max_factor"])
        self.trained = int(self.cfg["max_position_embeddings"])
        self.clex = clex_frequencies(inv.astype(np.float32), up, down, rs.get("act", "silu"),
                                     float(rs.get("time_dt", 0.01)), self.max_factor, "f32")

    def _linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def new_cache(self):
        return {"n": 0, "k": [None] * self.n_layers, "v": [None] * self.n_layers}

    def forward_call(self, ids, cache, lam=None, topk=None, freqs=None):
        """ONE forward call of `ids` on top of `cache` (raw keys/values, updated in place): logits of the new rows.
        topk = (k, insert_at, from_layer); freqs overrides the inverse frequencies (CLEX: those of this call's t)."""
        n, H, KV, hd, w = len(ids), self.H, self.KV, self.hd, self.w
        past = cache["n"]
        inv = self.inv_freq if freqs is None else freqs
        h = w["model.embed_tokens.weight"][np.asarray(ids)]
        for i in range(self.n_layers):
            p = "model.layers.%d." % i
            x = layer_norm(h, w[p + "input_layernorm.weight"], w[p + "input_layernorm.bias"], self.eps)
            q = self._linear(x, p + "self_attn.q_proj").reshape(n, H, hd)
            k = self._linear(x, p + "self_attn.k_proj").reshape(n, KV, hd)
            v = self._linear(x, p + "self_attn.v_proj").reshape(n, KV, hd)
            cache["k"][i] = k if cache["k"][i] is None else np.concatenate([cache["k"][i], k])
            cache["v"][i] = v if cache["v"][i] is None else np.concatenate([cache["v"][i], v])
            tk = None if topk is None or i < topk[2] else (topk[0], topk[1])
            a = attention(q, cache["k"][i], cache["v"][i], past, inv, self.rotary_dim, "half", lam=lam, topk=tk)
            mlp = self._linear(gelu_new(self._linear(x, p + "mlp.fc1")), p + "mlp.fc2")
            h = h + self._linear(a.reshape(n, H * hd), p + "self_attn.dense") + mlp
        cache["n"] = past + n
        h = layer_norm(h, w["model.final_layernorm.weight"], w["model.final_layernorm.bias"], self.eps)
        return h @ self.head.T + w["lm_head.bias"]

    def one_call(self, ids, lam=None):
        freqs = None
        if self.clex is not None:
            t = select_t(len(ids), self.trained, self.max_factor)
            freqs = self.clex[t].astype(np.float64)
        return self.forward_call(ids, self.new_cache(), lam=lam, freqs=freqs)

    def calls(self, ids, schedule, lam=None, topk=None):
        cache, pos, out = self.new_cache(), 0, []
        for c in schedule:
            out.append(self.forward_call(ids[pos:pos + c], cache, lam=lam, topk=topk))
            pos += c
        return np.concatenate(out)


def _rows(logits):
    return [[round_sig(v) for v in row] for row in logits]


def selftest():
    x = np.linspace(-3, 3, 7)
    assert np.allclose(gelu_new(x), [-0.00363739, -0.04540231, -0.15880801, 0.0, 0.84119199, 1.95459769, 2.99636261],
                       atol=1e-7), gelu_new(x)
    y = layer_norm(np.array([[1.0, 2.0, 3.0, 6.0]]), np.ones(4), np.zeros(4), 0.0)
    assert np.allclose(y.sum(), 0) and np.allclose((y ** 2).mean(), 1)
    print("phi_ref selftest: gelu_new and LayerNorm OK", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model")
    ap.add_argument("--ids", help="comma-separated token ids")
    ap.add_argument("--out")
    ap.add_argument("--lambda", dest="lam", help="LM-Infinite L,G,D")
    ap.add_argument("--topk", help="K,INSERT_AT,FROM_LAYER (needs --lambda and --calls)")
    ap.add_argument("--calls", help="incremental call schedule, e.g. 20,1,1 (sums to the number of ids)")
    ap.add_argument("--clex-single", help="CLEX one-call lengths S1,S2,...")
    ap.add_argument("--ids-seed", type=int, default=5, help="--clex-single ids: 1, then 3 + SplitMix64(seed) %% (vocab-3)")
    ap.add_argument("--row-stride", type=int, default=16)
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args(argv)
    if args.selftest:
        selftest()
        return
    if not (args.model and args.out):
        ap.error("--model and --out are required")
    model = PhiRef(args.model)
    lam = tuple(int(t) for t in args.lam.split(",")) if args.lam else None
    doc = {"model": os.path.basename(os.path.normpath(args.model))}
    if args.clex_single:
        if model.clex is None:
            ap.error("--clex-single needs a CLEX checkpoint (rope_scaling type clex)")
        lengths = [int(s) for s in args.clex_single.split(",")]
        ids = make_ids(max(lengths), args.ids_seed, model.cfg["vocab_size"])
        doc["source"] = SOURCE % ("; CLEX (clex_ref.py's ODE, float32 frequencies): each case is ONE forward of the "
                                  "first S ids on an empty cache, every row and key rotated with t = "
                                  "min(ceil(S/L_tr), max_factor); no log scaling (modeling_phi2_clex.py has none)")
        doc["ids"] = ids
        doc["trained_length"] = model.trained
        doc["row_rule"] = "rows r with r %% %d == 0, and the last row" % args.row_stride
        doc["cases"] = []
        for S in lengths:
            logits = model.one_call(ids[:S], lam)
            t = select_t(S, model.trained, model.max_factor)
            rows = sorted(set(range(0, S, args.row_stride)) | {S - 1})
            doc["cases"].append({"S": S, "t": t, "rows": rows, "logits": _rows(logits[rows])})
            if t > 1:
                wrong = model.forward_call(ids[:S], model.new_cache(), lam=lam, freqs=model.clex[1].astype(np.float64))
                print("S=%d t=%d: max |logit - logit with t=1 frequencies| %.4g" % (S, t, np.abs(wrong[rows] - logits[rows]).max()),
                      file=sys.stderr)
    else:
        if not args.ids:
            ap.error("--ids is required")
        ids = [int(t) for t in args.ids.split(",") if t.strip()]
        doc["ids"] = ids
        doc["positions"] = "all"
        doc["attention"] = {"mode": "vanilla"} if lam is None else {"mode": "lambda", "L": lam[0], "G": lam[1], "D": lam[2]}
        if args.topk:
            if lam is None or not args.calls:
                ap.error("--topk needs --lambda and --calls")
            k, insert_at, from_layer = (int(t) for t in args.topk.split(","))
            schedule = [int(c) for c in args.calls.split(",")]
            if sum(schedule) != len(ids):
                ap.error("--calls sums to %d, not the %d ids" % (sum(schedule), len(ids)))
            logits = model.calls(ids, schedule, lam, (k, insert_at, from_layer))
            plain = model.calls(ids, schedule, lam)
            print("top-k vs plain Lambda: max |diff| %.4g" % np.abs(logits - plain).max(), file=sys.stderr)
            doc["attention"].update({"top_k": k, "top_k_insert_at": insert_at, "top_k_from_layer": from_layer})
            doc["calls"] = schedule
            mode = ("; LM-Infinite L=%d G=%d D=%d with top-k %d middle tokens at distance %d from layer %d, incremental "
                    "calls %s sharing a raw K/V cache (logits of every call's rows, in order)"
                    % (lam + (k, insert_at, from_layer, args.calls)))
        else:
            logits = model.one_call(ids, lam)
            mode = "" if lam is None else "; LM-Infinite Lambda mask and distance ceiling, L=%d G=%d D=%d" % lam
        doc["source"] = SOURCE % mode
        doc["logits"] = _rows(logits)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s" % args.out, file=sys.stderr)


if __name__ == "__main__":
    main()
