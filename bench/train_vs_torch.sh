#!/usr/bin/env bash
# Training-step speed of ablm against PyTorch (Debian's python3-torch) in one
# invocation: the same RobertaForMaskedLM config, batch, dropout, clipping and
# AdamW on the same batch. For every config and length it runs, REPEATS times
# alternating:
#   ablm fp32 and ablm --bf16 (build/bench_train), PyTorch fp32 and PyTorch
#   bf16 autocast (bench/train_step_torch.py), each at 1 and 2 threads
#   (torch.set_num_threads; Debian's torch uses OpenBLAS's own pool for fp32
#   GEMMs, so its 1-thread setting can still use both cores, often its best).
# and prints one markdown table per config/length: medians of ms/step,
# tokens/s, the model's GFLOP/s, the GEMM rate the same process measured on
# the step's linear-layer shapes in the same dtype, and the share of it the
# step reaches, peak RSS (MB, before the GEMM-rate measurement), and each
# row's speed relative to PyTorch's fastest row.
# Then the CPU model and flags.
#
# The batch: LENGTH "real" (default) = the first BATCH heavy chains of UNIT
# with at most 128 residues, padded to the longest (bench_train --data, and the
# same ids and labels for PyTorch through --dump); a number = random residues
# at exactly that length.
#
# Usage: bench/train_vs_torch.sh [CONFIGS] [BATCH] [STEPS] [REPEATS] [LENGTHS] [UNIT]
#   e.g. bench/train_vs_torch.sh configs/heavy_small.json 16 5 3
#        bench/train_vs_torch.sh "configs/heavy_small.json configs/heavy_base.json" 16 5 3 "real 64 256 512"
set -euo pipefail
cd "$(dirname "$0")/.."
configs=${1:-configs/heavy_small.json} batch=${2:-16} steps=${3:-5} repeats=${4:-3}
lengths=${5:-real}
unit=${6:-$(ls ../shared/data/oas-paired/*.csv.gz 2>/dev/null | head -1)}
scripts/ensure-deps.sh python3-torch >/dev/null
scripts/build.sh build >/dev/null
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for config in $configs; do
  for length in $lengths; do
    if [ "$length" = real ]; then
      [ -n "$unit" ] || { echo "train_vs_torch.sh: no OAS unit (../shared/data/oas-paired) for real chains" >&2; exit 1; }
      data=(--data "$unit" --length 130 --dump "$tmp/batch.txt") len=130
    else
      data=(--length "$length") len=$length
    fi
    # the batch file first (one untimed step), so PyTorch trains on it from the first repeat
    build/bench_train --config "$config" --batch "$batch" "${data[@]}" --steps 1 --warmup 0 --threads 1 >/dev/null
    bfile=$([ "$length" = real ] && echo "$tmp/batch.txt" || echo "")
    : >"$tmp/rows.jsonl"
    # ablm --bf16 needs bf16 matrix products (AVX-512); without them its row is
    # left out and said so, and PyTorch's bf16 autocast row still runs
    ablm_bf16=1
    build/bench_train --config "$config" --batch "$batch" "${data[@]}" --steps 1 --warmup 0 --threads 1 \
      --bf16 >/dev/null 2>"$tmp/bf16.err" || { ablm_bf16=0; echo "train_vs_torch.sh: no ablm --bf16 row: $(cat "$tmp/bf16.err")" >&2; }
    # PyTorch's bf16 autocast is its best setting only on CPUs with bf16
    # instructions; elsewhere oneDNN emulates it (measured on AMD Zen 3:
    # minutes per step), so its row runs only where the CPU has them
    torch_bf16=1
    grep -q -w -E 'avx512_bf16|amx_bf16' /proc/cpuinfo || { torch_bf16=0
      echo "train_vs_torch.sh: no PyTorch bf16 autocast row: this CPU has neither avx512_bf16 nor amx_bf16, so PyTorch's best setting is fp32" >&2; }
    for r in $(seq "$repeats"); do
      for th in 1 2; do
        for prec in fp32 bf16; do
          flag=$([ $prec = bf16 ] && echo --bf16 || true)
          [ $prec = bf16 ] && [ $ablm_bf16 = 0 ] ||
          build/bench_train --config "$config" --batch "$batch" "${data[@]}" --threads "$th" \
            --steps "$steps" --warmup 2 $flag >>"$tmp/rows.jsonl"
          [ $prec = bf16 ] && [ $torch_bf16 = 0 ] ||
          $py bench/train_step_torch.py "$config" "$batch" "$len" "$steps" 2 "$th" "$prec" $bfile >>"$tmp/rows.jsonl"
        done
      done
    done
    $py - "$tmp/rows.jsonl" "$config" "$length" "$unit" <<'PY'
import json, os, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cfg, length, unit = sys.argv[2:5]
groups = {}
for r in rows:
    name = ("ablm" if r["impl"] == "ablm" else "pytorch") + (" --bf16" if r["impl"] == "ablm" and r["precision"] == "bf16" else
            " bf16 autocast" if r["precision"] == "bf16" else " fp32")
    groups.setdefault((name, r["threads"]), []).append(r)
med = lambda rs, k: statistics.median(x[k] for x in rs)
r0 = rows[0]
what = f"{r0['batch']} real heavy chains of {os.path.basename(unit)} padded to {r0['length']}" if length == "real" \
    else f"{r0['batch']} x {r0['length']} random residues"
print(f"\n{cfg}, {what}, {len(rows) // len(groups)} runs of each, load average {os.getloadavg()[0]:.2f}\n")
print("| implementation | threads | ms/step | forward ms | backward ms | optimizer ms | tokens/s | model GFLOP/s | GEMM GFLOP/s (same dtype) | share | peak RSS MB | vs PyTorch's fastest |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
best = max(med(rs, "tokens_per_s") for (n, _), rs in groups.items() if n.startswith("pytorch"))
for (name, th), rs in sorted(groups.items(), key=lambda kv: (not kv[0][0].startswith("ablm"), kv[0])):
    tps = med(rs, "tokens_per_s")
    print(f"| {name} | {th} | {med(rs,'ms_per_step'):.0f} | {med(rs,'forward_ms'):.0f} | {med(rs,'backward_ms'):.0f} | "
          f"{med(rs,'optimizer_ms'):.0f} | {tps:.0f} | {med(rs,'gflops'):.1f} | {med(rs,'gemm_gflops'):.1f} | "
          f"{med(rs,'gemm_share'):.2f} | {med(rs,'peak_rss_mb'):.0f} | {tps / best:.2f}x |")
ours = max(med(rs, "tokens_per_s") for (n, _), rs in groups.items() if n.startswith("ablm"))
print(f"\nablm's fastest row is {ours / best:.2f}x PyTorch's fastest (median tokens/s)")
lib = sorted({r.get("gemm_large", "?") for r in rows if r["impl"] == "ablm" and r["precision"] == "fp32"})
if lib:
    print(f"ablm fp32's linear-layer products ran on {', '.join(lib)} (graph/gemm.c's choice for this CPU; ABLM_GEMM overrides)")
PY
  done
done
echo
lscpu | grep -E '^(Model name|CPU\(s\)):' | sed 's/  */ /g'
echo "bf16-related flags: $(grep -o -w -E 'avx512f|avx512_bf16|amx_bf16|amx_tile|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
