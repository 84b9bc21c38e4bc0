#!/usr/bin/env bash
# Training-step speed of ablm against PyTorch (Debian's python3-torch) in one
# invocation: the same RobertaForMaskedLM config, batch, length, dropout,
# clipping and AdamW, the same thread count. Runs each side REPEATS times,
# alternating, and prints a markdown table with the medians and the ratio.
# PyTorch runs twice per repeat: with torch.set_num_threads(THREADS) and with
# set_num_threads(1), which on Debian's build still lets OpenBLAS use every
# core and is often PyTorch's faster setting; the ratio is taken against the
# faster of the two.
# Usage: bench/train_vs_torch.sh [CONFIG] [BATCH] [LENGTH] [THREADS] [STEPS] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/heavy_small.json} batch=${2:-16} length=${3:-130} threads=${4:-2}
steps=${5:-5} repeats=${6:-3}
scripts/ensure-deps.sh python3-torch >/dev/null
scripts/build.sh build >/dev/null
py=/usr/bin/python3
ours=() theirs=() theirs1=()
for r in $(seq "$repeats"); do
  ours+=("$(build/bench_train --config "$config" --batch "$batch" --length "$length" --threads "$threads" --steps "$steps" --warmup 2)")
  theirs+=("$($py bench/train_step_torch.py "$config" "$batch" "$length" "$steps" 2 "$threads")")
  theirs1+=("$($py bench/train_step_torch.py "$config" "$batch" "$length" "$steps" 2 1)")
done
printf '%s\n' "${ours[@]}" > /tmp/ablm_bench_ours.jsonl
printf '%s\n' "${theirs[@]}" > /tmp/ablm_bench_torch.jsonl
printf '%s\n' "${theirs1[@]}" > /tmp/ablm_bench_torch1.jsonl
$py - "$config" "$batch" "$length" "$threads" <<'PY'
import json, statistics, sys, os
cfg, B, T, th = sys.argv[1:5]
ours = [json.loads(l) for l in open("/tmp/ablm_bench_ours.jsonl")]
torch = [json.loads(l) for l in open("/tmp/ablm_bench_torch.jsonl")]
torch1 = [json.loads(l) for l in open("/tmp/ablm_bench_torch1.jsonl")]
med = lambda rows, k: statistics.median(r[k] for r in rows)
print(f"config {cfg}, batch {B} x length {T}, {th} threads, load average {os.getloadavg()[0]:.2f}")
print("| implementation | ms/step | forward ms | backward ms | optimizer ms | tokens/s |")
print("| --- | --- | --- | --- | --- | --- |")
rows_all = [(f"ablm ({th} threads)", ours), (f"{torch[0]['impl']} (set_num_threads {th})", torch)]
if th != "1":
    rows_all.append((f"{torch[0]['impl']} (set_num_threads 1)", torch1))
for name, rows in rows_all:
    print(f"| {name} | {med(rows,'ms_per_step'):.0f} | {med(rows,'forward_ms'):.0f} | "
          f"{med(rows,'backward_ms'):.0f} | {med(rows,'optimizer_ms'):.0f} | {med(rows,'tokens_per_s'):.0f} |")
best = min(med(torch, 'ms_per_step'), med(torch1, 'ms_per_step'))
print(f"\nablm is {best / med(ours,'ms_per_step'):.2f}x PyTorch's speed (median step time of PyTorch's faster setting / ablm's)")
PY
