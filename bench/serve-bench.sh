#!/usr/bin/env bash
# `longlm serve` under load: requests/s, latency p50/p99, time-to-first-token with and without prefix reuse, and
# aggregate decode tokens/s for 1, 2 and 4 slots, on the smollm-135m fixture (random bf16 weights, `longlm make-fixture
# --shape smollm-135m --seed 1`; its synthetic byte-level tokenizer has no chat template, so the server gets ChatML,
# tests/LongLM.Tests/data/chat/chatml.jinja). The load client is bench/serve_load.py (python3 stdlib only); each
# measure is one JSON line.
#
#   bench/serve-bench.sh [REQUESTS_PER_CLIENT] [MAX_TOKENS]
#
# Environment: FIXTURE=DIR reuses a fixture folder (made there when missing); BACKEND=cpu|cuda is passed as --backend
# when set; SLOTS="1 2 4" the slot counts; PROMPT_TOKENS (64) the load prompts' length; PREFIX_TOKENS (1024) the first
# user message of the prefix-reuse measure.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQUESTS="${1:-8}"
MAX_TOKENS="${2:-64}"
SLOTS="${SLOTS:-1 2 4}"
PROMPT_TOKENS="${PROMPT_TOKENS:-64}"
PREFIX_TOKENS="${PREFIX_TOKENS:-1024}"
OUT="$(mktemp -d)"
FIXTURE="${FIXTURE:-$OUT/smollm-135m}"
dotnet build "$ROOT/tools/LongLM.Cli" -c Release -v q -nologo >/dev/null
CLI="$ROOT/tools/LongLM.Cli/bin/Release/net10.0/longlm.dll"
if [ ! -f "$FIXTURE/config.json" ]; then
  dotnet "$CLI" make-fixture --family llama --shape smollm-135m --dtype bf16 --seed 1 --out "$FIXTURE" >/dev/null
fi
MODEL_ID="$(basename "$FIXTURE")"
BACKEND_ARGS=()
[ -n "${BACKEND:-}" ] && BACKEND_ARGS=(--backend "$BACKEND")
echo "fixture $FIXTURE; $(nproc) cores; requests per client $REQUESTS, max_tokens $MAX_TOKENS, prompt ~$PROMPT_TOKENS tokens; logs in $OUT"

SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

start_server() { # $1 = slots
  local port
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
  dotnet "$CLI" serve --model "$FIXTURE" --port "$port" --parallel "$1" \
    --chat-template "$ROOT/tests/LongLM.Tests/data/chat/chatml.jinja" "${BACKEND_ARGS[@]}" > "$OUT/server-$1.log" 2>&1 &
  SERVER_PID=$!
  BASE="http://127.0.0.1:$port"
  for _ in $(seq 1 300); do
    if curl -fsS "$BASE/health" >/dev/null 2>&1; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then echo "the server exited:"; tail -n 20 "$OUT/server-$1.log"; exit 1; fi
    sleep 0.2
  done
  echo "the server did not answer /health within 60 s"; tail -n 20 "$OUT/server-$1.log"; exit 1
}

for n in $SLOTS; do
  start_server "$n"
  echo "== $n slot(s)"
  # As many clients as slots (each slot busy), then twice as many (a queue forms: latency grows, tokens/s should not drop).
  python3 "$ROOT/bench/serve_load.py" load --base "$BASE" --model "$MODEL_ID" --clients "$n" --requests "$REQUESTS" \
    --prompt-tokens "$PROMPT_TOKENS" --max-tokens "$MAX_TOKENS" | tee -a "$OUT/results.jsonl"
  python3 "$ROOT/bench/serve_load.py" load --base "$BASE" --model "$MODEL_ID" --clients "$(( 2 * n ))" --requests "$REQUESTS" \
    --prompt-tokens "$PROMPT_TOKENS" --max-tokens "$MAX_TOKENS" | tee -a "$OUT/results.jsonl"
  if [ "$n" = "1" ]; then
    # Chat through the template, and TTFT of a follow-up turn (prefix reused) against a fresh conversation of its length.
    python3 "$ROOT/bench/serve_load.py" load --base "$BASE" --model "$MODEL_ID" --clients 1 --requests "$REQUESTS" \
      --prompt-tokens "$PROMPT_TOKENS" --max-tokens "$MAX_TOKENS" --endpoint chat | tee -a "$OUT/results.jsonl"
    python3 "$ROOT/bench/serve_load.py" prefix --base "$BASE" --model "$MODEL_ID" --turns 5 --prompt-tokens "$PREFIX_TOKENS" \
      | tee -a "$OUT/results.jsonl"
  fi
  stop_server
done
echo "results: $OUT/results.jsonl"
