#!/usr/bin/env bash
# Inference speed of ablm against PyTorch's eval forward in one invocation:
# embed, logits and score on the same N real heavy chains of an OAS unit
# (bench_infer's selection, saved for PyTorch with --save-fasta), heavy_small
# with random weights, batch BATCH, for ablm fp32, ablm --bf16, PyTorch fp32
# and PyTorch bf16 autocast (no_grad; bench/infer_torch.py), each at 1 and 2
# threads, REPEATS times alternating. Prints a markdown table of the median
# sequences/s per command and each row's ratio to PyTorch's fastest row for
# that command.
# Usage: bench/infer_vs_torch.sh [N] [SCORE_N] [BATCH] [REPEATS] [UNIT] [CONFIG]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200} score_n=${2:-10} bs=${3:-32} repeats=${4:-3}
unit=${5:-$(ls ../shared/data/oas-paired/*.csv.gz 2>/dev/null | head -1)}
config=${6:-configs/heavy_small.json}
[ -n "$unit" ] || { echo "infer_vs_torch.sh: no OAS unit given or in ../shared/data/oas-paired" >&2; exit 1; }
scripts/ensure-deps.sh python3-torch >/dev/null
scripts/build.sh build >/dev/null
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: >"$tmp/lines"
# bf16 rows only where the CPU has bf16 instructions: ablm --bf16 refuses
# without them, and PyTorch's autocast is emulated there (minutes per batch
# on AMD Zen 3), so its best setting is fp32
precs="fp32 bf16" flags="none --bf16"
grep -q -w -E 'avx512_bf16|amx_bf16' /proc/cpuinfo || { precs=fp32 flags=none
  echo "infer_vs_torch.sh: this CPU has neither avx512_bf16 nor amx_bf16: PyTorch bf16 autocast rows left out (fp32 is its best setting here)" >&2; }
for r in $(seq "$repeats"); do
  for th in 1 2; do
    for flag in $flags; do
      [ "$flag" = none ] && flag=
      build/bench_infer --config "$config" --n "$n" --score-n "$score_n" --batch-size "$bs" \
        --threads "$th" $flag --save-fasta "$tmp/heavy.fa" "$unit" 2>/dev/null | grep ' sequences/s ' >>"$tmp/lines"
    done
    for prec in $precs; do
      $py bench/infer_torch.py "$config" "$tmp/heavy.fa" "$score_n" "$bs" "$th" "$prec" >>"$tmp/lines"
    done
  done
done
$py - "$tmp/lines" "$config" "$unit" "$n" "$bs" <<'PY'
import os, re, statistics, sys
path, cfg, unit, n, bs = sys.argv[1:6]
runs = {}
for line in open(path):
    m = re.match(r"(\S.*?)\s+(\d+) sequences\s+([\d.]+) s\s+([\d.]+) sequences/s\s+\[(.*)\]", line)
    if m and m.group(1) in ("embed", "logits", "score"):
        runs.setdefault((m.group(5), m.group(1)), []).append(float(m.group(4)))
cmds = ["embed", "logits", "score"]
impls = sorted({k[0] for k in runs}, key=lambda s: (not s.startswith("ablm"), s))
print(f"\n{cfg}, {n} heavy chains of {os.path.basename(unit)} (score: the first few), batch {bs}, "
      f"load average {os.getloadavg()[0]:.2f}; median sequences/s, ratio to PyTorch's fastest\n")
print("| implementation | " + " | ".join(cmds) + " |")
print("| --- |" + " --- |" * len(cmds))
best = {c: max(statistics.median(v) for (i, cc), v in runs.items() if cc == c and i.startswith("pytorch")) for c in cmds}
for i in impls:
    cells = []
    for c in cmds:
        v = runs.get((i, c))
        cells.append(f"{statistics.median(v):.3g} ({statistics.median(v) / best[c]:.2f}x)" if v else "-")
    print(f"| {i} | " + " | ".join(cells) + " |")
PY
