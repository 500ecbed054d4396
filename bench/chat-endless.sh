#!/usr/bin/env bash
# An endless scripted chat: `longlm chat --lm-infinite` on stories260K with TinyLlama-Chat's template (the chat
# fixture of tests/LongLM.Tests/data/chat: the weights beside that tokenizer_config.json), fed user lines until
# the conversation passes TARGET tokens (default 100000). Prints the working set the chat reports after each reply at
# the first turn past 10k tokens and at the end, and the process's peak working set (GNU time).
#
#   bench/chat-endless.sh [TARGET_TOKENS] [MAX_TOKENS_PER_REPLY]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TARGET="${1:-100000}"
REPLY="${2:-96}"
STORIES="${STORIES:-$ROOT/../shared/models/stories260K}"
OUT="$(mktemp -d)"
MODEL="$OUT/model"
mkdir -p "$MODEL"
for f in config.json model.safetensors tokenizer.model; do ln -s "$(cd "$STORIES" && pwd)/$f" "$MODEL/$f"; done
cp "$ROOT/tests/LongLM.Tests/data/chat/tinyllama-chat_tokenizer_config.json" "$MODEL/tokenizer_config.json"
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
/usr/bin/time -f "%M" -o "$OUT/peak_kb" dotnet "$CLI" chat --model "$MODEL" --lm-infinite \
  --temperature 0.8 --seed 1 --max-tokens "$REPLY" < "$OUT/input.txt" > "$OUT/replies.txt" 2> "$OUT/stats.txt" &
pid=$!
while kill -0 "$pid" 2>/dev/null; do
  n=$(tail -n 1 "$OUT/stats.txt" 2>/dev/null | sed -n 's/.*conversation \([0-9]*\) tokens.*/\1/p')
  if [ -n "$n" ] && [ "$n" -ge "$TARGET" ]; then pkill -TERM -P "$pid" || true; break; fi
  sleep 1
done
wait "$pid" 2>/dev/null || true
end=$(date +%s)
python3 - "$OUT/stats.txt" <<'PY'
import re, sys
turns = [l for l in open(sys.argv[1]) if "conversation" in l]
print(f"turns: {len(turns)}")
def tokens(l): return int(re.search(r"conversation (\d+) tokens", l).group(1))
def mib(l): return float(re.search(r"working set ([0-9.]+) MiB", l).group(1))
for t in (10000, 100000):
    past = [l for l in turns if tokens(l) >= t]
    if past: print(f"first turn past {t} tokens: {past[0].strip()}")
if turns:
    print(f"last turn: {turns[-1].strip()}")
    after = [mib(l) for l in turns if tokens(l) >= 10000]
    if after: print(f"working set after 10k tokens: min {min(after):.1f} MiB, max {max(after):.1f} MiB over {len(after)} turns")
PY
[ -s "$OUT/peak_kb" ] && echo "peak working set (GNU time, whole run): $(( $(tail -n 1 "$OUT/peak_kb" | tr -dc 0-9) / 1024 )) MiB" || true
echo "wall time: $(( end - start )) s; logs in $OUT"
if grep -q 'error' "$OUT/stats.txt"; then grep 'error' "$OUT/stats.txt" | head -n 3; exit 1; fi
