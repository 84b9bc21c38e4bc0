#!/usr/bin/env bash
# Instructions per element of each memory-bound kernel (ops/kern.h), scalar
# against AVX2, counted by callgrind (repeatable on a busy machine, unlike
# timings; valgrind emulates no AVX-512, so the avx512 kernels are timed by
# bench_kernels only). Each run calls the kernel twice (warm-up + 1 rep) on
# N floats; the count is the kernel function's inclusive cost (libm calls
# included) / (2 N).
# usage: bench/kernels_callgrind.sh [BUILD_DIR] [N]
set -euo pipefail
build=${1:-build}; n=${2:-65536}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
printf '%-22s %10s %10s %8s\n' kernel scalar avx2 ratio
for k in add acc dropout dropout_bwd gelu gelu_bwd gelu_new gelu_new_bwd layer_norm layer_norm_bwd layer_norm_params_bwd adamw; do
  case $k in
    dropout_bwd) fn=dropout ;; layer_norm) fn=ln_row ;; layer_norm_bwd) fn=ln_row_bwd ;;
    layer_norm_params_bwd) fn=ln_params_bwd ;; *) fn=$k ;;
  esac
  row=()
  for l in scalar avx2; do
    suf=$([ $l = scalar ] && echo _s || echo _avx2)
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$build/bench_kernels" --level $l --kernel $k --reps 1 --n "$n" >/dev/null 2>&1
    ir=$(callgrind_annotate --inclusive=yes "$tmp/cg" 2>/dev/null | grep -E "[?:]${fn}${suf} \[" | head -1 | awk '{gsub(",","",$1); print $1}')
    row+=("$(awk -v ir="${ir:-0}" -v n="$n" 'BEGIN{printf "%.2f", ir/(2*n)}')")
  done
  awk -v k=$k -v s="${row[0]}" -v a="${row[1]}" 'BEGIN{printf "%-22s %10s %10s %7.1fx\n", k, s, a, (a>0? s/a : 0)}'
done
