#!/usr/bin/python3
"""Independent NumPy float64 reference forward of HF MptForCausalLM and BloomForCausalLM.

Purpose: golden logits for LongLM's ALiBi models, with plain ALiBi and with LM-Infinite's
Lambda mask and clipped biases. It shares no code with the .NET runtime and uses only the
Python standard library, NumPy and the safetensors parser of llama_ref.py.

MPT (transformers modeling_mpt; llm-foundry for the biases of no_bias false):
  h = wte[ids]
  per block: x = LayerNorm(h; norm_1)                         (bias only when no_bias is false)
             q, k, v = chunk(x @ Wqkv.T, 3)                    (stacked: rows [0,d) q, [d,2d) k, [2d,3d) v)
             s = q k^T * softmax_scale + alibi                 (softmax_scale default 1/sqrt(head_dim))
             alibi[h, j] = m_h * (j - (K-1))                   (build_alibi_bias: one row for every query)
             h = h + out_proj(softmax(s + causal) v)
             h = h + down_proj(gelu_erf(up_proj(LayerNorm(h; norm_2))))
  logits = LayerNorm(h; norm_f) @ wte.T
  slopes (gen_slopes): n' = 2^ceil(log2 n), m_p = 2^(-alibi_bias_max * p / n'), p = 1..n';
  when n' != n: the odd 0-based entries then the even ones, first n.

BLOOM (transformers modeling_bloom):
  h = LayerNorm(word_embeddings[ids]; word_embeddings_layernorm)
  per block: x = LayerNorm(h; input_layernorm)
             fused = x @ Wqkv.T + b viewed as [n, heads, 3, head_dim] -> q, k, v
             s = q k^T / sqrt(head_dim) + alibi,  alibi[h, j] = m_h * j   (build_alibi_tensor)
             h = h + dense(softmax(s + causal) v)
             h = h + dense_4h_to_h(gelu_tanh(dense_h_to_4h(LayerNorm(h; post_attention_layernorm))))
             gelu_tanh(x) = x * 0.5 * (1 + tanh(0.79788456 * x * (1 + 0.044715 x^2)))  (bloom_gelu_forward)
  logits = LayerNorm(h; ln_f) @ word_embeddings.T
  slopes (build_alibi_tensor): c = 2^floor(log2 n), m_p = (2^(-8/c))^p, p = 1..c, then
  (2^(-4/c))^(1, 3, 5, ...) for the remaining n - c heads.

Both rows of alibi differ from the textbook -m * (i - j) by a per-row constant, which softmax
cancels. The LM-Infinite variant (--lambda L,G,D; algorithms.md 2.2 and 2.4, efficient path)
replaces the bias and mask for query i, key j, distance delta = i - j by the clean form:
  delta <= L - 1           local:     bias -m * delta
  j < G and delta >= L     starting:  bias -m * D   (the clipped ALiBi distance)
  otherwise (G <= j <= i-L) masked
with the scale applied to q.k before the bias is added. Within i <= L - 1 it equals vanilla.

Usage:
  /usr/bin/python3 tools/reference/alibi_ref.py --model DIR --ids 1,2,3 --out FILE.json \
      [--lambda L,G,D] [--positions all|last]
  /usr/bin/python3 tools/reference/alibi_ref.py --selftest
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import load_weights, round_sig  # noqa: E402

SOURCE = ("tools/reference/alibi_ref.py, NumPy float64 forward of HF %s (transformers "
          "modeling_%s semantics: LayerNorm, fused q/k/v, ALiBi with the family's own slope "
          "rule, %s GELU; weights read from safetensors and upcast to float64)%s")


# --------------------------------------------------------------------------
# ALiBi slopes, each family's own rule
# --------------------------------------------------------------------------

def mpt_slopes(n, alibi_bias_max=8.0):
    padded = 2 ** math.ceil(math.log2(n))
    m = np.array([2.0 ** (-alibi_bias_max * p / padded) for p in range(1, padded + 1)])
    if padded != n:
        m = np.concatenate([m[1::2], m[::2]])[:n]
    return m


def bloom_slopes(n):
    closest = 2 ** math.floor(math.log2(n))
    base = 2.0 ** (-(2.0 ** -(math.log2(closest) - 3)))
    slopes = [base ** p for p in range(1, closest + 1)]
    if closest != n:
        extra = 2.0 ** (-(2.0 ** -(math.log2(2 * closest) - 3)))
        remaining = min(closest, n - closest)
        slopes += [extra ** p for p in range(1, 1 + 2 * remaining, 2)]
    return np.array(slopes)


# --------------------------------------------------------------------------
# attention: scores + bias under vanilla (family's HF bias row) or Lambda
# --------------------------------------------------------------------------

def attention(q, k, v, slopes, scale, family, lam=None):
    """q, k, v: [H, n, hd]. Returns [H, n, hd]."""
    H, n, _ = q.shape
    s = (q @ k.transpose(0, 2, 1)) * scale                   # [H, n, n], scale before the bias
    i = np.arange(n)[:, None]
    j = np.arange(n)[None, :]
    delta = i - j
    m = slopes[:, None, None]
    if lam is None:
        # HF's own bias rows (broadcast over queries); causal mask on top.
        if family == "mpt":
            bias = m * (j - (n - 1)).astype(np.float64)[None]
        else:
            bias = m * j.astype(np.float64)[None]
        allowed = np.broadcast_to(delta >= 0, (H, n, n))
    else:
        L, G, D = lam
        local = (delta >= 0) & (delta <= L - 1)
        start = (j < G) & (delta >= L)
        allowed = np.broadcast_to(local | start, (H, n, n))
        bias = np.where(local[None], -m * delta[None], 0.0) + np.where(start[None], -m * D, 0.0)
    s = np.where(allowed, s + bias, -np.inf)
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return (e / e.sum(axis=-1, keepdims=True)) @ v


def layer_norm(x, w, b, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)      # biased, as torch LayerNorm
    y = (x - mean) / np.sqrt(var + eps) * w
    return y if b is None else y + b


_erf = np.vectorize(math.erf)


def gelu_exact(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def gelu_bloom(x):
    return x * 0.5 * (1.0 + np.tanh(0.79788456 * x * (1.0 + 0.044715 * x * x)))


# --------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------

class MptRef:
    family = "mpt"

    def __init__(self, model_dir, cfg, w):
        self.cfg, self.w = cfg, w
        self.d = cfg["d_model"]
        self.H = cfg["n_heads"]
        self.hd = self.d // self.H
        self.n_layers = cfg["n_layers"]
        self.eps = float(cfg.get("layer_norm_epsilon", 1e-5))
        self.no_bias = cfg.get("no_bias", True)
        attn = cfg.get("attn_config") or {}
        for key in ("clip_qkv", "qk_ln", "prefix_lm"):
            if attn.get(key):
                raise ValueError("attn_config.%s is not supported" % key)
        if attn.get("alibi", True) is not True:
            raise ValueError("only ALiBi MPT models are supported")
        if cfg.get("logit_scale") is not None:
            raise ValueError("logit_scale is not supported")
        self.scale = attn.get("softmax_scale") or 1.0 / math.sqrt(self.hd)
        self.slopes = mpt_slopes(self.H, float(attn.get("alibi_bias_max", 8)))
        self.root = "transformer." if "transformer.wte.weight" in w else ""
        tied = cfg.get("tie_word_embeddings", True)
        self.head = w[self.root + "wte.weight"] if tied else w["lm_head.weight"]

    def _b(self, name):
        return None if self.no_bias else self.w[name]

    def _linear(self, x, prefix):
        y = x @ self.w[prefix + ".weight"].T
        b = self._b(prefix + ".bias")
        return y if b is None else y + b

    def forward(self, ids, lam=None):
        n, H, hd, d, w, r = len(ids), self.H, self.hd, self.d, self.w, self.root
        h = w[r + "wte.weight"][np.asarray(ids)]
        for i in range(self.n_layers):
            p = "%sblocks.%d." % (r, i)
            x = layer_norm(h, w[p + "norm_1.weight"], self._b(p + "norm_1.bias"), self.eps)
            qkv = self._linear(x, p + "attn.Wqkv")                   # [n, 3d]
            q, k, v = (qkv[:, t * d:(t + 1) * d].reshape(n, H, hd).transpose(1, 0, 2) for t in range(3))
            a = attention(q, k, v, self.slopes, self.scale, "mpt", lam).transpose(1, 0, 2).reshape(n, d)
            h = h + self._linear(a, p + "attn.out_proj")
            x = layer_norm(h, w[p + "norm_2.weight"], self._b(p + "norm_2.bias"), self.eps)
            h = h + self._linear(gelu_exact(self._linear(x, p + "ffn.up_proj")), p + "ffn.down_proj")
        h = layer_norm(h, w[r + "norm_f.weight"], self._b(r + "norm_f.bias"), self.eps)
        return h @ self.head.T


class BloomRef:
    family = "bloom"

    def __init__(self, model_dir, cfg, w):
        self.cfg, self.w = cfg, w
        self.d = cfg.get("n_embed") or cfg["hidden_size"]
        self.H = cfg.get("n_head") or cfg["num_attention_heads"]
        self.hd = self.d // self.H
        self.n_layers = cfg.get("n_layer") or cfg["num_hidden_layers"]
        self.eps = float(cfg.get("layer_norm_epsilon", 1e-5))
        if cfg.get("apply_residual_connection_post_layernorm"):
            raise ValueError("apply_residual_connection_post_layernorm is not supported")
        self.slopes = bloom_slopes(self.H)
        self.root = "transformer." if "transformer.word_embeddings.weight" in w else ""
        tied = cfg.get("tie_word_embeddings", True)
        self.head = w[self.root + "word_embeddings.weight"] if tied else w["lm_head.weight"]

    def _ln(self, x, prefix):
        return layer_norm(x, self.w[prefix + ".weight"], self.w[prefix + ".bias"], self.eps)

    def _linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def forward(self, ids, lam=None):
        n, H, hd, d, r = len(ids), self.H, self.hd, self.d, self.root
        h = self._ln(self.w[r + "word_embeddings.weight"][np.asarray(ids)], r + "word_embeddings_layernorm")
        for i in range(self.n_layers):
            p = "%sh.%d." % (r, i)
            x = self._ln(h, p + "input_layernorm")
            fused = self._linear(x, p + "self_attention.query_key_value").reshape(n, H, 3, hd)
            q, k, v = (fused[:, :, t, :].transpose(1, 0, 2) for t in range(3))
            a = attention(q, k, v, self.slopes, 1.0 / math.sqrt(hd), "bloom", lam).transpose(1, 0, 2).reshape(n, d)
            h = h + self._linear(a, p + "self_attention.dense")
            x = self._ln(h, p + "post_attention_layernorm")
            h = h + self._linear(gelu_bloom(self._linear(x, p + "mlp.dense_h_to_4h")), p + "mlp.dense_4h_to_h")
        h = self._ln(h, r + "ln_f")
        return h @ self.head.T


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    kind = cfg.get("model_type")
    cls = {"mpt": MptRef, "bloom": BloomRef}.get(kind)
    if cls is None:
        raise ValueError("model_type %r is not an ALiBi family this reference knows (mpt, bloom)" % kind)
    return cls(model_dir, cfg, load_weights(model_dir))


# --------------------------------------------------------------------------
# self-test: algorithms.md 7.4 (slopes and the Lambda + ALiBi row 9 vectors)
# --------------------------------------------------------------------------

def selftest():
    for n in (6, 8, 12, 32):
        assert np.allclose(mpt_slopes(n), bloom_slopes(n), rtol=0, atol=1e-15), n
    assert np.allclose(mpt_slopes(6), [0.25, 0.0625, 0.015625, 0.00390625, 0.5, 0.125])
    # One head, m = 0.5, n = 10, scores q.k / 2 on the common inputs, row 9.
    pos = np.arange(10)[:, None]
    c = np.arange(4)[None, :]
    q = np.sin(0.7 * pos + 1.3 * c + 0.1)[None]
    k = np.cos(0.5 * pos - 0.9 * c + 0.2)[None]
    v = (np.sin(0.3 * pos + 0.5 * c) + 0.1 * c)[None]
    slope = np.array([0.5])
    expected = {
        (4, 2, 4): [0.45462005, 0.40500158, 0.2807081, 0.13665445],
        None: [0.62676898, 0.42855131, 0.14989282, -0.11649768],
    }
    for lam, row in expected.items():
        for family in ("mpt", "bloom"):
            got = attention(q, k, v, slope, 0.5, family, lam)[0, 9]
            assert np.allclose(got, row, atol=5e-8), (lam, family, got)
    print("alibi_ref selftest: slopes (n = 6, 8, 12, 32) and algorithms.md 7.4 row 9 (efficient Lambda, vanilla) OK",
          file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="Hugging Face model folder (model_type mpt or bloom)")
    ap.add_argument("--ids", help="comma-separated token ids")
    ap.add_argument("--out", help="output JSON file")
    ap.add_argument("--lambda", dest="lam", help="LM-Infinite L,G,D (local window, starting tokens, distance limit)")
    ap.add_argument("--positions", choices=["all", "last"], default="all")
    ap.add_argument("--selftest", action="store_true", help="check the slope rules and algorithms.md 7.4")
    args = ap.parse_args(argv)
    if args.selftest:
        selftest()
        return
    if not (args.model and args.ids and args.out):
        ap.error("--model, --ids and --out are required")

    ids = [int(t) for t in args.ids.split(",") if t.strip()]
    lam = None
    if args.lam:
        lam = tuple(int(t) for t in args.lam.split(","))
        if len(lam) != 3 or lam[0] <= 0 or lam[1] < 0 or lam[2] < lam[0]:
            ap.error("--lambda needs L,G,D with L > 0, G >= 0, D >= L")
    model = load_model(args.model)
    logits = model.forward(ids, lam)
    if args.positions == "last":
        logits = logits[-1:]
    cls = {"mpt": "MptForCausalLM", "bloom": "BloomForCausalLM"}[model.family]
    gelu = {"mpt": "exact (erf)", "bloom": "tanh (bloom_gelu_forward)"}[model.family]
    mode = "" if lam is None else "; LM-Infinite Lambda mask, efficient-path ALiBi clipping, L=%d G=%d D=%d" % lam
    doc = {
        "source": SOURCE % (cls, model.family, gelu, mode),
        "model": os.path.basename(os.path.normpath(args.model)),
        "ids": ids,
        "positions": args.positions,
        "attention": {"mode": "vanilla"} if lam is None else {"mode": "lambda", "L": lam[0], "G": lam[1], "D": lam[2]},
        "logits": [[round_sig(v) for v in row] for row in logits],
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d position(s) x %d logits" % (args.out, len(doc["logits"]), logits.shape[1]), file=sys.stderr)


if __name__ == "__main__":
    main()
