#!/usr/bin/env bash
# Instructions of one heavy_small training step (bench_train: forward,
# backward, clipping, AdamW; batch B x LENGTH, one thread) at the scalar and
# the avx2 kernel level, by callgrind: the memory-bound ops' inclusive
# instruction counts and the whole run's (model initialisation included).
# Repeatable on a busy machine; valgrind has no AVX-512. Takes minutes.
# usage: bench/step_callgrind.sh [BUILD_DIR] [CONFIG] [BATCH (4)] [LENGTH (130)]
set -euo pipefail
build=${1:-build}; config=${2:-configs/heavy_small.json}; batch=${3:-4}; length=${4:-130}
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# opt_clip_grad_norm includes opt_grad_norm (bench_train calls only the former)
ops="layer_norm_forward layer_norm_backward gelu_forward gelu_backward dropout_forward dropout_backward binary_forward binary_backward embedding_backward tg_sum_rows_into opt_adamw_step opt_clip_grad_norm"
for l in scalar avx2; do
  OMP_WAIT_POLICY=PASSIVE ABLM_CPU=$l valgrind --tool=callgrind --callgrind-out-file="$tmp/$l" \
    "$build/bench_train" --config "$config" --batch "$batch" --length "$length" --steps 1 --warmup 0 --threads 1 >/dev/null 2>&1
  callgrind_annotate --inclusive=yes --threshold=100 "$tmp/$l" 2>/dev/null >"$tmp/$l.txt"
done
ir() { # inclusive Ir of function $2 in level $1's annotation
  grep -E "[?:]$2 \[" "$tmp/$1.txt" | head -1 | awk '{gsub(",","",$1); print $1+0}'
}
printf '%-22s %16s %16s %7s\n' function scalar avx2 ratio
ts=0; ta=0
for f in $ops; do
  s=$(ir scalar "$f"); a=$(ir avx2 "$f"); s=${s:-0}; a=${a:-0}
  ts=$((ts + s)); ta=$((ta + a))
  awk -v f="$f" -v s="$s" -v a="$a" 'BEGIN{printf "%-22s %16.0f %16.0f %6.1fx\n", f, s, a, (a>0? s/a : 0)}'
done
s=$(ir scalar opt_grad_norm); a=$(ir avx2 opt_grad_norm) # part of clipping: not summed
awk -v s="${s:-0}" -v a="${a:-0}" 'BEGIN{printf "%-22s %16.0f %16.0f %6.1fx\n", "(opt_grad_norm)", s, a, (a>0? s/a : 0)}'
awk -v s="$ts" -v a="$ta" 'BEGIN{printf "%-22s %16.0f %16.0f %6.1fx\n", "these ops", s, a, s/a}'
for l in scalar avx2; do
  grep -m1 "PROGRAM TOTALS" "$tmp/$l.txt" | awk -v l=$l '{gsub(",","",$1); printf "program total (%s): %s\n", l, $1}'
done
