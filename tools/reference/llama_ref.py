#!/usr/bin/python3
"""Independent NumPy float64 reference forward of Hugging Face LlamaForCausalLM.

Purpose: produce golden logits for LongLM's tests. It shares no code with the
.NET runtime and depends only on the Python standard library and NumPy (no torch,
no transformers, no safetensors package).

It mirrors transformers' modeling_llama (LlamaForCausalLM) for a single sequence
with positions 0..n-1 and no KV cache / padding:

  h = embed_tokens[ids]
  for each layer:
      x = RMSNorm(h; input_layernorm)            x * 1/sqrt(mean(x^2) + eps) * w
      q, k, v = x @ Wq.T (+bq), x @ Wk.T (+bk), x @ Wv.T (+bv)
      q, k = RoPE half-split (rotate_half), inv_freq = 1/theta^(arange(0,d,2)/d)
      k, v repeated to num_attention_heads (GQA repeat_kv)
      a = softmax(q k^T / sqrt(d) + causal mask) v
      h = h + a @ Wo.T (+bo)
      x = RMSNorm(h; post_attention_layernorm)
      h = h + down(silu(gate(x)) * up(x))        (biases if present)
  logits = RMSNorm(h; model.norm) @ lm_head.T     (lm_head = embed_tokens if tied/missing)

Biases are detected by tensor presence (Qwen2 has q/k/v biases but no
`attention_bias` key); `attention_bias` / `mlp_bias` true without the tensors is
an error.

rope_scaling: linear, llama3, and dynamic NTK (one call of n tokens: base' = base * ((f*n/L) - (f-1))^(d/(d-2))
for n > L for every row, as HF model(input_ids); see _inv_freq_for).

Usage:
  /usr/bin/python3 tools/reference/llama_ref.py --model DIR --ids 1,2,3 \
      --out FILE.json [--positions all|last|0,511,-1]
"""

import argparse
import json
import math
import os
import struct
import sys

import numpy as np

SOURCE = ("tools/reference/llama_ref.py, NumPy float64 forward of HF "
          "LlamaForCausalLM (transformers modeling_llama semantics: RMSNorm, "
          "rotate_half RoPE, GQA repeat_kv, causal softmax attention, SwiGLU MLP; "
          "weights read from safetensors and upcast to float64)")


# --------------------------------------------------------------------------
# safetensors (parsed by hand: u64 LE header length, JSON header, raw data)
# --------------------------------------------------------------------------

def _decode(raw, dtype, shape):
    if dtype == "F32":
        a = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        a = np.frombuffer(raw, dtype="<f2")
    elif dtype == "BF16":
        u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        a = u.view(np.float32)
    elif dtype == "F64":
        a = np.frombuffer(raw, dtype="<f8")
    else:
        raise ValueError("unsupported safetensors dtype %r" % dtype)
    return a.astype(np.float64).reshape(shape)


def read_safetensors(path):
    """Return {name: float64 ndarray} for every tensor in one .safetensors file."""
    out = {}
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen).decode("utf-8"))
        base = 8 + hlen
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            f.seek(base + start)
            raw = f.read(end - start)
            if len(raw) != end - start:
                raise ValueError("%s: truncated tensor %s" % (path, name))
            out[name] = _decode(raw, info["dtype"], tuple(info["shape"]))
    return out


def load_weights(model_dir):
    single = os.path.join(model_dir, "model.safetensors")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        w = {}
        for shard in sorted(set(weight_map.values())):
            w.update(read_safetensors(os.path.join(model_dir, shard)))
        missing = [k for k in weight_map if k not in w]
        if missing:
            raise ValueError("tensors listed in index but missing: %s" % missing[:5])
        return w
    raise FileNotFoundError("no model.safetensors or model.safetensors.index.json in %s" % model_dir)


# --------------------------------------------------------------------------
# model
# --------------------------------------------------------------------------

class LlamaRef:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            cfg = json.load(f)
        self.cfg = cfg
        self.w = load_weights(model_dir)

        self.hidden = cfg["hidden_size"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads") or self.n_heads
        self.head_dim = cfg.get("head_dim") or self.hidden // self.n_heads
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.theta = float(cfg.get("rope_theta", 10000.0))
        act = cfg.get("hidden_act", "silu")
        if act != "silu":
            raise ValueError("unsupported hidden_act %r" % act)
        if self.n_heads % self.n_kv:
            raise ValueError("num_attention_heads not a multiple of num_key_value_heads")

        w = self.w
        self.embed = w["model.embed_tokens.weight"]
        tied = cfg.get("tie_word_embeddings", False)
        if tied or "lm_head.weight" not in w:
            self.lm_head = self.embed
        else:
            self.lm_head = w["lm_head.weight"]

        # bias flags from config must be backed by tensors; presence enables them
        p0 = "model.layers.0."
        if cfg.get("attention_bias") and p0 + "self_attn.q_proj.bias" not in w:
            raise ValueError("attention_bias true but q_proj.bias tensor missing")
        if cfg.get("mlp_bias") and p0 + "mlp.gate_proj.bias" not in w:
            raise ValueError("mlp_bias true but gate_proj.bias tensor missing")

        self.inv_freq = self._inv_freq()

    def _inv_freq(self):
        d = self.head_dim
        inv = 1.0 / (self.theta ** (np.arange(0, d, 2, dtype=np.int64).astype(np.float64) / d))
        rs = self.cfg.get("rope_scaling")
        if not rs:
            return inv
        kind = rs.get("rope_type", rs.get("type"))
        if kind in (None, "default"):
            return inv
        if kind == "linear":
            return inv / float(rs["factor"])
        if kind == "dynamic":
            return inv   # at the trained length and below; longer calls: _inv_freq_for
        if kind == "llama3":
            factor = float(rs["factor"])
            low = float(rs["low_freq_factor"])
            high = float(rs["high_freq_factor"])
            old_ctx = float(rs["original_max_position_embeddings"])
            low_wl = old_ctx / low
            high_wl = old_ctx / high
            wavelen = 2 * math.pi / inv
            out = np.where(wavelen > low_wl, inv / factor, inv)
            smooth = (old_ctx / wavelen - low) / (high - low)
            smoothed = (1 - smooth) * out / factor + smooth * out
            medium = ~(wavelen < high_wl) & ~(wavelen > low_wl)
            return np.where(medium, smoothed, out)
        raise ValueError("unsupported rope_scaling %r" % rs)

    def _inv_freq_for(self, n):
        """The frequencies of one forward call of n tokens on an empty cache (positions 0..n-1).

        Dynamic NTK (HF _compute_dynamic_ntk_parameters, applied by dynamic_rope_update with seq_len =
        max(position_ids) + 1 = n): for n > L = max_position_embeddings, base' = base * ((f*n/L) - (f-1))^(d/(d-2)),
        and these frequencies rotate ALL n rows of the call; at n <= L plain RoPE. Other types do not depend on n."""
        rs = self.cfg.get("rope_scaling") or {}
        if rs.get("rope_type", rs.get("type")) != "dynamic":
            return self.inv_freq
        d = self.head_dim
        trained = int(self.cfg["max_position_embeddings"])
        factor = float(rs["factor"])
        seq = n if n > trained else trained
        base = self.theta * ((factor * seq / trained) - (factor - 1)) ** (d / (d - 2))
        return 1.0 / (base ** (np.arange(0, d, 2, dtype=np.int64).astype(np.float64) / d))

    def _opt(self, name):
        return self.w.get(name)

    def _linear(self, x, prefix):
        y = x @ self.w[prefix + ".weight"].T
        b = self._opt(prefix + ".bias")
        if b is not None:
            y = y + b
        return y

    def _rms(self, x, weight):
        var = np.mean(x * x, axis=-1, keepdims=True)
        return x * (1.0 / np.sqrt(var + self.eps)) * weight

    @staticmethod
    def _rotate_half(x):
        h = x.shape[-1] // 2
        return np.concatenate([-x[..., h:], x[..., :h]], axis=-1)

    def forward(self, ids, hidden=False):
        """Return float64 logits of shape [len(ids), vocab] (hidden: the final-norm hidden states [len(ids), hidden_size])."""
        ids = np.asarray(ids, dtype=np.int64)
        n = ids.shape[0]
        H, KV, D = self.n_heads, self.n_kv, self.head_dim
        rep = H // KV

        pos = np.arange(n, dtype=np.float64)
        freqs = np.outer(pos, self._inv_freq_for(n))        # [n, D/2]
        emb = np.concatenate([freqs, freqs], axis=-1)        # [n, D]
        cos, sin = np.cos(emb)[None], np.sin(emb)[None]      # [1, n, D]

        mask = np.triu(np.full((n, n), -np.inf), k=1)
        scale = 1.0 / math.sqrt(D)

        h = self.embed[ids]                                  # [n, hidden]
        for i in range(self.n_layers):
            p = "model.layers.%d." % i
            x = self._rms(h, self.w[p + "input_layernorm.weight"])
            q = self._linear(x, p + "self_attn.q_proj").reshape(n, H, D).transpose(1, 0, 2)
            k = self._linear(x, p + "self_attn.k_proj").reshape(n, KV, D).transpose(1, 0, 2)
            v = self._linear(x, p + "self_attn.v_proj").reshape(n, KV, D).transpose(1, 0, 2)
            q = q * cos + self._rotate_half(q) * sin
            k = k * cos + self._rotate_half(k) * sin
            k = np.repeat(k, rep, axis=0)                    # repeat_kv: head j uses kv j//rep
            v = np.repeat(v, rep, axis=0)
            s = (q @ k.transpose(0, 2, 1)) * scale + mask    # [H, n, n]
            s = s - s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            a = (e / e.sum(axis=-1, keepdims=True)) @ v      # [H, n, D]
            a = a.transpose(1, 0, 2).reshape(n, H * D)
            h = h + self._linear(a, p + "self_attn.o_proj")

            x = self._rms(h, self.w[p + "post_attention_layernorm.weight"])
            g = self._linear(x, p + "mlp.gate_proj")
            u = self._linear(x, p + "mlp.up_proj")
            h = h + self._linear(g / (1.0 + np.exp(-g)) * u, p + "mlp.down_proj")

        h = self._rms(h, self.w["model.norm.weight"])
        return h if hidden else h @ self.lm_head.T


def round_sig(x, sig=7):
    return float("%.*g" % (sig, x))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face model folder")
    ap.add_argument("--ids", required=True, help="comma-separated token ids")
    ap.add_argument("--out", required=True, help="output JSON file")
    ap.add_argument("--positions", default="all",
                    help="all, last, or comma-separated rows (negative = from the end; written as \"rows\")")
    ap.add_argument("--mean-hidden", action="store_true",
                    help="write the mean over the ids of the final-norm hidden states (embeddings, mean pooling) instead of logits")
    args = ap.parse_args(argv)

    ids = [int(t) for t in args.ids.split(",") if t.strip()]
    model = LlamaRef(args.model)
    if args.mean_hidden:
        mean = model.forward(ids, hidden=True).mean(axis=0)
        doc = {"source": SOURCE + "; mean over tokens of the final RMSNorm output", "model": os.path.basename(os.path.normpath(args.model)),
               "ids": ids, "mean_hidden": [round_sig(v) for v in mean]}
        with open(args.out, "w") as f:
            json.dump(doc, f, separators=(",", ":"))
            f.write("\n")
        print("wrote %s: mean hidden state of %d ids (%d floats)" % (args.out, len(ids), mean.shape[0]), file=sys.stderr)
        return
    logits = model.forward(ids)
    rows = None
    if args.positions == "last":
        logits = logits[-1:]
    elif args.positions != "all":
        rows = sorted({int(r) + (len(ids) if int(r) < 0 else 0) for r in args.positions.split(",")})
        if rows[0] < 0 or rows[-1] >= len(ids):
            raise SystemExit("--positions: rows outside [0, %d)" % len(ids))
        logits = logits[rows]
    doc = {
        "source": SOURCE,
        "model": os.path.basename(os.path.normpath(args.model)),
        "ids": ids,
        "positions": args.positions if rows is None else "rows",
    }
    if rows is not None:
        doc["rows"] = rows
    doc["logits"] = [[round_sig(v) for v in row] for row in logits]
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d position(s) x %d logits" % (args.out, len(doc["logits"]), logits.shape[1]),
          file=sys.stderr)


if __name__ == "__main__":
    main()
