#!/usr/bin/python3
"""Independent float64 reference for Hugging Face's rope_scaling methods (NumPy only).

Written from the formulas of transformers' modeling_rope_utils.py (ROPE_INIT_FUNCTIONS):
default, linear, dynamic (dynamic NTK), yarn and llama3. It shares no code with the .NET
runtime. Each function takes the config.json fields it needs and returns
(inv_freq as float64 array of length d/2, attention_factor).

    /usr/bin/python3 tools/reference/rope_scaling_ref.py --out tests/LongLM.Tests/golden/rope_scaling.json

Notes on HF itself (not reproduced here on purpose):
* HF evaluates base ** (arange(0, d, 2) / d) in float32 torch, so its inv_freq differs from
  these float64 values by up to ~1e-6 relative; the golden file holds the exact (float64) values.
* yarn, transformers 4.4x-4.5x: when rope_scaling has original_max_position_embeddings, `factor`
  was replaced by max_position_embeddings / original_max_position_embeddings. Current HF (5.x)
  uses `factor` as written and falls back to that ratio only when factor is missing. The golden
  cases below keep max_position_embeddings = factor * original so both versions agree.
"""

import argparse
import json
import math

import numpy as np


def base_inv_freq(base, d):
    # theta_k = base^(-2k/d), k = 0 .. d/2-1
    k = np.arange(d // 2, dtype=np.float64)
    return 1.0 / base ** (2.0 * k / d)


def rope_default(base, d, max_pos, scaling, seq_len):
    return base_inv_freq(base, d), 1.0


def rope_linear(base, d, max_pos, scaling, seq_len):
    return base_inv_freq(base, d) / scaling["factor"], 1.0


def rope_dynamic(base, d, max_pos, scaling, seq_len):
    factor = scaling["factor"]
    s = max(seq_len, max_pos)  # at or below the trained length: the base frequencies
    new_base = base * ((factor * s / max_pos) - (factor - 1)) ** (d / (d - 2))
    return base_inv_freq(new_base, d), 1.0


def mscale_of(scale, m=1.0):
    # YaRN's attention temperature sqrt(1/t) = 0.1 ln(s) + 1 (HF get_mscale)
    return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0


def rope_yarn(base, d, max_pos, scaling, seq_len):
    original = scaling.get("original_max_position_embeddings") or max_pos
    factor = scaling.get("factor")
    if factor is None:
        factor = max_pos / original
    attention = scaling.get("attention_factor")
    if attention is None:
        ms, ms_all = scaling.get("mscale"), scaling.get("mscale_all_dim")
        if ms and ms_all:
            attention = mscale_of(factor, ms) / mscale_of(factor, ms_all)
        else:
            attention = mscale_of(factor)
    beta_fast = scaling.get("beta_fast") or 32
    beta_slow = scaling.get("beta_slow") or 1
    truncate = scaling.get("truncate", True)

    def correction_dim(rotations):
        # the pair index whose wavelength fits `rotations` turns into the original context
        return d * math.log(original / (rotations * 2 * math.pi)) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if truncate:
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, d - 1)
    if low == high:
        high += 0.001
    ramp = np.clip((np.arange(d // 2, dtype=np.float64) - low) / (high - low), 0.0, 1.0)
    extrapolation_factor = 1.0 - ramp
    extrapolation = base_inv_freq(base, d)
    interpolation = extrapolation / factor
    inv = interpolation * (1.0 - extrapolation_factor) + extrapolation * extrapolation_factor
    return inv, float(attention)


def rope_llama3(base, d, max_pos, scaling, seq_len):
    factor = scaling["factor"]
    low_f, high_f = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_len = scaling.get("original_max_position_embeddings") or max_pos
    low_wavelen, high_wavelen = old_len / low_f, old_len / high_f
    inv = base_inv_freq(base, d)
    out = np.empty_like(inv)
    for k, theta in enumerate(inv):
        wavelen = 2 * math.pi / theta
        # HF tests "longer than low_freq_wavelen" first, then "shorter than high_freq_wavelen"
        # (the order only matters for a degenerate config with high_freq_factor < low_freq_factor).
        if wavelen > low_wavelen:
            out[k] = theta / factor
        elif wavelen < high_wavelen:
            out[k] = theta
        else:
            smooth = (old_len / wavelen - low_f) / (high_f - low_f)
            out[k] = (1 - smooth) * theta / factor + smooth * theta
    return out, 1.0


METHODS = {"default": rope_default, "linear": rope_linear, "dynamic": rope_dynamic,
           "yarn": rope_yarn, "llama3": rope_llama3}

# (name, head_dim, rope_theta, max_position_embeddings, rope_scaling or None, sequence length)
CASES = [
    ("default_d128_base1e4", 128, 1e4, 4096, None, 4096),
    ("linear4_d64_base1e4", 64, 1e4, 2048, {"type": "linear", "factor": 4.0}, 2048),
    ("linear4_d128_base5e5", 128, 5e5, 8192, {"rope_type": "linear", "factor": 4.0}, 100),
    ("dynamic4_d128_base1e4_S=L", 128, 1e4, 2048, {"type": "dynamic", "factor": 4.0}, 2048),
    ("dynamic4_d128_base1e4_S=3L", 128, 1e4, 2048, {"type": "dynamic", "factor": 4.0}, 6144),
    ("dynamic4_d64_base5e5_S=3L", 64, 5e5, 4096, {"rope_type": "dynamic", "factor": 4.0}, 12288),
    ("dynamic2_d64_base1e4_S=L+1", 64, 1e4, 4096, {"rope_type": "dynamic", "factor": 2.0}, 4097),
    ("yarn4_d128_base1e4_orig2048", 128, 1e4, 8192,
     {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048}, 8192),
    ("yarn4_d64_base5e5_noorig", 64, 5e5, 4096, {"type": "yarn", "factor": 4.0}, 4096),
    ("yarn40_d64_base1e4_mscale", 64, 1e4, 163840,
     {"rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096, "beta_fast": 32,
      "beta_slow": 1, "mscale": 1.0, "mscale_all_dim": 0.707}, 163840),
    ("yarn8_d128_base1e4_betas", 128, 1e4, 16384,
     {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 2048, "beta_fast": 16.0,
      "beta_slow": 2.0}, 16384),
    ("yarn32_d64_base150000_notruncate", 64, 150000.0, 131072,
     {"rope_type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096, "beta_fast": 32.0,
      "beta_slow": 1.0, "truncate": False}, 131072),
    ("yarn4_d64_base1e4_attention_factor", 64, 1e4, 8192,
     {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 2048,
      "attention_factor": 1.25}, 8192),
    ("llama3_8_d128_base5e5", 128, 5e5, 131072,
     {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192}, 131072),
    ("llama3_32_d64_base5e5", 64, 5e5, 131072,
     {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 8192}, 131072),
]


def config_json(head_dim, theta, max_pos, scaling):
    # A minimal Llama config.json; heads * head_dim = hidden_size.
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32,
              "hidden_size": 2 * head_dim, "intermediate_size": 4 * head_dim, "num_hidden_layers": 1,
              "num_attention_heads": 2, "num_key_value_heads": 2, "max_position_embeddings": max_pos,
              "rope_theta": theta}
    if scaling is not None:
        config["rope_scaling"] = scaling
    return config


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    cases = []
    for name, head_dim, theta, max_pos, scaling, seq_len in CASES:
        kind = "default" if scaling is None else scaling.get("rope_type", scaling.get("type"))
        inv, attention = METHODS[kind](theta, head_dim, max_pos, scaling or {}, seq_len)
        cases.append({
            "name": name,
            "config": config_json(head_dim, theta, max_pos, scaling),
            "sequence_length": seq_len,
            "inv_freq": [float("%.17g" % x) for x in inv],
            "attention_factor": float("%.17g" % attention),
        })
    with open(args.out, "w") as f:
        json.dump({"source": "tools/reference/rope_scaling_ref.py (NumPy float64, HF modeling_rope_utils formulas)",
                   "cases": cases}, f, indent=1)
        f.write("\n")
    print("wrote %d cases to %s" % (len(cases), args.out))


if __name__ == "__main__":
    main()
