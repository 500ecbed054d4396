#!/usr/bin/env bash
# Builds everything and runs the whole test suite (CPU only; no GPU needed).
# Ends with the line "N passed, N failed" computed from the test results file.
set -uo pipefail
cd "$(dirname "$0")"
results="$(pwd)/artifacts/test-results"
rm -rf "$results"
dotnet test Kernels.sln -c Release --logger "trx;LogFileName=results.trx" --results-directory "$results" "$@"
status=$?
trx=$(find "$results" -name '*.trx' 2>/dev/null | head -n 1)
if [ -z "$trx" ]; then
  echo "no test results were written (build failed?)"
  echo "0 passed, 1 failed"
  exit 1
fi
counters=$(grep -o '<Counters [^>]*>' "$trx")
num() { echo "$counters" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
passed=$(num passed); failed=$(num failed); total=$(num total); executed=$(num executed)
skipped=$(( total - executed ))
[ "$passed" -gt 0 ] || status=1
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit $status
