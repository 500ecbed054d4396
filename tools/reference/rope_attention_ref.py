#!/usr/bin/env python3
"""Float64 RoPE attention of one forward call: vanilla (causal, optional sliding window) and LM-Infinite.

A from-scratch reference for the RoPE families' golden files (GPT-J, GPT-NeoX, Phi, Mixtral), written from
algorithms.md sections 1 (pairing, partial rotary), 2.2-2.3 (the Lambda mask and the distance ceiling) and 2.5
(top-k middle tokens); it shares no code with the .NET runtime. `--selftest` reproduces algorithms.md 7.1, 7.2 and
7.3 and checks that their listed wrong variants do not match.

    rotate(x, positions, inv_freq, rotary_dim, pairing)
    attention(q, k, v, q_start, inv_freq, rotary_dim, pairing, lam=None, topk=None, window=None, scale=None)

Every tensor is RAW (un-rotated): queries of this call's rows at absolute positions q_start..q_start+n-1, keys and
values of every visible token at positions 0..K-1 (K = q_start + n). The function rotates what each rule needs.
"""
import sys

import numpy as np


def rotate(x, positions, inv_freq, rotary_dim, pairing):
    """x [n, heads, hd] rotated by position p[r] * inv_freq on its first rotary_dim dims; the rest pass through.

    'half': pair k is (x[k], x[k + d/2]) (HF rotate_half: Llama, NeoX, Phi, Mixtral); 'interleaved': pair k is
    (x[2k], x[2k+1]) (GPT-J rotate_every_two)."""
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    half = rotary_dim // 2
    ang = np.asarray(positions, dtype=np.float64)[:, None] * np.asarray(inv_freq, dtype=np.float64)[None, :half]
    cos = np.cos(ang)[:, None, :]
    sin = np.sin(ang)[:, None, :]
    if pairing == "half":
        a, b = x[:, :, :half], x[:, :, half:2 * half]
        out[:, :, :half] = a * cos - b * sin
        out[:, :, half:2 * half] = b * cos + a * sin
    elif pairing == "interleaved":
        a, b = x[:, :, 0:2 * half:2], x[:, :, 1:2 * half:2]
        out[:, :, 0:2 * half:2] = a * cos - b * sin
        out[:, :, 1:2 * half:2] = b * cos + a * sin
    else:
        raise ValueError("pairing must be 'half' or 'interleaved', not %r" % pairing)
    return out


def attention(q, k, v, q_start, inv_freq, rotary_dim, pairing, lam=None, topk=None, window=None, scale=None,
              return_weights=False):
    """One forward call's attention output [n, H, hd] (see the module docstring for the tensors).

    lam = None: causal attention at absolute positions (window = W also masks keys at distance >= W, HF's
    sliding_window). lam = (L, G, D): key j of query i (distance d = i - j) is a local rotary key for d <= L-1; a
    starting key j < G with d >= L gets the stationary logit s*<R(D_eff) q_i, k_j> (raw key, query rotated to
    D_eff = min(D, K-1)); every other key is masked. topk = (k, insert_at), with lam: the call's LAST row also gets the
    k middle keys j in [G, K-L) with the largest s*<R(insert_at) q_raw, k_raw> (ties to the lower j), with that logit,
    when K - L >= G + k. One softmax per row over everything that survives."""
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    v = np.asarray(v, dtype=np.float64)
    n, heads, hd = q.shape
    keys, kv_heads, _ = k.shape
    if keys != q_start + n:
        raise ValueError("K = %d keys, but the call's rows end at %d" % (keys, q_start + n))
    if heads % kv_heads:
        raise ValueError("query heads not a multiple of key heads")
    group = heads // kv_heads
    s = 1.0 / np.sqrt(hd) if scale is None else scale
    rows = np.arange(q_start, q_start + n)
    qr = rotate(q, rows, inv_freq, rotary_dim, pairing)
    kr = rotate(k, np.arange(keys), inv_freq, rotary_dim, pairing)
    if lam is not None:
        L, G, D = lam
        q_stat = rotate(q, np.full(n, min(D, keys - 1)), inv_freq, rotary_dim, pairing)
    out = np.zeros((n, heads, hd))
    weights_all = []
    for h in range(heads):
        g = h // group
        local = (qr[:, h, :] @ kr[:, g, :].T) * s  # [n, K]
        logits = np.full((n, keys), -np.inf)
        for r in range(n):
            i = rows[r]
            for j in range(i + 1):
                d = i - j
                if lam is None:
                    if window is None or d < window:
                        logits[r, j] = local[r, j]
                elif d <= L - 1:
                    logits[r, j] = local[r, j]
                elif j < G:
                    logits[r, j] = s * (q_stat[r, h, :] @ k[j, g, :])
        if topk is not None:
            if lam is None:
                raise ValueError("top-k middle tokens need the Lambda mask")
            count, insert_at = topk
            L, G, D = lam
            lo, hi = G, keys - L
            if hi - lo >= count:
                qi = rotate(q[n - 1:n], np.array([insert_at]), inv_freq, rotary_dim, pairing)[0, h, :]
                scores = s * (k[lo:hi, g, :] @ qi)
                order = sorted(range(hi - lo), key=lambda t: (-scores[t], t))[:count]
                for t in order:
                    logits[n - 1, lo + t] = scores[t]
        m = logits.max(axis=1, keepdims=True)
        w = np.exp(logits - m)
        w /= w.sum(axis=1, keepdims=True)
        out[:, h, :] = w @ v[:, g, :]
        weights_all.append(w)
    return (out, weights_all) if return_weights else out


# ---------------------------------------------------------------------------------------------------------------
def _synthetic(count):
    """algorithms.md 7's common inputs (d = dv = 4, one head)."""
    i = np.arange(count, dtype=np.float64)[:, None]
    c = np.arange(4, dtype=np.float64)[None, :]
    q = np.sin(0.7 * i + 1.3 * c + 0.1)
    k = np.cos(0.5 * i - 0.9 * c + 0.2)
    v = np.sin(0.3 * i + 0.5 * c) + 0.1 * c
    return q[:, None, :], k[:, None, :], v[:, None, :]


def selftest():
    inv = np.array([1.0, 0.01])
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    half = rotate(x, [3], inv, 4, "half")[0, 0]
    inter = rotate(x, [3], inv, 4, "interleaved")[0, 0]
    assert np.allclose(half, [-1.4133525, 1.8791181, -2.8288575, 4.0581911], atol=1e-6), half
    assert np.allclose(inter, [-1.2722325, -1.838865, 2.8786681, 4.0881866], atol=1e-6), inter
    # partial rotary: dims past rotary_dim pass through
    y = rotate(np.array([[[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]]]), [3], inv, 4, "half")[0, 0]
    assert np.allclose(y[:4], half) and y[4] == 5.0 and y[5] == 6.0

    q, k, v = _synthetic(12)
    out, w = attention(q, k, v, 0, inv, 4, "half", lam=(4, 2, 4), scale=0.5, return_weights=True)
    expect = {3: [0.38760141, 0.86208192, 1.1499782, 1.2052867],
              4: [0.57022689, 0.94976093, 1.1212439, 1.0671742],
              5: [0.74371851, 0.97448038, 0.99113895, 0.81409911],
              11: [0.092669679, -0.067525341, -0.18670432, -0.21120459]}
    for r, e in expect.items():
        assert np.allclose(out[r, 0], e, atol=1e-6), (r, out[r, 0])
    assert np.allclose(w[0][11, [0, 1, 8, 9, 10, 11]], [0.11263579, 0.1103323, 0.097379836, 0.075888662, 0.19104084, 0.41272258], atol=1e-7)
    # wrong variant: ceiling at D-1 must not match
    wrong = attention(q, k, v, 0, inv, 4, "half", lam=(4, 2, 3), scale=0.5)[11, 0]
    assert np.allclose(wrong, [0.1015497, -0.0070286452, -0.089402641, -0.10092078], atol=1e-6), wrong
    # incremental decode (K = i + 1 per row) equals the prefill rows
    for i in range(12):
        step = attention(q[i:i + 1], k[:i + 1], v[:i + 1], i, inv, 4, "half", lam=(4, 2, 4), scale=0.5)
        assert np.allclose(step[0], out[i]), i
    # chunked prefill: cache plus chunk equals one shot
    part = attention(q[5:12], k, v, 5, inv, 4, "half", lam=(4, 2, 4), scale=0.5)
    assert np.allclose(part, out[5:12])

    q, k, v = _synthetic(24)
    top = attention(q, k, v, 0, inv, 4, "half", lam=(4, 2, 4), topk=(3, 2), scale=0.5, return_weights=True)
    o, w = top
    assert np.allclose(o[23, 0], [0.19913856, 0.48572181, 0.67786692, 0.75301353], atol=1e-6), o[23, 0]
    chosen = sorted(np.nonzero(w[0][23])[0].tolist())
    assert chosen == [0, 1, 7, 8, 19, 20, 21, 22, 23], chosen
    plain = attention(q, k, v, 0, inv, 4, "half", lam=(4, 2, 4), scale=0.5)
    assert np.allclose(plain[23, 0], [0.079068585, 0.6284723, 1.0484876, 1.2607635], atol=1e-6)
    assert np.allclose(o[:23], plain[:23])  # top-k touches the last row only
    # vanilla with a sliding window of W keys sees distances 0..W-1
    _, wv = attention(q, k, v, 0, inv, 4, "half", window=5, return_weights=True)
    assert np.count_nonzero(wv[0][23]) == 5 and wv[0][23][18] == 0
    print("rope_attention_ref selftest: ok (7.1 pairing, 7.2 Lambda rows 3/4/5/11 + D-1 variant, "
          "incremental and chunked, 7.3 top-k)")


if __name__ == "__main__":
    if sys.argv[1:] == ["--selftest"]:
        selftest()
    else:
        print(__doc__)
