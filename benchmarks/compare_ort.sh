#!/usr/bin/env bash
# mnv4 vs ONNX Runtime, side by side in one run (alternating, medians), batch 1.
#   benchmarks/compare_ort.sh [runs] [rounds]
# Needs: a Release build (build/release/tools/mnv4-run), node and npm, and
# ../shared/peers (ONNX exports of the Conv-S and Hybrid-M goldens, ort_bench.mjs).
# ONNX Runtime 1.30 is installed once into build/ort (npm, --ignore-scripts).
# Models without an ONNX file are compared with the peers table, scaled by the
# ratio of today's to the table's ONNX Runtime time on the two shared models.
# Prints a markdown table and writes build/compare_ort.csv. Not part of the tests.
# % of peak is against ../shared/peers' machine (210.7 GFLOP/s a core) unless
# MNV4_PEAK_GFLOPS gives this one's (bench_kernels --benchmark_filter=fma_peak).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-30}
rounds=${2:-3}
peers=../shared/peers
mnv4=build/release/tools/mnv4-run
[ -x "$mnv4" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
if [ ! -d build/ort/node_modules/onnxruntime-node ]; then
  mkdir -p build/ort
  (cd build/ort && npm install --silent onnxruntime-node@1.30.0 --ignore-scripts >/dev/null)
fi
export ORT_DIR=$PWD/build/ort

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mnv4_ms() { "$mnv4" --model "$1" --resolution "$2" "$2" --bench "$runs" --threads "$3" | sed -E 's/.*median_ms=([0-9.]+).*/\1/'; }
ort_ms() { node "$peers/ort_bench.mjs" "$1" "$2" 5 "$runs" | sed -E 's/.*median_ms=([0-9.]+).*/\1/'; }

# Peers table (1T, 2T) for scaling the models without an ONNX file.
declare -A table=([conv_small_224]="3.07 2.09" [conv_medium_256]="15.1 9.5" [conv_large_384]="77.6 43.1"
                  [hybrid_medium_256]="18.3 12.1" [hybrid_large_384]="107.0 59.1")
declare -A gmacs=([conv_small_224]=0.186 [conv_medium_256]=1.080 [conv_large_384]=6.376
                  [hybrid_medium_256]=1.271 [hybrid_large_384]=7.712)
# fp32 peak of 1 and 2 cores: ../shared/peers' machine unless MNV4_PEAK_GFLOPS (one core) says this one's.
peak_of() {
  if [ -n "${MNV4_PEAK_GFLOPS:-}" ]; then awk -v p="$MNV4_PEAK_GFLOPS" -v t="$1" 'BEGIN{print p*t}'
  else [ "$1" = 1 ] && echo 210.7 || echo 404.8; fi
}
echo "model,threads,mnv4_ms,ort_ms,ratio,mnv4_gflops,pct_peak,ort_source" > build/compare_ort.csv
printf '| model | threads | mnv4 ms | ORT ms | ratio | mnv4 GFLOP/s | %% of fp32 peak (threads cores) | ORT figure |\n|---|---|---|---|---|---|---|---|\n'
declare -A scale
for threads in 1 2; do
  # Measured pairs first (alternating rounds), to get today's scale factor.
  for key in conv_small_224 hybrid_medium_256; do
    model=mobilenetv4_${key%_*}; res=${key##*_}
    m=(); o=()
    for ((r = 0; r < rounds; r++)); do
      m+=("$(mnv4_ms "$model" "$res" "$threads")")
      o+=("$(ort_ms "$peers/mobilenetv4_$key.onnx" "$threads")")
    done
    mm=$(printf '%s\n' "${m[@]}" | median); om=$(printf '%s\n' "${o[@]}" | median)
    t=(${table[$key]}); scale[$key]=$(awk -v a="$om" -v b="${t[$((threads - 1))]}" 'BEGIN{print a/b}')
    gf=$(awk -v g="${gmacs[$key]}" -v ms="$mm" 'BEGIN{printf "%.1f", 2*g/ms*1000}')
    pct=$(awk -v f="$gf" -v p="$(peak_of "$threads")" 'BEGIN{printf "%.0f", 100*f/p}')
    ratio=$(awk -v a="$mm" -v b="$om" 'BEGIN{printf "%.2f", a/b}')
    printf '| %s | %s | %.2f | %.2f | %s | %s | %s%% | measured |\n' "$model" "$threads" "$mm" "$om" "$ratio" "$gf" "$pct"
    echo "$model,$threads,$mm,$om,$ratio,$gf,$pct,measured" >> build/compare_ort.csv
  done
  s=$(awk -v a="${scale[conv_small_224]}" -v b="${scale[hybrid_medium_256]}" 'BEGIN{print (a+b)/2}')
  for key in conv_medium_256 conv_large_384 hybrid_large_384; do
    model=mobilenetv4_${key%_*}; res=${key##*_}
    m=()
    for ((r = 0; r < rounds; r++)); do m+=("$(mnv4_ms "$model" "$res" "$threads")"); done
    mm=$(printf '%s\n' "${m[@]}" | median)
    t=(${table[$key]}); om=$(awk -v t="${t[$((threads - 1))]}" -v s="$s" 'BEGIN{printf "%.2f", t*s}')
    gf=$(awk -v g="${gmacs[$key]}" -v ms="$mm" 'BEGIN{printf "%.1f", 2*g/ms*1000}')
    pct=$(awk -v f="$gf" -v p="$(peak_of "$threads")" 'BEGIN{printf "%.0f", 100*f/p}')
    ratio=$(awk -v a="$mm" -v b="$om" 'BEGIN{printf "%.2f", a/b}')
    printf '| %s | %s | %.2f | %s | %s | %s | %s%% | table x %.2f |\n' "$model" "$threads" "$mm" "$om" "$ratio" "$gf" "$pct" "$s"
    echo "$model,$threads,$mm,$om,$ratio,$gf,$pct,table_scaled" >> build/compare_ort.csv
  done
done
