#!/usr/bin/env bash
# An endless scripted chat: `longlm chat --lm-infinite` on stories260K with the ChatML template, fed user lines until
# the conversation passes TARGET tokens (default 100000). Prints the working set the chat reports after each reply at
# the first turn past 10k tokens and at the end, and the process's peak working set (GNU time).
#
#   bench/chat-endless.sh [TARGET_TOKENS] [MAX_TOKENS_PER_REPLY]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:-100000}"
REPLY="${2:-96}"
MODEL="${MODEL:-$ROOT/../shared/models/stories260K}"
TEMPLATE="$ROOT/tests/LongLM.Tests/data/chat/chatml.jinja"
OUT="$(mktemp -d)"
dotnet build "$ROOT/tools/LongLM.Cli" -c Release -v q -nologo >/dev/null
CLI="$ROOT/tools/LongLM.Cli/bin/Release/net10.0/longlm.dll"
# More turns than needed (each is >= ~15 tokens); the chat ends at EOF, the script stops reading at TARGET.
turns=$(( TARGET / 15 + 10 ))
python3 - "$turns" > "$OUT/input.txt" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    print(f"Tell me what the little cat did on day {i}.")
PY
start=$(date +%s)
/usr/bin/time -f "%M" -o "$OUT/peak_kb" dotnet "$CLI" chat --model "$MODEL" --chat-template "$TEMPLATE" --lm-infinite \
  --temperature 0.8 --seed 1 --max-tokens "$REPLY" < "$OUT/input.txt" > "$OUT/replies.txt" 2> "$OUT/stats.txt" &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  n=$(tail -n 1 "$OUT/stats.txt" 2>/dev/null | sed -n 's/.*conversation \([0-9]*\) tokens.*/\1/p')
  if [ -n "$n" ] && [ "$n" -ge "$TARGET" ]; then pkill -TERM -P "$pid" || true; break; fi
  sleep 1
done
wait "$pid" 2>/dev/null || true
end=$(date +%s)
grep -c 'conversation' "$OUT/stats.txt" | sed 's/^/turns: /'
awk -v t=10000 'match($0, /conversation ([0-9]+) tokens/, m) && m[1] >= t && !done { print "first turn past " t ": " $0; done=1 }' "$OUT/stats.txt"
echo "last turn: $(grep conversation "$OUT/stats.txt" | tail -n 1)"
[ -s "$OUT/peak_kb" ] && echo "peak working set (GNU time, whole run): $(( $(tail -n 1 "$OUT/peak_kb") / 1024 )) MiB" || true
echo "wall time: $(( end - start )) s; logs in $OUT"
if grep -q 'error' "$OUT/stats.txt"; then grep 'error' "$OUT/stats.txt" | head -n 3; exit 1; fi
