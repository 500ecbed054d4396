#!/usr/bin/env python3
"""A load client for `longlm serve` (or any OpenAI-compatible server), python3 stdlib only.

  serve_load.py load   --base URL --model ID [--clients C] [--requests R] [--prompt-tokens P] [--max-tokens T] [--endpoint completions|chat]
  serve_load.py prefix --base URL --model ID [--turns K] [--prompt-tokens P]

load: C threads each send R streaming requests one after another (stream_options.include_usage) of a prompt of about P
tokens (sized with /tokenize) and max_tokens T, temperature 0. Prints one JSON line: requests/s, latency and
time-to-first-token p50/p99 (ms), completion tokens, aggregate decode tokens/s (all completion tokens / wall time) and
the median per-request decode rate ((tokens - 1) / (latency - ttft)).

prefix: K times: a conversation [user: ~P tokens] is answered (16 tokens); then its follow-up [user, assistant reply,
user: "Go on."] is sent streaming (its prefix is the previous request's prompt + reply: a server that reuses KV caches
prefills only the new turn), then a fresh conversation of the same length (the same messages with the first user
message's first letter changed, so no prefix beyond the template's first tokens is shared). Prints the median TTFT of
each and their prompt token counts (from usage).
"""
import argparse, json, random, statistics, sys, threading, time, urllib.error, urllib.request

WORDS = ("time little girl named lily ball park sun happy tree bird dog cat run jump play big small red blue went "
         "saw said friend mom home day night sky water fish boat fun toy cake hat box").split()


def post(base, path, body, timeout=600):
    req = urllib.request.Request(base.rstrip("/") + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return urllib.request.urlopen(req, timeout=timeout)


def tokens(base, text):
    with post(base, "/tokenize", {"content": text}) as r:
        return json.load(r)["tokens"]


def text_of(base, n, rng):
    """Random words cut to about n tokens (by the server's own tokenizer)."""
    words = []
    while len(tokens(base, " ".join(words))) < n:
        words += [rng.choice(WORDS) for _ in range(max(8, n // 4))]
    lo, hi = 1, len(words)
    while lo < hi:  # the longest word prefix of at most n tokens
        mid = (lo + hi + 1) // 2
        if len(tokens(base, " ".join(words[:mid]))) <= n: lo = mid
        else: hi = mid - 1
    return " ".join(words[:lo])


def stream(base, path, body):
    """Sends a streaming request; returns (latency s, ttft s, completion tokens, text, usage or None)."""
    body = dict(body, stream=True, stream_options={"include_usage": True})
    t0 = time.perf_counter()
    ttft, parts, usage, done = None, [], None, False
    with post(base, path, body) as r:
        for raw in r:
            line = raw.decode("utf-8").strip()
            if not line.startswith("data: "): continue
            data = line[6:]
            if data == "[DONE]":
                done = True
                break
            chunk = json.loads(data)
            if chunk.get("usage"): usage = chunk["usage"]
            for c in chunk.get("choices") or []:
                piece = c.get("text") if "text" in c else (c.get("delta") or {}).get("content")
                if piece:
                    if ttft is None: ttft = time.perf_counter() - t0
                    parts.append(piece)
    latency = time.perf_counter() - t0
    if not done: raise RuntimeError("stream ended without [DONE]")
    n = usage["completion_tokens"] if usage else len(parts)
    return latency, ttft if ttft is not None else latency, n, "".join(parts), usage


def pct(values, p):
    if not values: return None
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def load(a):
    rng = random.Random(1)
    prompt = text_of(a.base, a.prompt_tokens, rng)
    if a.endpoint == "chat":
        path, body = "/v1/chat/completions", {"model": a.model, "messages": [{"role": "user", "content": prompt}]}
    else:
        path, body = "/v1/completions", {"model": a.model, "prompt": prompt}
    body.update(max_tokens=a.max_tokens, temperature=0)
    stream(a.base, path, body)  # warm-up
    results, errors, lock = [], [], threading.Lock()

    def client():
        for _ in range(a.requests):
            try:
                r = stream(a.base, path, body)
                with lock: results.append(r)
            except (urllib.error.URLError, OSError, RuntimeError, ValueError) as e:
                with lock: errors.append(repr(e))

    threads = [threading.Thread(target=client) for _ in range(a.clients)]
    t0 = time.perf_counter()
    for t in threads: t.start()
    for t in threads: t.join()
    wall = time.perf_counter() - t0
    lat = [r[0] * 1000 for r in results]
    ttft = [r[1] * 1000 for r in results]
    toks = sum(r[2] for r in results)
    rates = [(r[2] - 1) / (r[0] - r[1]) for r in results if r[2] > 1 and r[0] > r[1]]
    print(json.dumps({
        "mode": "load", "endpoint": a.endpoint, "clients": a.clients, "requests": len(results), "errors": len(errors),
        "first_error": errors[0] if errors else None, "prompt_tokens": a.prompt_tokens, "max_tokens": a.max_tokens,
        "wall_s": round(wall, 3), "requests_per_s": round(len(results) / wall, 3),
        "latency_ms_p50": round(pct(lat, 50), 1) if lat else None, "latency_ms_p99": round(pct(lat, 99), 1) if lat else None,
        "ttft_ms_p50": round(pct(ttft, 50), 1) if ttft else None, "ttft_ms_p99": round(pct(ttft, 99), 1) if ttft else None,
        "completion_tokens": toks, "aggregate_decode_tok_s": round(toks / wall, 1),
        "per_request_decode_tok_s_p50": round(statistics.median(rates), 1) if rates else None,
    }))
    return 1 if errors else 0


def prefix(a):
    rng = random.Random(2)
    follow, fresh, follow_tokens, fresh_tokens = [], [], [], []
    for k in range(a.turns):
        first = text_of(a.base, a.prompt_tokens, rng)
        base_msgs = [{"role": "user", "content": first}]
        with post(a.base, "/v1/chat/completions", {"model": a.model, "messages": base_msgs, "max_tokens": 16, "temperature": 0}) as r:
            reply = json.load(r)["choices"][0]["message"]["content"]
        msgs = base_msgs + [{"role": "assistant", "content": reply}, {"role": "user", "content": "Go on."}]
        body = {"model": a.model, "messages": msgs, "max_tokens": 4, "temperature": 0}
        _, t, _, _, usage = stream(a.base, "/v1/chat/completions", body)
        follow.append(t * 1000)
        follow_tokens.append(usage["prompt_tokens"] if usage else None)
        changed = ("q" if first[0] != "q" else "z") + first[1:]
        body = {"model": a.model, "messages": [{"role": "user", "content": changed}] + msgs[1:], "max_tokens": 4, "temperature": 0}
        _, t, _, _, usage = stream(a.base, "/v1/chat/completions", body)
        fresh.append(t * 1000)
        fresh_tokens.append(usage["prompt_tokens"] if usage else None)
    print(json.dumps({
        "mode": "prefix", "turns": a.turns, "prompt_tokens_follow_up": follow_tokens, "prompt_tokens_fresh": fresh_tokens,
        "ttft_ms_follow_up_p50": round(statistics.median(follow), 1), "ttft_ms_fresh_p50": round(statistics.median(fresh), 1),
        "speed_up": round(statistics.median(fresh) / statistics.median(follow), 2),
    }))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["load", "prefix"])
    p.add_argument("--base", required=True, help="server root, e.g. http://127.0.0.1:8080")
    p.add_argument("--model", required=True)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--requests", type=int, default=8)
    p.add_argument("--prompt-tokens", type=int, default=64)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--endpoint", choices=["completions", "chat"], default="completions")
    p.add_argument("--turns", type=int, default=5)
    a = p.parse_args()
    return load(a) if a.mode == "load" else prefix(a)


if __name__ == "__main__":
    sys.exit(main())
