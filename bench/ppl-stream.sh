#!/usr/bin/env bash
# LM-Infinite's long-stream perplexity as a benchmark: `longlm ppl` under Lambda attention over N tokens of the
# TinyStories sample, cycled (--repeat), run R times; prints each run's tokens/s and peak working set, then the median.
# The issue's shorter version of the 200M-token run: bench/ppl-stream.sh (10M tokens, 3 runs).
# usage: bench/ppl-stream.sh [TOKENS=10000000] [RUNS=3] [MODEL=../shared/models/stories260K] [extra longlm ppl flags...]
set -euo pipefail
cd "$(dirname "$0")/.."
tokens=${1:-10000000}
runs=${2:-3}
model=${3:-../shared/models/stories260K}
shift $(( $# < 3 ? $# : 3 ))
text=../shared/corpus/tinystories-sample.txt
dotnet build tools/LongLM.Cli -c Release -v q -nologo >/dev/null
longlm=tools/LongLM.Cli/bin/Release/net10.0/longlm
rates=()
for r in $(seq 1 "$runs"); do
  json=$("$longlm" ppl -m "$model" --text "$text" -n "$tokens" --repeat --attention lambda --json "$@")
  rate=$(python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.0f %.0f %.4f" % (d["tokens_per_second"], d["peak_working_set_bytes"]/2**20, d["total"]["ppl"]))' <<<"$json")
  echo "run $r: tokens/s, peak working set MiB, ppl = $rate"
  rates+=("${rate%% *}")
done
printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; print "median tokens/s over " NR " runs: " m}'
