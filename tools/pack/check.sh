#!/usr/bin/env bash
# Package check, run by test.sh after the solution is built (Release):
#   1. dotnet pack Kernels.sln into artifacts/packages: exactly LongLM and LongLM.Cuda, at the version of
#      Directory.Build.props; LongLM holds the Kernels/Runtime/Models/Chat assemblies and does not depend on ILGPU,
#      LongLM.Cuda holds LongLM.Cuda.dll and depends on LongLM (same version) and ILGPU;
#   2. the samples build from those packages only (samples/nuget.config, own packages folder, emptied of LongLM
#      first so that nothing cached stands in for what was just packed);
#   3. samples/HelloLongLM generates greedily on the CPU from the model below (default ../shared/models/stories260K)
#      and its ids must be the first ones of expected_greedy_200.json; without LongLM.Cuda, backend cuda must be
#      the "add the LongLM.Cuda package" error; samples/HelloLongLM.Cuda must give the same ids on ilgpu-cpu.
# Usage: tools/pack/check.sh [--no-build] [--model DIR]   (--no-build: pack what is built, as test.sh does)
# Ends with "pack: ..." on success; exit status 0 only if every step passed.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
model="../shared/models/stories260K"
pack_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) pack_args+=(--no-build); shift ;;
    --model) [ $# -ge 2 ] || { echo "pack-check: --model needs a folder" >&2; exit 2; }
             model="$2"; shift 2 ;;
    *) echo "pack-check: unknown argument '$1'" >&2; exit 2 ;;
  esac
done

fail() { echo "pack-check: $*" >&2; exit 1; }
# unzip -p, or Python's zipfile where unzip is missing.
zip_cat() {
  if command -v unzip >/dev/null; then unzip -p "$1" "$2"
  else python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())' "$1" "$2"; fi
}
zip_list() {
  if command -v unzip >/dev/null; then unzip -Z1 "$1"
  else python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; fi
}

version=$(sed -n 's:.*<Version>\(.*\)</Version>.*:\1:p' Directory.Build.props | head -n 1)
[ -n "$version" ] || fail "no <Version> in Directory.Build.props"
packages="artifacts/packages"

# 1. Pack and read the packages back.
rm -rf "$packages"
dotnet pack Kernels.sln -c Release ${pack_args[@]+"${pack_args[@]}"} -o "$packages" -nologo -v quiet "-clp:ErrorsOnly;NoSummary" >&2 \
  || fail "dotnet pack Kernels.sln failed"
found=$(cd "$packages" && ls -1 ./*.nupkg 2>/dev/null | sed 's:^\./::' | sort | tr '\n' ' ')
[ "$found" = "LongLM.$version.nupkg LongLM.Cuda.$version.nupkg " ] \
  || fail "expected exactly LongLM.$version.nupkg and LongLM.Cuda.$version.nupkg in $packages, found: ${found:-nothing}"

cpu="$packages/LongLM.$version.nupkg"
cuda="$packages/LongLM.Cuda.$version.nupkg"
cpu_spec=$(zip_cat "$cpu" LongLM.nuspec)
cuda_spec=$(zip_cat "$cuda" LongLM.Cuda.nuspec)
deps() { grep -o '<dependency id="[^"]*" version="[^"]*"' | sed 's/<dependency id="\([^"]*\)" version="\([^"]*\)"/\1 \2/' | sort | tr '\n' ';'; }
cpu_deps=$(deps <<<"$cpu_spec")
cuda_deps=$(deps <<<"$cuda_spec")
for id in Google.Protobuf Microsoft.Extensions.AI.Abstractions Microsoft.ML.Tokenizers System.Numerics.Tensors; do
  [[ ";$cpu_deps" == *";$id "* ]] || fail "LongLM does not depend on $id (dependencies: $cpu_deps)"
done
[[ "$cpu_deps" != *ILGPU* ]] || fail "LongLM depends on ILGPU (dependencies: $cpu_deps)"
[[ "$cpu_deps$cuda_deps" != *"LongLM.Kernels"* && "$cpu_deps$cuda_deps" != *"LongLM.Runtime"* && "$cpu_deps$cuda_deps" != *"LongLM.Models"* && "$cpu_deps$cuda_deps" != *"LongLM.Chat"* ]] \
  || fail "a package depends on a project that is not a package (LongLM: $cpu_deps LongLM.Cuda: $cuda_deps)"
[[ ";$cuda_deps" == *";LongLM $version;"* ]] || fail "LongLM.Cuda does not depend on LongLM $version (dependencies: $cuda_deps)"
[[ ";$cuda_deps" == *";ILGPU "* && ";$cuda_deps" == *";ILGPU.Algorithms "* ]] || fail "LongLM.Cuda does not depend on ILGPU and ILGPU.Algorithms (dependencies: $cuda_deps)"
cpu_lib=$(zip_list "$cpu" | grep '^lib/' | sort | tr '\n' ' ')
cuda_lib=$(zip_list "$cuda" | grep '^lib/' | sort | tr '\n' ' ')
for asm in Chat Kernels Models Runtime; do
  [[ "$cpu_lib" == *"lib/net10.0/LongLM.$asm.dll "* && "$cpu_lib" == *"lib/net10.0/LongLM.$asm.xml "* ]] \
    || fail "LongLM lacks lib/net10.0/LongLM.$asm.dll or .xml (lib: $cpu_lib)"
done
[[ "$cpu_lib" != *Cuda* && "$cpu_lib" != *ILGPU* ]] || fail "LongLM holds the ILGPU backend (lib: $cpu_lib)"
[ "$cuda_lib" = "lib/net10.0/LongLM.Cuda.dll lib/net10.0/LongLM.Cuda.xml " ] || fail "LongLM.Cuda's lib is not just LongLM.Cuda.dll/.xml: $cuda_lib"
for spec in "$cpu_spec" "$cuda_spec"; do
  grep -q '<license type="expression">MIT</license>' <<<"$spec" || fail "a package has no MIT license expression"
  grep -q '<readme>README.md</readme>' <<<"$spec" || fail "a package has no readme"
done

# 2. Build the samples from those packages, never from a cache.
rm -rf artifacts/sample-packages/longlm artifacts/sample-packages/longlm.cuda
for sample in HelloLongLM HelloLongLM.Cuda; do
  # The build's output only when it fails (quiet builds still print a summary).
  log=$(dotnet build "samples/$sample" -c Release --force -nologo -v quiet "-clp:ErrorsOnly;NoSummary" 2>&1) \
    || { echo "$log" >&2; fail "samples/$sample does not build from the packages in $packages"; }
done
used=$(grep -o '"LongLM/[^"]*"' samples/HelloLongLM/obj/project.assets.json | head -n 1)
[ "$used" = "\"LongLM/$version\"" ] || fail "samples/HelloLongLM restored ${used:-no LongLM}, not LongLM/$version"

# 3. Run them.
[ -f "$model/config.json" ] || fail "model folder $model not found (the shared models live in ../shared)"
expected=""
if [ -f "$model/expected_greedy_200.json" ]; then
  expected=$(grep -o '"greedy_ids": *\[[^]]*\]' "$model/expected_greedy_200.json" | sed 's/.*\[//; s/\]//; s/,/ /g' | tr -s ' ' | cut -d' ' -f1-20)
fi
run_sample() {  # NAME BACKEND: runs the sample from BOS (empty prompt), prints its "ids:" line's ids
  local out
  out=$(dotnet "samples/$1/bin/Release/net10.0/$1.dll" "$model" "" --tokens 20 --backend "$2") \
    || fail "samples/$1 on $2 failed (exit $?)"
  sed -n 's/^ids: //p' <<<"$out"
}
ids=$(run_sample HelloLongLM cpu)
[ -n "$ids" ] || fail "samples/HelloLongLM printed no ids"
if [ -n "$expected" ]; then
  [ "$ids" = "$expected" ] || fail "samples/HelloLongLM greedy ids differ from $model/expected_greedy_200.json: got '$ids', expected '$expected'"
fi
set +e
err=$(dotnet samples/HelloLongLM/bin/Release/net10.0/HelloLongLM.dll "$model" --backend cuda 2>&1 >/dev/null)
rc=$?
set -e
[ "$rc" -eq 2 ] && [[ "$err" == *"add it (dotnet add package LongLM.Cuda)"* ]] \
  || fail "without LongLM.Cuda, backend cuda should be the 'add the LongLM.Cuda package' error with exit 2; got exit $rc: $err"
ilgpu_ids=$(run_sample HelloLongLM.Cuda ilgpu-cpu)
[ "$ilgpu_ids" = "$ids" ] || fail "samples/HelloLongLM.Cuda on ilgpu-cpu gave '$ilgpu_ids', cpu gave '$ids'"

echo "pack: LongLM $version ($cpu_deps) and LongLM.Cuda $version ($cuda_deps); samples built from them: 20 greedy ids ${expected:+as expected_greedy_200.json }on cpu and ilgpu-cpu, cuda without LongLM.Cuda is the add-the-package error"
