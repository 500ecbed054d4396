#!/usr/bin/env bash
# Builds everything and runs the whole test suite (CPU only; no GPU needed):
#  1. the offline PTX check: every ILGPU kernel compiled to PTX (sm_80, ISA 7.8) and assembled by ptxas 11.8
#     for sm_80 and sm_90 (ptxas is fetched once from Debian into .tools/, nothing installed system-wide);
#  2. the xunit suite (cpu and ilgpu-cpu backends; cuda tests run only with LONGLM_TEST_CUDA=1);
#  3. the package check (tools/pack/check.sh): dotnet pack gives exactly LongLM and LongLM.Cuda with the right
#     contents and dependencies, the samples build from those packages and generate the expected greedy ids from
#     ../shared/models/stories260K.
# Ends with the line "N passed, N failed, N skipped" computed from the test results file (a failed PTX check and a
# failed package check count as one failure each).
set -uo pipefail
cd "$(dirname "$0")"
ptx_failed=0
tools/ptx/check.sh --no-kernels-md || ptx_failed=1
results="$(pwd)/artifacts/test-results"
rm -rf "$results"
dotnet test Kernels.sln -c Release --logger "trx;LogFileName=results.trx" --results-directory "$results" "$@"
status=$?
pack_failed=0
tools/pack/check.sh --no-build || pack_failed=1
[ "$ptx_failed" -eq 0 ] || status=1
[ "$pack_failed" -eq 0 ] || status=1
trx=$(find "$results" -name '*.trx' 2>/dev/null | head -n 1)
if [ -z "$trx" ]; then
  echo "no test results were written (build failed?)"
  echo "0 passed, $((1 + ptx_failed + pack_failed)) failed"
  exit 1
fi
counters=$(grep -o '<Counters [^>]*>' "$trx")
num() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
passed=$(num passed); failed=$(( $(num failed) + ptx_failed + pack_failed )); total=$(num total); executed=$(num executed)
skipped=$(( total - executed ))
[ "$passed" -gt 0 ] || status=1
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
