#!/usr/bin/env bash
# Benchmarks linclust within a memory budget (`ablm cluster --max-memory`,
# data/cluster_spill.c) against the in-memory linclust in one run, under
# /usr/bin/time -v, the runs alternated (in memory, budget, in memory,
# budget ...): wall time, peak RSS, the runs spilled, and that both wrote the
# same cluster files byte for byte.
#   bench/bench_cluster_budget.sh [--size N] [--max-memory SIZE] [--min-seq-id X]
#                                 [--repeat R] [--threads N] [--workdir DIR]
# Input: N CDRH3-like sequences (default 1000000) made by bench_cluster's
# mutator (seed 1) from the 22 shared OAS units' CDRH3s. The machine may be
# shared: the load average is printed before and after; compare the ratios
# within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=1000000; MEM=64M; ID=0.9; REP=2; THREADS=2; WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2;;
    --max-memory) MEM=$2; shift 2;;
    --min-seq-id) ID=$2; shift 2;;
    --repeat) REP=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --workdir) WORK=$2; shift 2;;
    *) echo "usage: $0 [--size N] [--max-memory SIZE] [--min-seq-id X] [--repeat R] [--threads N] [--workdir DIR]" >&2; exit 2;;
  esac
done
DATA=../shared/data/oas-paired
[ -d "$DATA" ] || { echo "bench_cluster_budget: $DATA not found" >&2; exit 1; }
scripts/build.sh build >/dev/null
ABLM=$PWD/build/ablm; BC=$PWD/build/bench_cluster
WORK=${WORK:-$(mktemp -d /tmp/ablm-clbudget-XXXXXX)}
mkdir -p "$WORK"
echo "work dir: $WORK" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$DATA" "$WORK" <<'PY'
import csv, glob, gzip, sys
data, work = sys.argv[1], sys.argv[2]
csv.field_size_limit(1 << 30)
with open(f"{work}/cdr3.txt", "w") as c:
    for p in sorted(glob.glob(f"{data}/*.csv.gz")):
        with gzip.open(p, "rt") as f:
            f.readline()
            for r in csv.DictReader(f):
                if r["cdr3_aa_heavy"]:
                    c.write(r["cdr3_aa_heavy"] + "\n")
PY
IN=$WORK/cdr3_$SIZE.fasta
[ -s "$IN" ] || $BC mutate "$WORK/cdr3.txt" "$SIZE" 1 "$IN"
run() { # NAME ARGS...: one run; prints wall s, peak RSS kB
  local name=$1; shift
  rm -rf "$WORK/$name"; mkdir -p "$WORK/$name"
  /usr/bin/time -v "$ABLM" cluster --input "$IN" --min-seq-id "$ID" --threads "$THREADS" \
    --out "$WORK/$name/c" "$@" 2> "$WORK/$name.err"
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$WORK/$name.err")
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/$name.err")
  echo "$name wall_s $wall peak_rss_kB $rss"
  grep -E "^ablm cluster: (within|read)" "$WORK/$name.err" | sed "s/^/  $name: /"
}
for r in $(seq 1 "$REP"); do
  run "memory_$r"
  run "budget_$r" --max-memory "$MEM"
  cmp "$WORK/memory_$r/c_cluster.tsv" "$WORK/budget_$r/c_cluster.tsv"
  cmp "$WORK/memory_$r/c_rep_seq.fasta" "$WORK/budget_$r/c_rep_seq.fasta"
  echo "run $r: same c_cluster.tsv and c_rep_seq.fasta"
  left=$(find "$WORK/budget_$r" -name 'cluster_*.tmp.*' | wc -l)
  [ "$left" = 0 ] || { echo "temporary runs left: $left" >&2; exit 1; }
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
