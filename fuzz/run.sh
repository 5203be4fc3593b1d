#!/usr/bin/env bash
# Builds the fuzzers with clang, writes the seed corpus and runs each target for
# SECONDS (default 60). Fails on any finding; the crashing input is left in
# build/fuzz/artifacts/ — add it to fuzz/regressions/ so the unit tests keep it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
CXX=clang++ cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMNV4_BUILD_FUZZERS=ON \
  -DMNV4_BUILD_TESTS=OFF -DMNV4_BUILD_BENCHMARKS=OFF -DMNV4_BUILD_EXAMPLES=OFF -DMNV4_BUILD_TOOLS=OFF >/dev/null
cmake --build build/fuzz -j2 --target fuzz_safetensors fuzz_checkpoint make_corpus
corpus=build/fuzz/corpus
build/fuzz/fuzz/make_corpus "$corpus/seeds"
cp fuzz/regressions/* "$corpus/seeds/" 2>/dev/null || true
mkdir -p build/fuzz/artifacts
# The parser fuzzer mutates small files fast; the binding fuzzer needs room for a whole checkpoint.
declare -A max_len=([fuzz_safetensors]=65536 [fuzz_checkpoint]=4194304)
for target in fuzz_safetensors fuzz_checkpoint; do
  mkdir -p "$corpus/$target"
  echo "== $target for ${seconds}s"
  build/fuzz/fuzz/$target -max_total_time="$seconds" -max_len="${max_len[$target]}" -rss_limit_mb=4096 -timeout=10 \
    -artifact_prefix=build/fuzz/artifacts/ -print_final_stats=1 "$corpus/$target" "$corpus/seeds" 2>&1 |
    tee "build/fuzz/$target.log" | grep -E "^#[0-9]+[[:space:]]+(DONE|INITED)|stat::|ERROR|SUMMARY" || true
  # libFuzzer exits non-zero on a finding; pipefail carries it here.
done
