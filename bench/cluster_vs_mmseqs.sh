#!/usr/bin/env bash
# Benchmarks `ablm cluster` against MMseqs2 on CDRH3s and heavy chains in
# one run and prints the table of docs/performance.md (clustering section),
# with the load average before and after (the machine may be shared).
#   bench/cluster_vs_mmseqs.sh [--size N] [--greedy-size N] [--sample N] [--threads N] [--workdir DIR]
# Steps: extract real CDRH3s and heavy chains from ../shared/data/oas-paired,
# make N CDRH3-like sequences by mutating real ones (seed 1), then run
# ablm cluster (linclust at 1.0, 0.7, 0.5; greedy at 0.7) and mmseqs
# easy-linclust (reference settings) at the same thresholds and easy-cluster
# at 0.7, all with the same thread count, under /usr/bin/time -v. Every
# clustering (both tools) is checked with bench_cluster: members below the
# thresholds by real alignment, and missed merges on a sample.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-deps.sh mmseqs2 >/dev/null
SIZE=2000000; GSIZE=""; SAMPLE=300; THREADS=2; WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2;;
    --greedy-size) GSIZE=$2; shift 2;;
    --sample) SAMPLE=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --workdir) WORK=$2; shift 2;;
    *) echo "usage: $0 [--size N] [--greedy-size N] [--sample N] [--threads N] [--workdir DIR]" >&2; exit 2;;
  esac
done
GSIZE=${GSIZE:-$SIZE}
DATA=../shared/data/oas-paired
[ -d "$DATA" ] || { echo "cluster_vs_mmseqs: $DATA not found" >&2; exit 1; }
scripts/build.sh build
ABLM=$PWD/build/ablm; BC=$PWD/build/bench_cluster
WORK=${WORK:-$(mktemp -d /tmp/ablm-clbench-XXXXXX)}
mkdir -p "$WORK"
echo "work dir: $WORK" >&2

/usr/bin/python3 - "$DATA" "$WORK" <<'PY'
import csv, glob, gzip, sys
data, work = sys.argv[1], sys.argv[2]
csv.field_size_limit(1 << 30)
with open(f"{work}/cdr3.txt", "w") as c, open(f"{work}/heavy.fasta", "w") as h:
    n = 0
    for f in sorted(glob.glob(f"{data}/*.csv.gz")):
        with gzip.open(f, "rt") as fh:
            fh.readline()
            for row in csv.DictReader(fh):
                n += 1
                if row.get("cdr3_aa_heavy"):
                    c.write(row["cdr3_aa_heavy"] + "\n")
                if row.get("sequence_alignment_aa_heavy"):
                    h.write(f">h{n}\n{row['sequence_alignment_aa_heavy']}\n")
PY
$BC mutate "$WORK/cdr3.txt" "$SIZE" 1 "$WORK/cdrh3_$SIZE.fasta"
if [ "$GSIZE" != "$SIZE" ]; then $BC mutate "$WORK/cdr3.txt" "$GSIZE" 1 "$WORK/cdrh3_$GSIZE.fasta"; fi

ROWS="$WORK/rows.md"; : > "$ROWS"
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
MM="--sub-mat VTML40.out --gap-open 16 --gap-extend 2 -c 0.8 --cov-mode 0 --threads $THREADS"
LIN="--kmer-per-seq 5 -k 6 --spaced-kmer-mode 1 --spaced-kmer-pattern 11011101"

# run NAME DATASET_FASTA N ID CLUSTER_TSV -- command...
run() {
  local name=$1 fa=$2 n=$3 id=$4 tsv=$5; shift 6
  echo "== $name ($n sequences, min-seq-id $id)" >&2
  /usr/bin/time -v "$@" > "$WORK/$name.out" 2> "$WORK/$name.time" || { tail -20 "$WORK/$name.time" >&2; exit 1; }
  local wall rss chk cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{print $2}' "$WORK/$name.time")
  cpu=$(awk -F': ' '/User time/{u=$2} /System time/{s=$2} END{printf "%.1f", u+s}' "$WORK/$name.time")
  rss=$(awk -F': ' '/Maximum resident set size/{printf "%.0f", $2/1024}' "$WORK/$name.time")
  chk=$($BC check "$fa" "$tsv" "$id" "$SAMPLE" "$THREADS")
  echo "$chk" >&2
  local cl vi mi sa ra
  cl=$(sed 's/.*clusters=\([0-9]*\).*/\1/' <<<"$chk"); vi=$(sed 's/.*violations=\([0-9]*\).*/\1/' <<<"$chk")
  mi=$(sed 's/.*missed=\([0-9]*\).*/\1/' <<<"$chk"); sa=$(sed 's/.*sampled=\([0-9]*\).*/\1/' <<<"$chk")
  ra=$(awk -v m="$mi" -v s="$sa" 'BEGIN{printf "%.1f%%", s ? 100*m/s : 0}')
  echo "| $name | $n | $id | $wall | $cpu | $rss | $cl | $vi | $mi/$sa ($ra) |" >> "$ROWS"
}

F=$WORK/cdrh3_$SIZE.fasta
for id in 1.0 0.7 0.5; do
  run "ablm-linclust-$id" "$F" "$SIZE" "$id" "$WORK/ab_lin_$id""_cluster.tsv" -- \
    "$ABLM" cluster --input "$F" --min-seq-id "$id" --mode linclust --threads "$THREADS" --out "$WORK/ab_lin_$id"
  rm -rf "$WORK/tmp"
  run "mmseqs-linclust-$id" "$F" "$SIZE" "$id" "$WORK/mm_lin_$id""_cluster.tsv" -- \
    mmseqs easy-linclust "$F" "$WORK/mm_lin_$id" "$WORK/tmp" --min-seq-id "$id" $MM $LIN -v 1
done
G=$WORK/cdrh3_$GSIZE.fasta
run "ablm-greedy-0.7" "$G" "$GSIZE" 0.7 "$WORK/ab_gr_0.7_cluster.tsv" -- \
  "$ABLM" cluster --input "$G" --min-seq-id 0.7 --mode greedy --threads "$THREADS" --out "$WORK/ab_gr_0.7"
rm -rf "$WORK/tmp"
run "mmseqs-cluster-0.7" "$G" "$GSIZE" 0.7 "$WORK/mm_cl_0.7_cluster.tsv" -- \
  mmseqs easy-cluster "$G" "$WORK/mm_cl_0.7" "$WORK/tmp" --min-seq-id 0.7 $MM -v 1
# real heavy chains (no mutation), linclust at 0.7
H=$WORK/heavy.fasta; NH=$(grep -c '>' "$H")
run "ablm-linclust-heavy-0.7" "$H" "$NH" 0.7 "$WORK/ab_h_0.7_cluster.tsv" -- \
  "$ABLM" cluster --input "$H" --min-seq-id 0.7 --mode linclust --threads "$THREADS" --out "$WORK/ab_h_0.7"
rm -rf "$WORK/tmp"
run "mmseqs-linclust-heavy-0.7" "$H" "$NH" 0.7 "$WORK/mm_h_0.7_cluster.tsv" -- \
  mmseqs easy-linclust "$H" "$WORK/mm_h_0.7" "$WORK/tmp" --min-seq-id 0.7 $MM $LIN -v 1

{
  echo "Load average (1, 5, 15 min) at the start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)."
  echo
  echo "| run | sequences | min-seq-id | wall (m:s) | CPU (s) | peak RSS (MB) | clusters | members below thresholds | missed merges (sampled reps) |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  cat "$ROWS"
} > "$WORK/table.md"
cat "$WORK/table.md"
echo "table: $WORK/table.md" >&2
