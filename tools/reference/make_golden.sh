#!/usr/bin/env bash
# Regenerate the golden logits files under tests/LongLM.Tests/golden/ with the
# independent NumPy reference (tools/reference/llama_ref.py).
#
#   tools/reference/make_golden.sh            # regenerate all golden files below
#
# Needs Debian's python with NumPy (apt-get install -y python3-numpy); override
# with PYTHON=... . Model folders default to /work/shared/models; override with
# MODELS=... .
#
# To add a golden file for another model folder (e.g. a random-weight fixture
# with biases and untied embeddings), add one `gen` line:
#   gen <model folder> <comma-separated ids> <output name> [all|last]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-/usr/bin/python3}"
MODELS="${MODELS:-/work/shared/models}"
GOLDEN="$ROOT/tests/LongLM.Tests/golden"

gen() {
  local model="$1" ids="$2" name="$3" positions="${4:-all}"
  echo "+ $PYTHON tools/reference/llama_ref.py --model $model --ids $ids --out $GOLDEN/$name --positions $positions"
  "$PYTHON" "$ROOT/tools/reference/llama_ref.py" \
    --model "$model" --ids "$ids" --out "$GOLDEN/$name" --positions "$positions"
}

mkdir -p "$GOLDEN"

# stories260K (llama2.c, HF Llama, F32, tied embeddings): BOS followed by the
# first 15 greedy ids of expected_greedy_200.json, logits at all 16 positions.
gen "$MODELS/stories260K" \
    1,403,407,261,378,432,383,286,261,376,298,315,421,395,317,426 \
    stories260K_logits.json all

# rope_scaling table (no model needed): inv_freq + attention factor per config.
echo "+ $PYTHON tools/reference/rope_scaling_ref.py --out $GOLDEN/rope_scaling.json"
"$PYTHON" "$ROOT/tools/reference/rope_scaling_ref.py" --out "$GOLDEN/rope_scaling.json"

# Random-weight fixtures written by `longlm make-fixture` (the tests rebuild them from the same seeds):
# tiny = q/k/v/o biases, untied lm_head, GQA 2:1, F32; tiny-tied = tied, GQA 2:1, BF16 storage.
LONGLM="${LONGLM:-$ROOT/tools/LongLM.Cli/bin/Release/net10.0/longlm}"
FIXTURES="$(mktemp -d)"
trap 'rm -rf "$FIXTURES"' EXIT
"$LONGLM" make-fixture --family llama --shape tiny --dtype f32 --seed 7 --out "$FIXTURES/tiny"
"$LONGLM" make-fixture --family llama --shape tiny-tied --dtype bf16 --seed 11 --out "$FIXTURES/tiny-tied"
gen "$FIXTURES/tiny" 5,100,257,300,12,42,318,7,99,150,200,250 fixture_tiny_f32_seed7_logits.json all
gen "$FIXTURES/tiny-tied" 5,100,257,299,12,42,280,7,99,150 fixture_tiny-tied_bf16_seed11_logits.json all
