#!/usr/bin/env bash
# Latency vs MACs of every MNv4 model (like the paper's figures): times each at its
# native resolution with mnv4-run, writes build/models.csv and renders
# docs/pareto.png with gnuplot (Debian: gnuplot-nox).
#   benchmarks/pareto.sh [runs] [threads]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-20}
threads=${2:-1}
mnv4=build/release/tools/mnv4-run
[ -x "$mnv4" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
csv=build/models.csv
echo "model,resolution,gmacs,mparams,median_ms" > "$csv"
for spec in conv_small_035:224 conv_small_050:224 conv_small:224 conv_medium:256 conv_large:384 \
            hybrid_medium_075:256 hybrid_medium:256 hybrid_large_075:384 hybrid_large:384; do
  name=mobilenetv4_${spec%%:*} res=${spec##*:}
  line=$("$mnv4" --model "$name" --resolution "$res" "$res" --bench "$runs" --threads "$threads")
  get() { sed -E "s/.*$1=([0-9.]+).*/\1/" <<<"$line"; }
  awk -v n="${spec%%:*}" -v r="$res" -v m="$(get macs)" -v p="$(get params)" -v t="$(get median_ms)" \
    'BEGIN { printf "%s,%d,%.3f,%.2f,%.3f\n", n, r, m / 1e9, p / 1e6, t }' >> "$csv"
done
cat "$csv"
gnuplot <<GP
set terminal pngcairo size 960,600 font "sans,11" noenhanced
set output "docs/pareto.png"
set datafile separator ","
set title "mnv4: MobileNetV4 latency vs MACs (batch 1, ${threads} thread(s), native resolution)"
set xlabel "GMACs"
set ylabel "median latency (ms)"
set logscale xy
set xrange [0.03:20]
set grid
set key off
plot "$csv" every ::1 using 3:5 with points pt 7 ps 1.5 lc rgb "#1f77b4", \
     "$csv" every ::1 using 3:5:(sprintf("%s @%d", stringcolumn(1), column(2))) with labels offset char 1,-0.2 left font ",9"
GP
echo "wrote docs/pareto.png"
