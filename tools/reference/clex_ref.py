#!/usr/bin/python3
"""Independent NumPy reference for CLEX on a Llama model (golden logits for LongLM's tests).

CLEX (algorithms.md section 3) re-derived from the text, sharing no code with the .NET runtime:

* the ODE (3.2): dz/dt = act((z + ln th_ntk(t)) @ W_up) @ W_down + xi(t), with the NTK time embedding
  th_ntk_k(t) = (B * a^(d/(d-2)))^(-2k/d), a = 2t-1 (1 for t < 1), B = 10000 always (not rope_theta), and
  xi = d/dt ln th_ntk = -4k/((d-2) a) (the closed forms; --selftest checks them against the reference's
  delta_ntk / ntk_inv_freq spelling); row vector x matrix, no transpose, no bias;
* torchdiffeq's fixed-grid "rk4" (3/8 rule) with step time_dt on the float32 grid t_k = float32(k*dt) + 1, last
  point overwritten with t_end, outputs at t = 1..max_factor by linear interpolation (3.3); z(1) = ln(inv_freq);
* t = min(ceil(S / L_tr), max_factor) with S the total length after the call; t = 1 uses the stored inv_freq,
  t > 1 exp(z(t)) rounded to float32 (the reference caches float32 frequencies) (3.4);
* log scaling (3.5) when on (config.json's log_scale, or --log-scale on): the query after RoPE times
  bf16(bf16(ln_f32 K) / bf16(ln_f32 L_tr)) with K = S, one factor per call for all of the call's rows.

What a "call" is decides every number past L_tr, so the script names the semantics of each mode:

* ONE-CALL (--single): HF model(input_ids) on S tokens. One forward on an empty cache, so ALL S rows use t(S) and
  (log scaling on) the factor of K = S. This is what LongLM's one logical forward call (LanguageModel.Logits, one
  prompt prefill, one decode step) must give whatever internal chunk size it uses.
* INCREMENTAL (--decode, --ppl, --greedy): consecutive calls sharing a raw (un-rotated) K/V cache per layer (3.4).
  Each call runs only its new tokens (their hidden states computed with this call's t and factor) and re-rotates
  ALL cached keys 0..S-1 with this call's t; queries at their absolute positions. --decode: a prefill call, then
  one-token calls; --ppl: CLEX's chunked evaluation (3.7), calls of CHUNK tokens, scored as LongLM's ppl;
  --greedy: HF generate, the prompt in one prefill call, then one call per generated token.

Precision: the forward is float64 (weights upcast). The ODE runs in float32 by default (--ode f32, the reference's
precision, with a fixed rounding model: see ClexOde) or in float64 (--ode f64); the two sets of frequencies differ
by up to ~1e-5 relative, which moves the logits at t >= 2 by up to ~4e-4 on stories260K (README.md). RoPE angles
are pos * freq in float64 with the float32 frequencies, like LongLM's runtime; torch forms float32(pos) * freq in
float32, which differs by up to ~6e-8 * pos rad (6e-5 rad at pos 1024).

The Llama pieces (safetensors reader, RMSNorm, projections, rotate_half, SwiGLU) come from llama_ref.py.

Usage:
  clex_ref.py --model DIR --single 512,513,1025 --out F.json [--rows 0,511,-1] [--nll] [--log-scale on]
                                                one call of the first S ids each (one-call semantics)
  clex_ref.py --model DIR --decode 508,8 --out F.json [--log-scale both]      prefill 508, then 8 one-token calls
  clex_ref.py --model DIR --ppl 1025:1025,2000:512 --ids-file IDS.json --out F.json [--log-scale both]
  clex_ref.py --model DIR --greedy 24 --ids-file PROMPT.json --out F.json [--log-scale both]
  clex_ref.py --selftest                                                      algorithms.md 7.5 / 7.7 vectors
Ids: --ids-file's "ids" (e.g. `longlm tokenize --json`), else 1 (BOS), then 3 + SplitMix64(--ids-seed).next() % 509,
i.e. in [3, 512). The wrong variants each mode prints to stderr (t = 1 frequencies, calls of L_tr tokens instead of
one call, no log scaling, stale keys, ...) measure what the golden values discriminate.
"""

import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_ref import LlamaRef, round_sig  # noqa: E402  (safetensors reader + Llama layers)

SOURCE = ("tools/reference/clex_ref.py: NumPy float64 Llama forward (llama_ref.py layers) with CLEX re-derived from "
          "algorithms.md 3.2-3.5: NTK time embedding base 1e4, torchdiffeq rk4 (3/8 rule) on the float32 grid, "
          "integer t = min(ceil(S/L_tr), max_factor) and log factor ln(S)/ln(L_tr) per forward call (S = total "
          "length after the call), t=1 = stored inv_freq, raw K/V cache re-rotated with each call's t")

TIME_BASE = 10000.0
MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

class SplitMix64:
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)


def make_ids(count, seed, vocab=512):
    r = SplitMix64(seed)
    return [1] + [3 + r.next() % (vocab - 3) for _ in range(count - 1)]


def bf16(x):
    """float32 -> bf16 (round to nearest even) -> float32."""
    u = np.asarray(x, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32).reshape(np.shape(x))


def log_factor(keys, trained):
    """CLEX's ln(K)/ln(L_tr): logs in float32, each cast to bf16, the quotient in bf16 (3.5)."""
    num = bf16(np.log(np.float32(keys)))
    den = bf16(np.log(np.float32(trained)))
    return float(bf16(np.float32(num) / np.float32(den)))


def select_t(total, trained, max_factor):
    t = total // trained + (1 if total % trained else 0)
    return min(t, max_factor)


# --------------------------------------------------------------------------
# the ODE (3.2, 3.3)
# --------------------------------------------------------------------------

class ClexOde:
    """The CLEX vector field and torchdiffeq's fixed-grid rk4 in one of two precisions.

    "f64": everything in float64 (the exact solution up to the RK4 truncation, ~1e-10).
    "f32": the reference's precision, float32 throughout in the order the reference writes the operations: the state,
    the weights, u = z + ln th_ntk, the row-vector x matrix sums (taken in index order, one rounding per multiply and
    per add, no FMA), the RK4 stages and the update. Each transcendental (tanh, exp, log) and each time term
    (ln th_ntk, xi from their closed forms) is evaluated in float64 and rounded once to float32, i.e. correctly
    rounded. torch rounds those through its own float32 kernels (pow for the time terms, BLAS for the products), which
    can differ by an ulp now and then; the frequencies then move by ~1e-7..1e-6 relative (see README)."""

    def __init__(self, up, down, d, act, precision="f64", base=TIME_BASE):
        if precision not in ("f64", "f32"):
            raise ValueError("precision must be f64 or f32")
        if act not in ("tanh", "silu"):
            raise ValueError("act must be tanh or silu, not %r" % act)
        self.f32 = precision == "f32"
        self.T = np.float32 if self.f32 else np.float64
        self.up = np.asarray(up, dtype=np.float64).astype(self.T)       # [m, hidden]
        self.down = np.asarray(down, dtype=np.float64).astype(self.T)   # [hidden, m]
        self.d = d
        self.base = base
        self.act = act

    def _once(self, x):
        """A float64 value rounded once to the working precision."""
        return np.asarray(x, dtype=np.float64).astype(self.T)

    def time_terms(self, t):
        """(ln th_ntk_k(t), xi_k(t)) from the closed forms of 3.2: ln th_ntk_k = -(2k/d) ln B - (2k/(d-2)) ln a,
        xi_k = -4k / ((d-2) a), a = 2t-1 (1 for t < 1); see time_embedding_literal for the reference's own spelling."""
        d = self.d
        alpha = 1.0 if float(t) < 1 else 2.0 * float(t) - 1.0
        idx = np.arange(0, d, 2, dtype=np.float64)
        ln_ntk = -(idx / d) * math.log(self.base) - idx / (d - 2) * math.log(alpha)
        xi = -2.0 * idx / (d - 2) / alpha
        return self._once(ln_ntk), self._once(xi)

    def _matvec(self, x, w):
        """Row vector x times matrix w."""
        if not self.f32:
            return x @ w
        acc = np.zeros(w.shape[1], dtype=np.float32)
        for i in range(w.shape[0]):
            acc = w[i] * x[i] + acc          # float32 product, then float32 add
        return acc

    def _activate(self, x):
        if self.act == "tanh":
            return self._once(np.tanh(np.asarray(x, dtype=np.float64)))
        e = self._once(np.exp(-np.asarray(x, dtype=np.float64)))
        return x / (self.T(1) + e)

    def g(self, t, z):
        ln_ntk, xi = self.time_terms(t)
        u = z + ln_ntk
        return self._matvec(self._activate(self._matvec(u, self.up)), self.down) + xi

    @staticmethod
    def grid(start, end, step):
        """torchdiffeq FixedGridODESolver._grid_constructor, float32."""
        start, end, step = np.float32(start), np.float32(end), np.float32(step)
        n = int(math.ceil(float((end - start) / step + np.float32(1))))
        g = np.arange(0, n).astype(np.float32) * step + start
        g[-1] = end
        return g

    def solve(self, z0, times, step):
        """z at each of times (float32 values, increasing, times[0] the start) with rk4 (3/8 rule)."""
        T = self.T
        times = np.asarray(times, dtype=np.float32)
        grid = self.grid(times[0], times[-1], step)
        y0 = np.asarray(z0, dtype=np.float64).astype(T)
        out = [y0.copy()]
        j = 1
        third, two_thirds = T(1) / T(3), T(2) / T(3)
        for a, b in zip(grid[:-1], grid[1:]):
            if j >= len(times):
                break
            t0, t1 = T(a), T(b)
            dt = t1 - t0   # exact in float32 too (Sterbenz), as torch forms it
            k1 = self.g(t0, y0)
            k2 = self.g(t0 + dt * third, y0 + dt * k1 * third)
            k3 = self.g(t0 + dt * two_thirds, y0 + dt * (k2 - k1 * third))
            k4 = self.g(t1, y0 + dt * (k1 - k2 + k3))
            y1 = y0 + (k1 + T(3) * (k2 + k3) + k4) * dt * T(0.125)
            while j < len(times) and b >= times[j]:
                tj = T(times[j])
                if tj == t0:
                    out.append(y0.copy())
                elif tj == t1:
                    out.append(y1.copy())
                else:
                    out.append(y0 + (tj - t0) / (t1 - t0) * (y1 - y0))
                j += 1
            y0 = y1
        return out


def time_embedding_literal(t, d, base=TIME_BASE):
    """The reference's get_time_embedding as written (delta_ntk, ntk_inv_freq), float64; xi = delta / theta."""
    alpha = 1.0 if t < 1 else 2.0 * t - 1.0
    idx = np.arange(0, d, 2, dtype=np.float64)
    ntk_base = base * alpha ** (d / (d - 2))
    ntk_inv_freq = 1.0 / (ntk_base ** (idx / d))
    delta = -2 * idx / (d - 2) * (1.0 / (base ** (idx / d) * alpha ** (idx / (d - 2) + 1)))
    return delta, ntk_inv_freq


def clex_frequencies(inv_freq32, up, down, act, time_dt, max_factor, precision="f32"):
    """{t: float32 frequencies} for t = 1..max_factor: t = 1 the stored inv_freq, t > 1 float32(exp(z(t))),
    z(1) = ln(inv_freq) (rounded once to the ODE's precision)."""
    d = 2 * len(inv_freq32)
    freqs = {1: np.asarray(inv_freq32, dtype=np.float32)}
    if max_factor > 1:
        ode = ClexOde(up, down, d, act, precision=precision)
        z0 = ode._once(np.log(np.asarray(inv_freq32, dtype=np.float64)))
        zs = ode.solve(z0, np.arange(1, max_factor + 1, dtype=np.float32), time_dt)
        for t in range(2, max_factor + 1):
            freqs[t] = np.exp(zs[t - 1].astype(np.float64)).astype(np.float32)
    return freqs


def xi_only(inv_freq, t):
    """Closed form with W_down = 0: z_k(t) = ln inv_freq_k - (2k/(d-2)) ln(2t-1)."""
    m = len(inv_freq)
    d = 2 * m
    k = np.arange(m, dtype=np.float64)
    return np.log(np.asarray(inv_freq, dtype=np.float64)) - 2 * k / (d - 2) * math.log(2 * t - 1)


# --------------------------------------------------------------------------
# the model (3.4, 3.5)
# --------------------------------------------------------------------------

class ClexLlama(LlamaRef):
    def __init__(self, model_dir, ode="f32", extend=False):
        self.ode = ode
        self.extend = extend   # past L_tr * max_factor: keep t = max_factor (LongLM's --clex-extend) instead of failing
        super().__init__(model_dir)

    def _inv_freq(self):
        rs = self.cfg.get("rope_scaling") or {}
        if rs.get("type", rs.get("rope_type")) != "clex":
            raise ValueError("rope_scaling type is not clex: %r" % rs)
        self.max_factor = int(rs["max_factor"])
        self.param_factor = rs.get("param_factor", 1)
        self.act = rs.get("act", "silu")
        self.time_dt = float(rs.get("time_dt", 0.01))
        self.trained = int(self.cfg["max_position_embeddings"])
        self.log_scale = bool(self.cfg.get("log_scale", False))
        m = self.head_dim // 2
        inv = self.w["model.clex_layer.inv_freq"]
        up = self.w["model.clex_layer.proj_func.ode_up_proj"]
        down = self.w["model.clex_layer.proj_func.ode_down_proj"]
        hidden = int(self.param_factor * self.head_dim)
        if inv.shape != (m,) or up.shape != (m, hidden) or down.shape != (hidden, m):
            raise ValueError("CLEX tensor shapes %s %s %s, expected [%d] [%d,%d] [%d,%d]"
                             % (inv.shape, up.shape, down.shape, m, m, hidden, hidden, m))
        self.clex_inv_freq = inv.astype(np.float32)   # stored F32: exact
        self.clex_up, self.clex_down = up, down
        self.freqs_by = {p: clex_frequencies(self.clex_inv_freq, up, down, self.act, self.time_dt, self.max_factor, p)
                         for p in ("f32", "f64")}
        self.freqs = self.freqs_by[self.ode]
        return self.freqs[1].astype(np.float64)

    def new_cache(self):
        return {"n": 0, "k": [None] * self.n_layers, "v": [None] * self.n_layers, "k_rot": [None] * self.n_layers}

    def _cos_sin(self, positions, freq):
        ang = np.outer(positions.astype(np.float64), freq.astype(np.float64))
        emb = np.concatenate([ang, ang], axis=-1)
        return np.cos(emb)[None], np.sin(emb)[None]

    def forward_call(self, ids, cache, log_scale=None, stale_keys=False, freqs=None):
        """ONE logical forward call (one HF model(...) call): runs the new tokens `ids` on top of `cache` (updated in
        place) and returns (float64 logits of the new rows, t).

        Everything that CLEX derives per call is derived here, once, from S = cache length + len(ids), the total length
        after the call: t = min(ceil(S/L_tr), max_factor) for every new row and for the re-rotation of every cached key,
        and (log scaling on) the bf16 factor ln(K)/ln(L_tr) with K = S on every new query row. A call of S tokens on an
        empty cache is therefore HF's model(input_ids) (see one_call); a sequence of calls is incremental (see calls).

        log_scale: None follows config.json's log_scale. stale_keys=True is a deliberately wrong variant (each key keeps
        the frequencies of the call that added it) used only to measure how much the re-rotation matters. freqs
        replaces the frequency table ({t: float32 array}) to measure other wrong variants."""
        ids = np.asarray(ids, dtype=np.int64)
        n = ids.shape[0]
        past = cache["n"]
        S = past + n
        if S > self.trained * self.max_factor and not self.extend:
            raise ValueError("S = %d is past L_tr * max_factor = %d (the reference fails there)"
                             % (S, self.trained * self.max_factor))
        t = select_t(S, self.trained, self.max_factor)
        freq = (freqs or self.freqs)[t]
        H, KV, D = self.n_heads, self.n_kv, self.head_dim
        rep = H // KV
        cos_all, sin_all = self._cos_sin(np.arange(S), freq)
        cos_q, sin_q = cos_all[:, past:S], sin_all[:, past:S]
        qpos = np.arange(past, S)[:, None]
        kpos = np.arange(S)[None, :]
        mask = np.where(kpos <= qpos, 0.0, -np.inf)
        scale = 1.0 / math.sqrt(D)
        use_log = self.log_scale if log_scale is None else log_scale
        qfac = log_factor(S, self.trained) if use_log else 1.0

        h = self.embed[ids]
        for i in range(self.n_layers):
            p = "model.layers.%d." % i
            x = self._rms(h, self.w[p + "input_layernorm.weight"])
            q = self._linear(x, p + "self_attn.q_proj").reshape(n, H, D).transpose(1, 0, 2)
            k = self._linear(x, p + "self_attn.k_proj").reshape(n, KV, D).transpose(1, 0, 2)
            v = self._linear(x, p + "self_attn.v_proj").reshape(n, KV, D).transpose(1, 0, 2)
            # raw cache: append un-rotated keys, then rotate every key 0..S-1 with this call's t
            cache["k"][i] = k if cache["k"][i] is None else np.concatenate([cache["k"][i], k], axis=1)
            cache["v"][i] = v if cache["v"][i] is None else np.concatenate([cache["v"][i], v], axis=1)
            if stale_keys:
                k_new = k * cos_q + self._rotate_half(k) * sin_q
                old = cache["k_rot"][i]
                cache["k_rot"][i] = k_new if old is None else np.concatenate([old, k_new], axis=1)
                kr = cache["k_rot"][i]
            else:
                kk = cache["k"][i]
                kr = kk * cos_all + self._rotate_half(kk) * sin_all
            qr = (q * cos_q + self._rotate_half(q) * sin_q) * qfac
            kr = np.repeat(kr, rep, axis=0)
            vv = np.repeat(cache["v"][i], rep, axis=0)
            s = (qr @ kr.transpose(0, 2, 1)) * scale + mask
            s = s - s.max(axis=-1, keepdims=True)
            e = np.exp(s)
            a = (e / e.sum(axis=-1, keepdims=True)) @ vv
            a = a.transpose(1, 0, 2).reshape(n, H * D)
            h = h + self._linear(a, p + "self_attn.o_proj")
            x = self._rms(h, self.w[p + "post_attention_layernorm.weight"])
            g = self._linear(x, p + "mlp.gate_proj")
            u = self._linear(x, p + "mlp.up_proj")
            h = h + self._linear(g / (1.0 + np.exp(-g)) * u, p + "mlp.down_proj")
        cache["n"] = S
        h = self._rms(h, self.w["model.norm.weight"])
        return h @ self.lm_head.T, t

    def one_call(self, ids, log_scale=None, freqs=None):
        """ONE-CALL semantics, HF model(input_ids): all of `ids` (S tokens) in one call on an empty cache, so every row
        uses t(S) and (log scaling on) the factor of K = S. Returns (logits [S, vocab], t)."""
        return self.forward_call(ids, self.new_cache(), log_scale=log_scale, freqs=freqs)

    def calls(self, ids, schedule, log_scale=None, **variant):
        """INCREMENTAL semantics: consecutive calls of schedule[i] tokens sharing one cache (a prompt prefill and then
        decode steps, or CLEX's chunked evaluation, algorithms.md 3.7); each call has its own t and log factor from its
        own S. Yields (logits of the call's rows, t, S) per call."""
        cache = self.new_cache()
        pos = 0
        for c in schedule:
            logits, t = self.forward_call(ids[pos:pos + c], cache, log_scale=log_scale, **variant)
            pos += c
            yield logits, t, pos


# --------------------------------------------------------------------------
# golden files
# --------------------------------------------------------------------------

def _row(values, sig=7):
    return [round_sig(v, sig) for v in values]


def load_ids(args, count=None):
    """--ids-file's "ids" (e.g. `longlm tokenize --json`), or the SplitMix64 rule; the first `count` of them."""
    if args.ids_file:
        with open(args.ids_file) as f:
            ids = [int(i) for i in json.load(f)["ids"]]
        if count is not None:
            if len(ids) < count:
                raise SystemExit("%s holds %d ids, %d needed" % (args.ids_file, len(ids), count))
            ids = ids[:count]
        return ids
    if count is None:
        raise SystemExit("this mode needs --ids-file")
    return make_ids(count, args.ids_seed)


def log_scales(args, model, allow_both):
    """The log_scale value(s) of --log-scale: config = config.json's log_scale."""
    if args.log_scale == "both":
        if not allow_both:
            raise SystemExit("--log-scale both is for the multi-call modes (--decode, --ppl, --greedy); --single takes one")
        return [False, True]
    return [{"config": model.log_scale, "off": False, "on": True}[args.log_scale]]


def parse_rows(spec, S, stride):
    """--rows: comma-separated row indices (negative counts from the end; rows outside [0, S) are dropped);
    default: the rows r with r % stride == 0 and the last row."""
    if spec is None:
        return sorted(set(range(0, S, stride)) | {S - 1})
    rows = set()
    for part in spec.split(","):
        r = int(part)
        r = r + S if r < 0 else r
        if 0 <= r < S:
            rows.add(r)
    return sorted(rows)


def nll_rows(logits, ids):
    """-log softmax(logits[r])[ids[r + 1]] for r = 0 .. len(ids) - 2, float64 (row r scores position r + 1)."""
    x = np.asarray(logits[:len(ids) - 1], dtype=np.float64)
    m = x.max(axis=-1)
    lse = m + np.log(np.exp(x - m[:, None]).sum(axis=-1))
    return lse - x[np.arange(len(x)), np.asarray(ids[1:], dtype=np.int64)]


def bucket_start(p):
    """LongLM's ppl buckets: [1, 512), [512, 1024), [1024, 2048), then doubling."""
    return 1 if p < 512 else 1 << (p.bit_length() - 1)


def chunk_schedule(count, chunk):
    return [chunk] * (count // chunk) + ([count % chunk] if count % chunk else [])


def _model_doc(model, args, ids_count=None):
    if args.ids_file:
        rule = "ids from %s%s" % (os.path.basename(args.ids_file), ": " + args.ids_note if args.ids_note else "")
    else:
        rule = "ids[0] = 1 (BOS); ids[i] = 3 + SplitMix64(%d).next() %% 509 for i >= 1" % args.ids_seed
    return {
        "source": SOURCE,
        "model": os.path.basename(os.path.normpath(args.model)),
        "fixture": args.fixture,
        "rope_scaling": model.cfg["rope_scaling"],
        "trained_length": model.trained,
        "ids_rule": rule,
    }


def run_single(model, args):
    """ONE-CALL golden: each S is one forward of the first S ids on an empty cache (HF model(input_ids).logits)."""
    lengths = [int(s) for s in args.single.split(",")]
    ids = load_ids(args, max(lengths))
    (use_log,) = log_scales(args, model, allow_both=False)
    doc = _model_doc(model, args)
    doc["ids"] = ids
    doc["semantics"] = ("one-call: each case is ONE forward of the first S ids on an empty cache (HF model(input_ids)); "
                        "every row uses t = min(ceil(S/L_tr), max_factor)"
                        + (" and the query log factor of K = S (bf16 ln(S)/ln(L_tr))" if use_log else ""))
    doc["log_scale"] = use_log
    doc["row_rule"] = ("rows %s (negative = from the end)" % args.rows if args.rows
                       else "rows r with r %% %d == 0, and the last row" % args.row_stride)
    if args.nll:
        doc["nll_rule"] = "nll[r] = -log softmax(row r)[ids[r + 1]] for r = 0 .. S-2 (float64); nll_mean = their mean"
    doc["frequencies"] = {str(t): [float(f) for f in model.freqs[t]] for t in sorted(model.freqs)}
    doc["frequencies_f64"] = {str(t): [float(f) for f in model.freqs_by["f64"][t]] for t in sorted(model.freqs)}
    doc["cases"] = []
    xi_freqs = {}
    for t in range(2, model.max_factor + 1):
        z_xi = xi_only(model.clex_inv_freq, t)
        xi_freqs[t] = np.exp(z_xi).astype(np.float32)
        if t <= 3:
            z = np.log(model.freqs[t].astype(np.float64))
            print("z(%d) - xi-only z(%d): max |diff| %.4g" % (t, t, np.abs(z - z_xi).max()), file=sys.stderr)
    other = "f64" if model.ode == "f32" else "f32"
    for S in lengths:
        logits, t = model.one_call(ids[:S], log_scale=use_log)
        rows = parse_rows(args.rows, S, args.row_stride)
        case = {"S": S, "t": t}
        if use_log:
            case["log_factor"] = log_factor(S, model.trained)
        case["rows"] = rows
        case["logits"] = [_row(logits[r]) for r in rows]
        if args.nll:
            nll = nll_rows(logits, ids[:S])
            case["nll"] = _row(nll, 9)
            case["nll_mean"] = round_sig(float(nll.mean()), 12)
        doc["cases"].append(case)
        # discriminating power of the case (max over the kept rows) and the spread from the ODE's rounding
        wrong_variants = []
        if t > 1:
            for name, f in (("t=1 frequencies", model.freqs[1]), ("xi-only (W_down = 0) frequencies", xi_freqs[t]),
                            ("%s-ODE frequencies" % other, model.freqs_by[other][t])):
                wrong_variants.append((name, model.one_call(ids[:S], log_scale=use_log, freqs={t: f})[0]))
        if S > model.trained:
            # the same S ids as consecutive calls of L_tr tokens (what a runtime that lets its internal chunking
            # define the calls computes): rows of the earlier calls get smaller t and log factors
            chunked = np.concatenate([lg for lg, _, _ in model.calls(ids[:S], chunk_schedule(S, model.trained),
                                                                     log_scale=use_log)])
            wrong_variants.append(("calls of %d tokens instead of one call" % model.trained, chunked))
        if use_log:
            wrong_variants.append(("log scaling off", model.one_call(ids[:S], log_scale=False)[0]))
        for name, wrong in wrong_variants:
            line = "S=%d t=%d log_scale=%s: max |logit - logit with %s| %.4g over the kept rows" % (
                S, t, use_log, name, np.abs(wrong[rows] - logits[rows]).max())
            if args.nll:
                line += ", mean NLL %+.4g" % (float(nll_rows(wrong, ids[:S]).mean()) - float(nll.mean()))
            print(line, file=sys.stderr)
    return doc


def run_decode(model, args):
    """INCREMENTAL golden: one prefill call, then one-token calls; last-row logits of each call."""
    prefill, steps = [int(s) for s in args.decode.split(",")]
    ids = load_ids(args, prefill + steps)
    doc = _model_doc(model, args)
    doc["ids"] = ids
    doc["calls"] = [prefill] + [1] * steps
    doc["runs"] = []
    other = "f64" if model.ode == "f32" else "f32"
    for use_log in log_scales(args, model, allow_both=True):
        cache, stale, other_ode = (model.new_cache() for _ in range(3))
        out = []
        pos = 0
        for c in doc["calls"]:
            logits, t = model.forward_call(ids[pos:pos + c], cache, log_scale=use_log)
            wrong, _ = model.forward_call(ids[pos:pos + c], stale, log_scale=use_log, stale_keys=True)
            spread, _ = model.forward_call(ids[pos:pos + c], other_ode, log_scale=use_log, freqs=model.freqs_by[other])
            pos += c
            once, _ = model.one_call(ids[:pos], log_scale=use_log)
            out.append({"S": pos, "t": t, "logits": _row(logits[-1])})
            print("log_scale=%s S=%d t=%d factor %s: max |logit - stale-key variant| %.4g, - one-shot prefill %.4g, "
                  "- %s-ODE frequencies %.3g"
                  % (use_log, pos, t, log_factor(pos, model.trained) if use_log else 1.0,
                     np.abs(wrong[-1] - logits[-1]).max(), np.abs(once[-1] - logits[-1]).max(), other,
                     np.abs(spread[-1] - logits[-1]).max()), file=sys.stderr)
        doc["runs"].append({"log_scale": use_log, "steps": out})
    return doc


def run_ppl(model, args):
    """INCREMENTAL golden for perplexity: COUNT ids in consecutive calls of CHUNK tokens (algorithms.md 3.7)."""
    specs = [tuple(int(x) for x in part.split(":")) for part in args.ppl.split(",")]
    ids = load_ids(args, max(count for count, _ in specs))
    doc = _model_doc(model, args)
    doc["ids"] = ids
    doc["semantics"] = ("incremental: the first COUNT ids in consecutive calls of CHUNK tokens sharing one cache "
                        "(algorithms.md 3.7); each call has its own t and log factor from its own S (CHUNK >= COUNT is "
                        "one call); every position p in 1..COUNT-1 is scored by the row predicting it (a call's last "
                        "row scores the next call's first token), nll = -log softmax(row)[id], float64; buckets "
                        "[1,512), [512,1024), [1024,2048), ...")
    doc["runs"] = []
    for use_log in log_scales(args, model, allow_both=True):
        for count, chunk in specs:
            schedule = chunk_schedule(count, chunk)
            parts, ts = [], []
            for lg, t, _ in model.calls(ids[:count], schedule, log_scale=use_log):
                parts.append(lg)
                ts.append(t)
            nll = nll_rows(np.concatenate(parts), ids[:count])   # nll[p - 1] scores position p
            buckets = {}
            for p in range(1, count):
                b = bucket_start(p)
                s, n = buckets.get(b, (0.0, 0))
                buckets[b] = (s + float(nll[p - 1]), n + 1)
            doc["runs"].append({
                "log_scale": use_log, "count": count, "chunk": chunk, "calls": schedule, "t": ts,
                "nll_mean": round_sig(float(nll.mean()), 12), "scored": count - 1,
                "buckets": [{"start": b, "end": 512 if b < 512 else 2 * b, "nll": round_sig(s / n, 12), "count": n}
                            for b, (s, n) in sorted(buckets.items())]})
            once = nll_rows(model.one_call(ids[:count], log_scale=use_log)[0], ids[:count])
            print("ppl log_scale=%s count=%d chunk=%d calls %s t %s: mean NLL %.6f (one call: %.6f, diff %+.3g)"
                  % (use_log, count, chunk, schedule, ts, nll.mean(), once.mean(), nll.mean() - once.mean()),
                  file=sys.stderr)
    return doc


def _greedy(model, prompt, steps, eos, use_log, prefill_schedule):
    cache = model.new_cache()
    pos = 0
    for c in prefill_schedule:
        logits, t = model.forward_call(prompt[pos:pos + c], cache, log_scale=use_log)
        pos += c
    out = []
    while True:
        last = logits[-1]
        top = np.argsort(-last, kind="stable")[:2]
        nxt = int(top[0])
        out.append({"S": cache["n"], "t": t, "id": nxt, "margin": round_sig(float(last[top[0]] - last[top[1]]), 6)})
        if nxt in eos or len(out) == steps:
            return out
        logits, t = model.forward_call([nxt], cache, log_scale=use_log)


def run_greedy(model, args):
    """Greedy decoding as HF generate: ONE prefill call of the whole prompt, then one call per generated token."""
    prompt = load_ids(args)
    steps = int(args.greedy)
    eos = model.cfg.get("eos_token_id")
    eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
    doc = _model_doc(model, args)
    doc["prompt_ids"] = prompt
    doc["semantics"] = ("greedy decoding as HF generate: the prompt in ONE prefill call (t and log factor of S = "
                        "prompt length, every prompt row), then one call per generated token (S + 1, ...), each "
                        "re-rotating every cached key with its own t; next id = argmax of the call's last row "
                        "(margin = top-1 minus top-2 logit); stops after an EOS id %s or %d tokens"
                        % (sorted(eos), steps))
    doc["runs"] = []
    for use_log in log_scales(args, model, allow_both=True):
        out = _greedy(model, prompt, steps, eos, use_log, [len(prompt)])
        doc["runs"].append({"log_scale": use_log, "ids": [s["id"] for s in out], "steps": out})
        chunked = _greedy(model, prompt, steps, eos, use_log, chunk_schedule(len(prompt), model.trained))
        same = [a["id"] == b["id"] for a, b in zip(out, chunked)]
        print("greedy log_scale=%s prompt %d: ids %s, min margin %.4g; prefill in calls of %d instead: %s"
              % (use_log, len(prompt), [s["id"] for s in out], min(s["margin"] for s in out), model.trained,
                 "the same ids" if all(same) and len(out) == len(chunked)
                 else "ids %s (first difference at step %d)" % ([s["id"] for s in chunked],
                                                                 same.index(False) if False in same else len(same))),
              file=sys.stderr)
    return doc


# --------------------------------------------------------------------------
# self-test: algorithms.md 7.5 and 7.7
# --------------------------------------------------------------------------

def selftest():
    ok = True

    def check(name, got, want, tol):
        nonlocal ok
        err = float(np.max(np.abs(np.asarray(got, dtype=np.float64) - np.asarray(want, dtype=np.float64))))
        good = err <= tol
        ok &= good
        print("%-48s max |diff| %.3g %s" % (name, err, "ok" if good else "FAIL (tol %g)" % tol))

    # the closed forms of ln th_ntk and xi used by the ODE equal the reference's delta_ntk / ntk_inv_freq spelling
    for d, t in ((4, 1.0), (8, 2.5), (128, 3.0), (128, 16.0), (128, 0.5)):
        delta, theta = time_embedding_literal(t, d)
        ln_ntk, xi = ClexOde(np.zeros((d // 2, d)), np.zeros((d, d // 2)), d, "tanh").time_terms(t)
        check("3.2 time terms d=%d t=%g (closed vs literal)" % (d, t), np.concatenate([ln_ntk, xi]),
              np.concatenate([np.log(theta), delta / theta]), 1e-12)
    # 7.5 (a): xi only, d = 128
    d = 128
    inv = 1.0 / 10000.0 ** (np.arange(0, d, 2) / d)
    ode = ClexOde(np.zeros((d // 2, d)), np.zeros((d, d // 2)), d, "tanh")
    zs = ode.solve(np.log(inv), np.array([1, 2, 4, 16], dtype=np.float32), 0.01)
    want = {2: [1, 0.850994291, 0.00572338151, 3.84927328e-05], 4: [1, 0.839625743, 0.00372172134, 1.64968855e-05],
            16: [1, 0.820025943, 0.00174776464, 3.72510318e-06]}
    for j, t in enumerate([2, 4, 16]):
        th = np.exp(zs[j + 1])[[0, 1, 32, 63]]
        check("7.5a xi-only d=128 t=%d (relative)" % t, th / np.array(want[t]), np.ones(4), 2e-9)
        check("7.5a closed form t=%d" % t, zs[j + 1], xi_only(inv, t), 3e-10)
    # 7.5 (b): toy model, d = 4
    up = np.array([[0.3, -0.2, 0.1, 0.05], [-0.1, 0.25, -0.3, 0.2]])
    down = np.array([[0.1, -0.05], [0.02, 0.08], [-0.07, 0.03], [0.04, -0.06]])
    toy = {"tanh": [[-0.05044512835, -5.733761054], [-0.09690160674, -6.276540296], [-0.1414743681, -6.645876258]],
           "silu": [[-0.1475493811, -5.652023224], [-0.3150946347, -6.101668253], [-0.4951241491, -6.371245784]]}
    for act, want in toy.items():
        for precision, tol in (("f64", 2e-9), ("f32", 5e-6)):
            ode = ClexOde(up, down, 4, act, precision=precision)
            zs = ode.solve(ode._once(np.log([1.0, 0.01])), np.array([1, 2, 3, 4], dtype=np.float32), 0.01)
            check("7.5b toy %s z(2..4) ODE %s" % (act, precision), zs[1:], want, tol)
    # 7.5 (c): time-embedding base stays 1e4 with z0 from rope_theta 1e6
    zs = ClexOde(up, down, 4, "tanh").solve(np.array([0.0, math.log(1e6 ** -0.5)]),
                                            np.array([1, 2, 3], dtype=np.float32), 0.01)
    check("7.5c base 1e4, z(3)", zs[2], [-0.08482088085, -8.585063175], 2e-9)
    # 7.7: t selection and the bf16 log factor (L_tr = 4096, max_factor 16)
    sel = [(1, 1), (4095, 1), (4096, 1), (4097, 2), (8192, 2), (8193, 3), (16384, 4), (65536, 16), (65537, 16)]
    check("7.7 t selection", [select_t(s, 4096, 16) for s, _ in sel], [t for _, t in sel], 0)
    fac = [(1, 0), (100, 0.5507812), (2048, 0.9179688), (4096, 1), (8192, 1.0859375), (16384, 1.1640625),
           (65536, 1.3281250)]
    check("7.7 bf16 log factor", [log_factor(k, 4096) for k, _ in fac], [f for _, f in fac], 1e-7)
    print("selftest %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="CLEX model folder (e.g. longlm make-fixture --family llama-clex)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--single", help="S1,S2,...: ONE-CALL, one forward of the first S ids each (HF model(input_ids))")
    mode.add_argument("--decode", help="PREFILL,STEPS: INCREMENTAL, one prefill call, then STEPS one-token calls")
    mode.add_argument("--ppl", help="COUNT:CHUNK,...: INCREMENTAL, COUNT ids in calls of CHUNK tokens; mean NLL")
    mode.add_argument("--greedy", help="STEPS: the --ids-file prompt in one call, then STEPS greedy one-token calls")
    ap.add_argument("--log-scale", choices=["config", "off", "on", "both"], default="config",
                    help="CLEX query log scaling (config = config.json's log_scale; both = a run each, not --single)")
    ap.add_argument("--ids-file", help="JSON file with \"ids\" (e.g. longlm tokenize --json) instead of SplitMix64 ids")
    ap.add_argument("--ids-note", default="", help="text recorded as how --ids-file was made")
    ap.add_argument("--ids-seed", type=int, default=20240)
    ap.add_argument("--rows", help="--single: comma-separated rows to keep (negative = from the end)")
    ap.add_argument("--row-stride", type=int, default=64, help="--single without --rows: rows kept besides the last")
    ap.add_argument("--nll", action="store_true", help="--single: also the next-token NLL of every row and their mean")
    ap.add_argument("--extend", action="store_true",
                    help="past L_tr * max_factor keep t = max_factor (LongLM's --clex-extend; the reference fails there)")
    ap.add_argument("--fixture", default="", help="text recorded as how the model folder was made")
    ap.add_argument("--ode", choices=["f32", "f64"], default="f32",
                    help="ODE precision for the logits (the forward is float64; both sets of frequencies are written)")
    ap.add_argument("--out", help="output JSON file")
    ap.add_argument("--selftest", action="store_true")
    args = ap.parse_args(argv)
    if args.selftest:
        return selftest()
    if not args.model or not args.out or not (args.single or args.decode or args.ppl or args.greedy):
        ap.error("give --model, --out and one of --single / --decode / --ppl / --greedy")
    model = ClexLlama(args.model, ode=args.ode, extend=args.extend)
    f32, f64 = model.freqs_by["f32"], model.freqs_by["f64"]
    rel = max(float(np.max(np.abs(f32[t].astype(np.float64) / f64[t] - 1))) for t in f64)
    print("frequencies, float32 ODE vs float64 ODE: max relative diff %.3g" % rel, file=sys.stderr)
    run = run_single if args.single else run_decode if args.decode else run_ppl if args.ppl else run_greedy
    doc = run(model, args)
    doc["ode_precision"] = args.ode
    if args.extend:
        doc["extend"] = "past L_tr * max_factor = %d: t = max_factor (the reference itself fails there)" % (
            model.trained * model.max_factor)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    print("wrote %s" % args.out, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
