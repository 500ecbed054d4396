#!/usr/bin/env bash
# The llama.cpp anchor: builds llama.cpp (CPU only, cmake, -march=native) from its public source into a scratch
# folder, writes LongLM's benchmark fixtures (random weights, HF layout) and converts the same weights to GGUF, so
# that bench/compare.sh can run both runtimes side by side on identical bytes. Never run by CI.
#
#   bench/anchors/llamacpp.sh
#
# Environment:
#   SCRATCH           where everything goes (default /tmp/longlm-anchor); nothing is written to the repository
#   LLAMA_CPP_SRC     an existing llama.cpp checkout to build (default: clone LLAMA_CPP_REPO at LLAMA_CPP_COMMIT)
#   LLAMA_CPP_REPO    default https://github.com/ggml-org/llama.cpp
#   LLAMA_CPP_COMMIT  default c392e5094deaf2d1a7c18683214f007fad3fe42b (2025-02-20), the commit bench/RESULTS.md's
#                     side-by-side table was measured with
#   SHAPES            fixture shapes (default "smollm-135m tinyllama-1.1b"; see `longlm make-fixture --help`)
#
# Writes: $SCRATCH/llama.cpp/build/bin/{llama-bench,llama-batched-bench,llama-simple,llama-quantize},
# $SCRATCH/fixtures/SHAPE-{f32,bf16}/ (HF layout, for LongLM) and $SCRATCH/gguf/SHAPE-{f32,bf16,q8_0,q4_0}.gguf.
# The q8_0/q4_0 files are quantized from the F32 GGUF with `llama-quantize --pure` (every matrix, the tied
# embedding/output table included, in the one type), which is what `longlm --quantize T --quantize-output` loads.
# GGUF conversion: bench/anchors/hf_to_gguf.py (numpy only, written from the GGUF spec; llama.cpp's converter needs
# torch and transformers). On the F32 SmolLM fixture both runtimes generate the same 12 greedy tokens.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo_root=$PWD
scratch=${SCRATCH:-/tmp/longlm-anchor}
commit=${LLAMA_CPP_COMMIT:-c392e5094deaf2d1a7c18683214f007fad3fe42b}
shapes=${SHAPES:-"smollm-135m tinyllama-1.1b"}
python=/usr/bin/python3
mkdir -p "$scratch"

command -v cmake >/dev/null || { echo "llamacpp.sh: needs cmake and a C++ compiler" >&2; exit 2; }
"$python" -c "import numpy" 2>/dev/null || { echo "llamacpp.sh: needs numpy for $python (Debian: python3-numpy)" >&2; exit 2; }

# 1. Source.
src=$scratch/llama.cpp
if [ -n "${LLAMA_CPP_SRC:-}" ]; then
  src=$LLAMA_CPP_SRC
elif [ ! -d "$src/.git" ]; then
  git clone "${LLAMA_CPP_REPO:-https://github.com/ggml-org/llama.cpp}" "$src"
  git -C "$src" checkout -q "$commit"
fi
echo "llama.cpp: $src at $(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)"

# 2. Build (CPU backend only; the four tools compare.sh and startup.sh use).
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF >/dev/null
cmake --build "$src/build" -j"$(nproc)" --target llama-bench llama-batched-bench llama-simple llama-quantize >/dev/null
bin=$src/build/bin

# 3. Fixtures and their GGUFs.
dotnet build tools/LongLM.Cli -c Release -v q -nologo >/dev/null
longlm=$repo_root/tools/LongLM.Cli/bin/Release/net10.0/longlm
mkdir -p "$scratch/fixtures" "$scratch/gguf"
for shape in $shapes; do
  for dtype in f32 bf16; do
    dir=$scratch/fixtures/$shape-$dtype
    [ -f "$dir/model.safetensors" ] || "$longlm" make-fixture --family llama --shape "$shape" --dtype "$dtype" --seed 1 --out "$dir" >/dev/null
    gguf=$scratch/gguf/$shape-$dtype.gguf
    [ -f "$gguf" ] || "$python" bench/anchors/hf_to_gguf.py "$dir" "$gguf"
  done
  for q in q8_0 q4_0; do
    out=$scratch/gguf/$shape-$q.gguf
    [ -f "$out" ] || "$bin/llama-quantize" --pure "$scratch/gguf/$shape-f32.gguf" "$out" "${q^^}" >/dev/null 2>&1
  done
done

echo "LLAMA_CPP_BIN=$bin"
echo "ANCHOR=$scratch"
echo "next: LLAMA_CPP_BIN=$bin ANCHOR=$scratch bench/compare.sh"
