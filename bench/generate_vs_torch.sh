#!/usr/bin/env bash
# Generation speed, ablm (KV cache, bench_generate) and its PyTorch peer
# (bench/generate_torch.py, KV cache) back to back on the same config, with
# passive OpenMP waiting for both; then the ratios: ablm over PyTorch
# tokens/s (wall) and CPU ms per step per batch and length, and each side's
# flatness (ms per step at the longest length over the shortest; the issue
# asks for <= 1.2 from 128 to 512 tokens).
# usage: bench/generate_vs_torch.sh [BUILD_DIR] [flags for both: --config --batches --lengths --threads --num_beams]
#        bench/generate_vs_torch.sh [BUILD_DIR] --encdec H2L_DIR [--source_len S] [--batches --lengths --threads]
#        (the encoder-decoder of an ablm train-h2l directory, both sides on its weights)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
export OMP_WAIT_POLICY=PASSIVE
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
uptime
"$build/bench_generate" "$@" | tee "$out/ablm"
/usr/bin/python3 bench/generate_torch.py "$@" | tee "$out/torch"
uptime
# rows "batch tokens wall cpu tokens/s cpu_ms/step" (6 numeric fields) of both
awk '
  FNR == 1 { side++ }
  NF == 6 && $1 ~ /^[0-9]+$/ && $2 ~ /^[0-9]+$/ {
    k = $1 " " $2; tps[side, k] = $5; cms[side, k] = $6; wms[side, k] = $1 * 1e3 / $5
    if (side == 1) order[++n] = k
    if (!(($1) in lo) || $2 < lo[$1]) lo[$1] = $2
    if (!(($1) in hi) || $2 > hi[$1]) hi[$1] = $2
  }
  END {
    printf "\n%6s %7s %14s %14s %10s %14s\n", "batch", "tokens", "ablm tok/s", "torch tok/s", "tok/s x", "cpu ms/step x"
    for (i = 1; i <= n; i++) {
      k = order[i]
      if (!((2, k) in tps)) continue
      split(k, f, " ")
      printf "%6d %7d %14.0f %14.0f %10.2f %14.2f\n", f[1], f[2], tps[1, k], tps[2, k],
             tps[1, k] / tps[2, k], cms[1, k] / cms[2, k]
    }
    printf "\nflatness (ms per step, longest over shortest length; <= 1.2 asked):\n"
    for (b in lo) {
      if (lo[b] == hi[b]) continue
      kl = b " " lo[b]; kh = b " " hi[b]
      r = cms[1, kh] / cms[1, kl]
      printf "batch %s, %d over %d: ablm wall %.3f cpu %.3f (%s) | torch wall %.3f cpu %.3f\n", b, hi[b], lo[b],
             wms[1, kh] / wms[1, kl], r, r <= 1.2 ? "within 20%" : "NOT within 20%", wms[2, kh] / wms[2, kl], cms[2, kh] / cms[2, kl]
    }
  }' "$out/ablm" "$out/torch"
