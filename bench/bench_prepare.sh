#!/usr/bin/env bash
# Benchmarks `ablm prepare` out of core (the default: records.store, sharded
# de-dup) against the previous in-memory path (--in-memory) in one run, under
# /usr/bin/time -v: wall time, peak RSS, RSS per record, rows/s of the read
# stage, and that both paths wrote the same files.
#   bench/bench_prepare.sh [--size N] [--max-memory SIZE] [--threads N] [--workdir DIR]
# Inputs: (1) the 22 shared OAS paired units (../shared/data/oas-paired);
# (2) N synthetic records (default 400000) in one AIRR TSV: CDRH3s made by
# bench_cluster's mutator (seed 1) from the real ones, each inside a real
# heavy chain (its own CDRH3 replaced). The machine may be shared: the load
# average is printed before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=400000; MEM=2G; THREADS=2; WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2;;
    --max-memory) MEM=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --workdir) WORK=$2; shift 2;;
    *) echo "usage: $0 [--size N] [--max-memory SIZE] [--threads N] [--workdir DIR]" >&2; exit 2;;
  esac
done
DATA=../shared/data/oas-paired
[ -d "$DATA" ] || { echo "bench_prepare: $DATA not found" >&2; exit 1; }
scripts/build.sh build >/dev/null
ABLM=$PWD/build/ablm; BC=$PWD/build/bench_cluster
WORK=${WORK:-$(mktemp -d /tmp/ablm-prepbench-XXXXXX)}
mkdir -p "$WORK"
echo "work dir: $WORK" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

/usr/bin/python3 - "$DATA" "$WORK" <<'PY'
import csv, glob, gzip, sys
data, work = sys.argv[1], sys.argv[2]
csv.field_size_limit(1 << 30)
with open(f"{work}/cdr3.txt", "w") as c, open(f"{work}/heavy.tsv", "w") as h:
    for p in sorted(glob.glob(f"{data}/*.csv.gz")):
        with gzip.open(p, "rt") as f:
            f.readline()
            for r in csv.DictReader(f):
                s, c3 = r["sequence_alignment_aa_heavy"], r["cdr3_aa_heavy"]
                if s and c3 and c3 in s:
                    c.write(c3 + "\n"); h.write(s + "\t" + c3 + "\n")
PY
$BC mutate "$WORK/cdr3.txt" "$SIZE" 1 "$WORK/cdr3_mut.fasta"
/usr/bin/python3 - "$WORK" "$SIZE" <<'PY'
import sys
work, n = sys.argv[1], int(sys.argv[2])
heavy = [l.rstrip("\n").split("\t") for l in open(f"{work}/heavy.tsv")]
with open(f"{work}/cdr3_mut.fasta") as f, open(f"{work}/synthetic_{n}.tsv", "w") as o:
    o.write("sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n")
    i = 0
    for line in f:
        if line.startswith(">"):
            name = line[1:].strip(); continue
        c3 = line.strip()
        s, old = heavy[i % len(heavy)]
        o.write(f"{name}\t{s.replace(old, c3, 1)}\t{c3}\tIGH\n")
        i += 1
PY

run() { # NAME OUTDIR ARGS...
  local name=$1 out=$2; shift 2
  [ "${KEEP:-0}" = 1 ] || rm -rf "$out"
  /usr/bin/time -v "$ABLM" prepare --out "$out" --threads "$THREADS" --leak-sample 0 "$@" \
      >"$out.stdout" 2>"$out.log" || { echo "$name failed: see $out.log" >&2; tail -5 "$out.log" >&2; exit 1; }
  local rss wall rows read_s
  rss=$(awk -F': ' '/Maximum resident/ {print $2}' "$out.log")
  wall=$(awk -F': ' '/Elapsed \(wall/ {print $2}' "$out.log")
  rows=$(/usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(int(r['counts']['input_rows']), round(r['seconds']['read'],2), round(r['seconds'].get('dedup', 0),2), round(r['seconds']['total'],2), round(r['memory'].get('anon_bytes_per_record_after_read', -1)))" "$out/prepare_report.json")
  set -- $rows
  printf "%-40s rows %9s  anon after read %5s B/row  peak RSS %8s kB (%5.0f B/row)  read %7.2f s (%6.0f rows/s)  dedup %6.2f s  total %7.2f s  wall %s\n" \
    "$name" "$1" "$5" "$rss" "$(echo "$rss*1024/$1" | bc -l)" "$2" "$(echo "$1/$2" | bc -l)" "$3" "$4" "$wall"
}

same() { # DIR_A DIR_B
  for f in cdr3_100_cluster.tsv heavy_70_cluster.tsv heavy_50_cluster.tsv train.txt val.txt test.txt train.tsv val.tsv test.tsv; do
    cmp -s "$1/$f" "$2/$f" || { echo "DIFFERENT: $1/$f $2/$f"; return 1; }
  done
  echo "same output files: $1 $2"
}

UNITS=$(ls "$DATA"/*.csv.gz)
run "22 units, in memory" "$WORK/units_mem" --input $UNITS --in-memory
run "22 units, out of core" "$WORK/units_ooc" --input $UNITS --max-memory "$MEM"
cp -r "$WORK/units_ooc" "$WORK/units_ooc_rerun"
KEEP=1 run "22 units, out of core, rerun (resumed)" "$WORK/units_ooc_rerun" --input $UNITS --max-memory "$MEM"
grep -q "read: skipped" "$WORK/units_ooc_rerun.log" && echo "rerun skipped the read stage"
same "$WORK/units_mem" "$WORK/units_ooc"
SYN="$WORK/synthetic_$SIZE.tsv"
run "synthetic $SIZE, in memory" "$WORK/syn_mem" --input "$SYN" --in-memory
run "synthetic $SIZE, out of core" "$WORK/syn_ooc" --input "$SYN" --max-memory "$MEM"
same "$WORK/syn_mem" "$WORK/syn_ooc"
du -sh "$WORK/syn_ooc/records.store" | awk '{print "store on disk: " $1}'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
