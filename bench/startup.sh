#!/usr/bin/env bash
# Process start to first generated token: `longlm generate --max-tokens 1` as a whole process, run from the plain
# build (JIT at start-up) and from a ReadyToRun publish (precompiled code, JIT only for what R2R cannot cover),
# alternated run by run; prints the median wall time and peak RSS of each (GNU time). Optionally the same for
# llama.cpp's `llama-simple -n 1` on a GGUF of the same weights (LLAMA_CPP_BIN=dir, GGUF=file), and for another
# longlm binary (BASE_LONGLM=path, e.g. a ReadyToRun publish of an older commit, to measure a change).
#   bench/startup.sh [MODEL_DIR] [RUNS=5]
# The R2R publish goes to a scratch folder (SCRATCH, default /tmp/longlm-startup); nothing is written to the repo.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-../shared/models/stories260K}
runs=${2:-5}
scratch=${SCRATCH:-/tmp/longlm-startup}
prompt="Once upon a time"
[ -d "$model" ] || { echo "startup.sh: no model folder '$model'" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "startup.sh: needs GNU time (/usr/bin/time; Debian package 'time')" >&2; exit 2; }

dotnet build tools/LongLM.Cli -c Release -v q -nologo >/dev/null
dotnet publish tools/LongLM.Cli -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true \
  -o "$scratch/r2r" -v q -nologo >/dev/null
jit=tools/LongLM.Cli/bin/Release/net10.0/longlm
r2r=$scratch/r2r/longlm

declare -A times rss
programs=(jit r2r)
if [ -n "${BASE_LONGLM:-}" ]; then programs+=(base); fi
if [ -n "${LLAMA_CPP_BIN:-}" ] && [ -n "${GGUF:-}" ]; then programs+=(llama); fi
command_of() {
  case $1 in
    jit) cmd=("$jit" generate --model "$model" --prompt "$prompt" --max-tokens 1 --temperature 0) ;;
    r2r) cmd=("$r2r" generate --model "$model" --prompt "$prompt" --max-tokens 1 --temperature 0) ;;
    base) cmd=("$BASE_LONGLM" generate --model "$model" --prompt "$prompt" --max-tokens 1 --temperature 0) ;;
    llama) cmd=("$LLAMA_CPP_BIN/llama-simple" -m "$GGUF" -n 1 "$prompt") ;;
  esac
}
for _ in $(seq "$runs"); do
  for p in "${programs[@]}"; do
    command_of "$p"
    /usr/bin/time -f "%e %M" -o "$scratch/time.txt" "${cmd[@]}" >/dev/null 2>&1
    read -r sec kb < "$scratch/time.txt"
    times[$p]+="$sec "
    rss[$p]+="$kb "
  done
done
median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
echo "| program | median wall s | median peak RSS MB | runs |"
echo "|---|---:|---:|---:|"
for p in "${programs[@]}"; do
  t=$(echo "${times[$p]}" | median)
  m=$(echo "${rss[$p]}" | median)
  printf '| %s | %s | %.0f | %s |\n' "$p" "$t" "$(echo "$m / 1024" | bc -l)" "$runs"
done
