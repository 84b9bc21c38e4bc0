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
#
# Scale mode: bench/bench_prepare.sh --scale N [--parts P] [--mmseqs] ...
# makes N synthetic records as above in P AIRR TSV files (default 4, read in
# parallel by --threads readers) and runs only `ablm prepare --max-memory
# SIZE` out of core (and with --mmseqs also `--engine mmseqs`, Debian's
# mmseqs2, in the same invocation), each under nice and /usr/bin/time -v
# with a sampler (every second: the process's VmRSS and RssAnon, its CPU
# time and its reaped children's (utime + stime: mmseqs's counted when
# each of its commands ends, so at a stage's end it can fall in the next
# stage), `du -sb` of the output dir, the stage from the last
# progress line) that gives per stage: wall seconds (the report's), CPU
# seconds, peak RSS, anonymous memory and peak disk (sampled), bytes per
# record. The sampled "read" includes the ids pass after reading, "dedup"
# the CDRH3 step's TSV and .rep writes after its clusters line.
# (--mmseqs-only: only the MMseqs2 run, e.g. beside a running ablm one)
# --cgroup LIMIT (e.g. 3G; run as root): each scale run inside a memory
# cgroup of that limit (cgroup v1 memory.limit_in_bytes or v2 memory.max,
# anonymous memory and page cache together; no swap here), so that a run
# that needs more than LIMIT of memory cannot complete: the store's pages
# are evicted and read again under the limit instead of staying cached.
# Prints the cgroup's peak usage, how often it hit the limit and any OOM
# kill; the cgroup is removed after the run.
# ABLM_BUILD_DIR (default build) is the build directory to build and run
# (ABLM_NO_BUILD=1: run what it holds).
#
# bench/bench_prepare.sh --read-scaling R: the read stage on the 22 units
# (gzip OAS CSV) with --threads 1 and 2, alternating, R times each: read
# seconds, rows/s, the ratio, and that every store is byte-identical.
set -euo pipefail
# the whole script is one function, parsed before it runs: editing the file
# during a long run does not change the run
main() {
cd "$(dirname "$0")/.."
SIZE=400000; MEM=2G; THREADS=2; WORK=""; SCALE=0; PARTS=4; MMSEQS=0; GENONLY=0; READSCALE=0; CGROUP="" 
while [ $# -gt 0 ]; do
  case "$1" in
    --size) SIZE=$2; shift 2;;
    --max-memory) MEM=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --workdir) WORK=$2; shift 2;;
    --scale) SCALE=$2; SIZE=$2; shift 2;;
    --parts) PARTS=$2; shift 2;;
    --mmseqs) MMSEQS=1; shift;;
    --mmseqs-only) MMSEQS=2; shift;;
    --generate-only) GENONLY=1; shift;;
    --read-scaling) READSCALE=$2; shift 2;;
    --cgroup) CGROUP=$2; shift 2;;
    *) echo "usage: $0 [--size N] [--max-memory SIZE] [--threads N] [--workdir DIR] [--scale N [--parts P] [--mmseqs|--mmseqs-only] [--generate-only] [--cgroup LIMIT]] [--read-scaling REPS]" >&2; exit 2;;
  esac
done
DATA=../shared/data/oas-paired
[ -d "$DATA" ] || { echo "bench_prepare: $DATA not found" >&2; exit 1; }
BUILD=${ABLM_BUILD_DIR:-build}
[ -n "${ABLM_NO_BUILD:-}" ] || scripts/build.sh "$BUILD" >/dev/null
# copies, so that a rebuild during a long run does not replace them
BIN=$(mktemp -d /tmp/ablm-prepbench-bin-XXXXXX)
cp "$BUILD/ablm" "$BUILD/bench_cluster" "$BIN/"
ABLM=$BIN/ablm; BC=$BIN/bench_cluster
WORK=${WORK:-$(mktemp -d /tmp/ablm-prepbench-XXXXXX)}
mkdir -p "$WORK"
echo "work dir: $WORK" >&2
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$READSCALE" -gt 0 ]; then
  UNITS=$(ls "$DATA"/*.csv.gz)
  for rep in $(seq "$READSCALE"); do
    for t in 1 2; do
      out="$WORK/read_t$t"; rm -rf "$out"
      "$ABLM" prepare --out "$out" --threads "$t" --leak-sample 0 --input $UNITS >/dev/null 2>"$out.log" \
        || { tail -5 "$out.log" >&2; exit 1; }
      sec=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seconds']['read'])" "$out/prepare_report.json")
      echo "$t $sec" >> "$WORK/read_scaling.txt"
      printf "rep %d, --threads %d: read %.2f s (%.0f rows/s), load %s\n" "$rep" "$t" "$sec" "$(echo "42216/$sec" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
    done
    cmp "$WORK/read_t1/records.store" "$WORK/read_t2/records.store" && echo "rep $rep: records.store identical for 1 and 2 threads"
  done
  awk '{s[$1]+=$2; n[$1]++} END {printf "mean read: 1 thread %.2f s, 2 threads %.2f s, speed-up %.2f\n", s[1]/n[1], s[2]/n[2], (s[1]/n[1])/(s[2]/n[2])}' "$WORK/read_scaling.txt"
  rm -f "$WORK/read_scaling.txt"
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi
[ -s "$WORK/heavy.tsv" ] || /usr/bin/python3 - "$DATA" "$WORK" <<'PY'
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
NP=$([ "$SCALE" -gt 0 ] && echo "$PARTS" || echo 1)
if [ ! -s "$WORK/synthetic_${SIZE}.done" ] || [ "$(cat "$WORK/synthetic_${SIZE}.done")" != "$NP" ]; then
$BC mutate "$WORK/cdr3.txt" "$SIZE" 1 "$WORK/cdr3_mut.fasta"
/usr/bin/python3 - "$WORK" "$SIZE" "$NP" <<'PY'
import sys
work, n, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
heavy = [l.rstrip("\n").split("\t") for l in open(f"{work}/heavy.tsv")]
names = [f"{work}/synthetic_{n}.tsv"] if parts == 1 else \
        [f"{work}/synthetic_{n}_part{k}.tsv" for k in range(parts)]
per = (n + parts - 1) // parts
with open(f"{work}/cdr3_mut.fasta") as f:
    i, o = 0, None
    for line in f:
        if line.startswith(">"):
            name = line[1:].strip(); continue
        if i % per == 0:
            if o: o.close()
            o = open(names[i // per], "w")
            o.write("sequence_id\tsequence_alignment_aa\tcdr3_aa\tlocus\n")
        c3 = line.strip()
        s, old = heavy[i % len(heavy)]
        o.write(f"{name}\t{s.replace(old, c3, 1)}\t{c3}\tIGH\n")
        i += 1
    o.close()
PY
rm -f "$WORK/cdr3_mut.fasta"
echo "$NP" > "$WORK/synthetic_${SIZE}.done"
fi
[ "$GENONLY" = 0 ] || exit 0

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

if [ "$SCALE" -gt 0 ]; then
  SYN=$(ls "$WORK"/synthetic_${SIZE}_part*.tsv 2>/dev/null || echo "$WORK/synthetic_$SIZE.tsv")
  echo "inputs: $(echo $SYN | wc -w) files, $(du -cbL $SYN | tail -1 | cut -f1) bytes"
  # cg_make LIMIT: a memory cgroup of LIMIT bytes; sets CG (its dir) and
  # CGV (1 or 2)
  cg_make() {
    local bytes
    bytes=$(numfmt --from=iec "$1") || { echo "bench_prepare: --cgroup $1: not a size" >&2; exit 2; }
    if [ -d /sys/fs/cgroup/memory ] && [ -w /sys/fs/cgroup/memory ]; then
      CGV=1 CG=/sys/fs/cgroup/memory/ablm-prepbench-$$
      mkdir -p "$CG" && echo "$bytes" > "$CG/memory.limit_in_bytes"
    elif grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
      CGV=2 CG=/sys/fs/cgroup/ablm-prepbench-$$
      grep -qw memory /sys/fs/cgroup/cgroup.subtree_control || echo +memory > /sys/fs/cgroup/cgroup.subtree_control
      mkdir -p "$CG" && echo "$bytes" > "$CG/memory.max" && echo 0 > "$CG/memory.swap.max" 2>/dev/null || true
    else
      echo "bench_prepare: --cgroup: no writable memory cgroup (v1 or v2) on this machine" >&2; exit 2
    fi
  }
  # cg_report: the cgroup's peak, limit hits and OOM kills; removes it
  cg_report() {
    if [ "$CGV" = 1 ]; then
      echo "cgroup: limit $CGROUP ($(cat "$CG/memory.limit_in_bytes") B), peak usage $(awk '{printf "%.0f MB", $1/1e6}' "$CG/memory.max_usage_in_bytes") (anonymous + page cache), limit reached $(cat "$CG/memory.failcnt") times, OOM kills $(awk '/oom_kill / {print $2}' "$CG/memory.oom_control")"
    else
      echo "cgroup: limit $CGROUP ($(cat "$CG/memory.max") B), peak usage $(awk '{printf "%.0f MB", $1/1e6}' "$CG/memory.peak" 2>/dev/null || echo '?'), events: $(tr '\n' ' ' < "$CG/memory.events")"
    fi
    rmdir "$CG" 2>/dev/null || true
  }
  # big NAME OUT ARGS...: one sampled run, a table row per stage
  big() {
    local name=$1 out=$2; shift 2
    rm -rf "$out"; mkdir -p "$out"
    local samples="$out.samples"; : > "$samples"
    local wrap=(env)
    if [ -n "$CGROUP" ]; then
      cg_make "$CGROUP"
      wrap=(sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$CG")
    fi
    "${wrap[@]}" nice /usr/bin/time -v "$ABLM" prepare --out "$out" --threads "$THREADS" --leak-sample 0 \
        --max-memory "$MEM" --input $SYN "$@" >"$out.stdout" 2>"$out.log" &
    local tp=$! pid=""
    while kill -0 "$tp" 2>/dev/null; do
      [ -n "$pid" ] || pid=$(pgrep -P "$tp" || true)
      if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
        local rss anon disk st
        rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        anon=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
        disk=$(du -sb "$out" 2>/dev/null | cut -f1)
        st=$(grep -a '^prepare: ' "$out.log" | awk '
          /clustering .* CDR3s/ {s="cdr3_clustering"} /dedup/ || / CDR3s -> / {s="dedup"}
          /clustering .* sequences at/ {s="clustering_70"} /clustering .* representatives/ {s="clustering_50"}
          /splitting/ {s="split_and_leakage"} END {print s ? s : "read"}' || true)
        # utime + stime of the process and of its reaped children (mmseqs),
        # clock ticks (fields 14-17 of stat); empty if it has just ended
        cpu=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$pid/stat" 2>/dev/null || true)
        echo "$st ${rss:-0} ${anon:-0} ${disk:-0} $(cut -d' ' -f1 /proc/loadavg) ${cpu:--1}" >> "$samples"
      fi
      sleep 1
    done
    local rc=0
    wait "$tp" || rc=$?
    [ -z "$CGROUP" ] || cg_report
    [ "$rc" = 0 ] || { echo "$name failed (status $rc): see $out.log" >&2; tail -5 "$out.log" >&2; return 1; }
    echo "== $name: whole run: $(awk -F': ' '/Elapsed \(wall/ {w=$2} /Maximum resident/ {r=$2} END {printf "wall %s, peak RSS %.0f MB", w, r/1024}' "$out.log"), output dir $(du -sb "$out" | awk '{printf "%.0f MB", $1/1e6}')"
    /usr/bin/python3 - "$out" "$samples" <<'PY'
import json, os, sys
out, samples = sys.argv[1], sys.argv[2]
r = json.load(open(f"{out}/prepare_report.json"))
rows = r["counts"]["input_rows"]
peak, anon, disk, load, cpu = {}, {}, {}, [], {}
tick = os.sysconf("SC_CLK_TCK")
prev = 0
for l in open(samples):
    st, rss, an, d, la, c = l.split()
    peak[st] = max(peak.get(st, 0), int(rss) * 1024); disk[st] = max(disk.get(st, 0), int(d))
    anon[st] = max(anon.get(st, 0), int(an) * 1024)
    load.append(float(la))
    # CPU between two samples goes to the later sample's stage (-1: not read)
    if int(c) >= prev:
        cpu[st] = cpu.get(st, 0) + (int(c) - prev) / tick; prev = int(c)
print("counts: " + ", ".join(f"{k} {int(v)}" for k, v in r["counts"].items()))
print(f"load average (1 min) during the run: min {min(load):.1f}, max {max(load):.1f}" if load else "no samples")
print("| stage | seconds | CPU s (sampled) | peak RSS (sampled) | of it anonymous | RSS per input row | disk (output dir, sampled) |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for st in ["read", "cdr3_clustering", "dedup", "clustering_70", "clustering_50", "split_and_leakage"]:
    sec = r["seconds"].get(st)
    if sec is None: continue
    p = peak.get(st, 0)
    print(f"| {st} | {sec:.1f} | {cpu.get(st, 0):.1f} | {p/1e6:.0f} MB | {anon.get(st, 0)/1e6:.0f} MB | {p/rows:.0f} B | {disk.get(st, 0)/1e6:.0f} MB |")
P = max(peak.values(), default=0)
print(f"| total | {r['seconds']['total']:.1f} | {sum(cpu.values()):.1f} | {P/1e6:.0f} MB | {max(anon.values(), default=0)/1e6:.0f} MB | {P/rows:.0f} B | {max(disk.values(), default=0)/1e6:.0f} MB |")
m = r.get("memory", {})
if "anon_bytes_per_record_after_read" in m:
    print(f"anonymous memory after read: {m['anon_bytes_per_record_after_read']:.0f} B/row")
for e in r.get("clustering", []):
    print(f"clustering {e.get('step')}: {int(e.get('sequences', 0))} -> {int(e.get('clusters', 0))} clusters, {e.get('seconds', 0):.1f} s, peak_bytes {e.get('peak_bytes', 0)/1e6:.0f} MB")
PY
  }
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  [ "$MMSEQS" = 2 ] || big "ablm prepare, $SIZE records, --max-memory $MEM" "$WORK/scale_ablm"
  if [ "$MMSEQS" = 2 ]; then
    scripts/ensure-deps.sh mmseqs2 >/dev/null
    big "ablm prepare --engine mmseqs, $SIZE records" "$WORK/scale_mmseqs" --engine mmseqs
  elif [ "$MMSEQS" = 1 ]; then
    scripts/ensure-deps.sh mmseqs2 >/dev/null
    big "ablm prepare --engine mmseqs, $SIZE records" "$WORK/scale_mmseqs" --engine mmseqs
    /usr/bin/python3 - "$WORK/scale_ablm" "$WORK/scale_mmseqs" <<'PY'
import json, sys
a, m = (json.load(open(f"{d}/prepare_report.json")) for d in sys.argv[1:3])
for k in ["cdr3_clustering", "clustering_70", "clustering_50", "total"]:
    if k in a["seconds"] and k in m["seconds"]:
        print(f"{k}: ablm {a['seconds'][k]:.1f} s, mmseqs {m['seconds'][k]:.1f} s, ratio ablm/mmseqs {a['seconds'][k]/m['seconds'][k]:.2f}")
PY
  fi
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  exit 0
fi

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
}
main "$@"
exit
