#!/usr/bin/env bash
# LongLM vs llama.cpp side by side, on the same weights and thread count: `longlm bench` and llama-bench (or
# llama-batched-bench for decode after a prompt) alternated row by row, pair by pair (the order flips every pair),
# then a markdown table of the median tokens/s of each and the median of the per-pair ratios LongLM / llama.cpp.
# Never run by CI. Set up first with bench/anchors/llamacpp.sh, which prints the two variables:
#
#   LLAMA_CPP_BIN=/tmp/longlm-anchor/llama.cpp/build/bin ANCHOR=/tmp/longlm-anchor bench/compare.sh [PAIRS=3]
#
# Environment: THREADS (default 2), REPS (timed repetitions per run, default 2), ROWS (space-separated row specs,
# default below). A row is SHAPE:WEIGHTS:TEST with WEIGHTS f32, bf16, q8_0 or q4_0 and TEST ppN, tgN or tgN@dD
# (N decoded tokens after a D-token prompt, vanilla attention). LongLM runs quantized rows from the F32 fixture
# with --quantize T --quantize-output, llama.cpp from `llama-quantize --pure` of the same F32 GGUF.
# Raw per-run figures go to $ANCHOR/compare-DATE.tsv.
set -euo pipefail
cd "$(dirname "$0")/.."
pairs=${1:-3}
: "${LLAMA_CPP_BIN:?set LLAMA_CPP_BIN (bench/anchors/llamacpp.sh prints it)}"
: "${ANCHOR:?set ANCHOR (bench/anchors/llamacpp.sh prints it)}"
threads=${THREADS:-2}
reps=${REPS:-2}
rows=${ROWS:-"smollm-135m:f32:pp512 smollm-135m:f32:tg128 smollm-135m:bf16:pp512 smollm-135m:bf16:tg128
  tinyllama-1.1b:f32:pp512 tinyllama-1.1b:f32:tg32 tinyllama-1.1b:bf16:pp512 tinyllama-1.1b:bf16:tg32
  smollm-135m:bf16:tg32@d4096 smollm-135m:q8_0:tg128 smollm-135m:q4_0:tg128
  tinyllama-1.1b:q8_0:tg32 tinyllama-1.1b:q4_0:tg32"}
longlm=tools/LongLM.Cli/bin/Release/net10.0/longlm
dotnet build tools/LongLM.Cli -c Release -v q -nologo >/dev/null
raw=$ANCHOR/compare-$(date -u +%Y%m%dT%H%M%SZ).tsv
printf 'pair\trow\tprogram\ttokens_per_s\n' > "$raw"

# tokens/s of one run; prints a number or fails the script with the program's own error.
json_ts() { /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[-1]["avg_ts"])'; }

run_longlm() { # shape weights test
  local shape=$1 weights=$2 test=$3 dir flags=() n d
  case $weights in
    q8_0|q4_0) dir=$ANCHOR/fixtures/$shape-f32; flags=(--quantize "$weights" --quantize-output) ;;
    *) dir=$ANCHOR/fixtures/$shape-$weights ;;
  esac
  case $test in
    pp*) "$longlm" bench -m "$dir" -p "${test#pp}" --only pp -t "$threads" -r "$reps" -o json "${flags[@]}" | json_ts ;;
    tg*@d*) n=${test%@d*}; n=${n#tg}; d=${test#*@d}
      "$longlm" bench -m "$dir" -n "$n" -d "$d" --only tg --attention vanilla -t "$threads" -r 1 -o json "${flags[@]}" | json_ts ;;
    tg*) "$longlm" bench -m "$dir" -n "${test#tg}" --only tg -t "$threads" -r "$reps" -o json "${flags[@]}" | json_ts ;;
  esac
}

run_llama() { # shape weights test
  local gguf=$ANCHOR/gguf/$1-$2.gguf test=$3 n d
  case $test in
    pp*) "$LLAMA_CPP_BIN/llama-bench" -m "$gguf" -p "${test#pp}" -n 0 -t "$threads" -r "$reps" -o json 2>/dev/null | json_ts ;;
    tg*@d*) n=${test%@d*}; n=${n#tg}; d=${test#*@d}
      # one warm-up pass is part of llama-batched-bench; -c holds the prompt and the generated tokens.
      "$LLAMA_CPP_BIN/llama-batched-bench" -m "$gguf" -c $((d + n + 16)) -b 2048 -ub 512 -npp "$d" -ntg "$n" -npl 1 \
        -t "$threads" --output-format jsonl 2>/dev/null | grep '^{' | tail -1 \
        | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["speed_tg"])' ;;
    tg*) "$LLAMA_CPP_BIN/llama-bench" -m "$gguf" -p 0 -n "${test#tg}" -t "$threads" -r "$reps" -o json 2>/dev/null | json_ts ;;
  esac
}

for pair in $(seq "$pairs"); do
  for row in $rows; do
    IFS=: read -r shape weights test <<< "$row"
    if [ $((pair % 2)) -eq 1 ]; then order="longlm llama"; else order="llama longlm"; fi
    for program in $order; do
      ts=$("run_$program" "$shape" "$weights" "$test")
      printf '%s\t%s\t%s\t%s\n' "$pair" "$row" "$program" "$ts" >> "$raw"
      echo "pair $pair $row $program $ts tok/s" >&2
    done
  done
done

echo "LongLM vs llama.cpp $(git -C "$LLAMA_CPP_BIN/../.." rev-parse --short HEAD 2>/dev/null || echo '?'), $threads threads, $pairs alternated pairs, $reps reps per run; $(date -u +%F); raw: $raw"
/usr/bin/python3 - "$raw" <<'EOF'
import csv, statistics, sys
runs = {}
for r in csv.DictReader(open(sys.argv[1]), delimiter="\t"):
    runs.setdefault(r["row"], {}).setdefault(r["pair"], {})[r["program"]] = float(r["tokens_per_s"])
print("| row | LongLM tok/s | llama.cpp tok/s | LongLM / llama.cpp (median of pairs) | per-pair range |")
print("|---|---:|---:|---:|---:|")
for row, by_pair in runs.items():
    ratios = [p["longlm"] / p["llama"] for p in by_pair.values() if "longlm" in p and "llama" in p]
    mine = statistics.median(p["longlm"] for p in by_pair.values())
    theirs = statistics.median(p["llama"] for p in by_pair.values())
    print(f"| {row} | {mine:.2f} | {theirs:.2f} | {statistics.median(ratios):.2f}x | {min(ratios):.2f}-{max(ratios):.2f} |")
EOF
