#!/usr/bin/env bash
# Benchmarks `ablm prepare --pairs` on the 22 shared OAS paired units
# (../shared/data/oas-paired), each run under nice -n 19 and /usr/bin/time -v:
#   mem      --in-memory (the pr_set route)
#   ooc      out of core, the default budget (half of MemAvailable)
#   small    out of core, --max-memory SIZE (default 2M: the clustering spills)
#   resumed  the same command again on small's directory (every stage skipped)
# and, with --baseline BIN (an ablm built from an older commit, e.g. the one
# before --pairs ran out of core), that binary's `prepare --pairs` too. Prints
# per run: wall and CPU (user + system) seconds, peak RSS (MB), anonymous memory per input row after
# reading (report memory.anon_bytes_per_record_after_read), the k-mer runs
# and bytes spilled by the three clustering steps, the store's bytes, and
# checks that every run wrote the same six files (train/val/test_pairs.tsv,
# the three cluster TSVs) byte for byte and wrote the same report entries
# (counts, split, pairs_per_set, leakage, leakage_light, input.pairs and
# input.files_skipped; "seconds" members left out).
#   bench/bench_prepare_pairs.sh [--max-memory SIZE] [--threads N] [--leak]
#                                [--baseline BIN] [--workdir DIR] [--compare-only]
# --compare-only: no runs, the table and the checks of an earlier run's
# --workdir (with --baseline if it had one).
# --leak: the default leakage report (exact for val and test); without it
# --leak-sample 0. ABLM_BUILD_DIR (default build) is built and run
# (ABLM_NO_BUILD=1: run what it holds).
set -euo pipefail
main() {
cd "$(dirname "$0")/.."
MEM=2M; THREADS=2; WORK=""; BASE=""; LEAK="--leak-sample 0"; ONLY=0
while [ $# -gt 0 ]; do
  case "$1" in
    --max-memory) MEM=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --workdir) WORK=$2; shift 2;;
    --baseline) BASE=$2; shift 2;;
    --leak) LEAK=""; shift;;
    --compare-only) ONLY=1; shift;;
    *) echo "usage: $0 [--max-memory SIZE] [--threads N] [--leak] [--baseline BIN] [--workdir DIR] [--compare-only]" >&2; exit 2;;
  esac
done
DATA=../shared/data/oas-paired
[ -d "$DATA" ] || { echo "bench_prepare_pairs: $DATA not found" >&2; exit 1; }
BUILD=${ABLM_BUILD_DIR:-build}
[ -n "${ABLM_NO_BUILD:-}" ] || [ $ONLY = 1 ] || scripts/build.sh "$BUILD" >/dev/null
[ $ONLY = 0 ] || [ -n "$WORK" ] || { echo "--compare-only needs --workdir" >&2; exit 2; }
WORK=${WORK:-$(mktemp -d /tmp/ablm-pairsbench-XXXXXX)}
mkdir -p "$WORK"
ABLM=$WORK/ablm
IN=$(ls "$DATA"/*.csv.gz)
echo "work dir: $WORK" >&2
if [ $ONLY = 0 ]; then
cp "$BUILD/ablm" "$ABLM"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
run() { # name bin args...
  local name=$1 bin=$2; shift 2
  # shellcheck disable=SC2086
  /usr/bin/time -v nice -n 19 "$bin" prepare --pairs --input $IN --threads "$THREADS" $LEAK \
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || { echo "$name failed:"; tail -5 "$WORK/$name.err"; exit 1; }
}
rm -rf "$WORK"/{base,mem,ooc,small}
[ -z "$BASE" ] || run base "$BASE" --out "$WORK/base"
run mem "$ABLM" --out "$WORK/mem" --in-memory
run ooc "$ABLM" --out "$WORK/ooc"
run small "$ABLM" --out "$WORK/small" --max-memory "$MEM"
cp "$WORK/small/prepare_report.json" "$WORK/small.report.json" # the rerun rewrites it
run resumed "$ABLM" --out "$WORK/small" --max-memory "$MEM"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
/usr/bin/python3 - "$WORK" "$MEM" ${BASE:+base} <<'EOF'
import json, re, sys
work, mem = sys.argv[1], sys.argv[2]
runs = sys.argv[3:] + ["mem", "ooc", "small", "resumed"]
label = {"base": "baseline binary", "mem": "--in-memory", "ooc": "out of core",
         "small": "out of core, --max-memory " + mem, "resumed": "the same, rerun"}
print("| run | wall s | CPU s | peak RSS MB | anon B/row after read | k-mer runs | spilled MB | store MB |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for r in runs:
    err = open(f"{work}/{r}.err").read()
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", err).group(1)
    p = [float(x) for x in wall.split(":")]
    secs = p[-1] + 60 * p[-2] + (3600 * p[-3] if len(p) > 2 else 0)
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1)) / 1024
    cpu = sum(float(re.search(rf"{w} time \(seconds\): (\S+)", err).group(1))
              for w in ("User", "System"))
    path = f"{work}/small.report.json" if r == "small" else \
        f"{work}/{'small' if r == 'resumed' else r}/prepare_report.json"
    rep = json.load(open(path))
    m = rep.get("memory", {}).get("anon_bytes_per_record_after_read")
    cl = rep.get("clustering", [])
    runs_ = sum(c.get("kmer_runs", 0) for c in cl)
    spill = sum(c.get("spilled_bytes", 0) for c in cl) / 1e6
    store = rep.get("input", {}).get("store_bytes")
    print(f"| {label[r]} | {secs:.2f} | {cpu:.2f} | {rss:.1f} | {'%.0f' % m if m is not None else '-'} | "
          f"{runs_} | {spill:.1f} | {'%.1f' % (store / 1e6) if store else '-'} |")
    if r == "resumed":
        print("  stages:", rep.get("stages"))

def strip(x):
    if isinstance(x, dict):
        return {k: strip(v) for k, v in x.items() if k != "seconds"}
    if isinstance(x, list):
        return [strip(v) for v in x]
    return x
ref = json.load(open(f"{work}/mem/prepare_report.json"))
keys = ["counts", "split", "pairs_per_set", "leakage", "leakage_light"]
for r in runs:
    if r == "mem":
        continue
    path = f"{work}/small.report.json" if r == "small" else \
        f"{work}/{'small' if r == 'resumed' else r}/prepare_report.json"
    rep = json.load(open(path))
    for k in keys:
        if strip(rep.get(k)) != strip(ref.get(k)):
            sys.exit(f"DIFFERENT report entry {k}: {r} vs mem")
    for k in ("pairs", "files_skipped"):
        if strip(rep["input"].get(k)) != strip(ref["input"].get(k)):
            sys.exit(f"DIFFERENT report entry input.{k}: {r} vs mem")
lk = ref.get("leakage")
print("report entries the same in every run:", ", ".join(keys), "input.pairs, input.files_skipped",
      "(leakage: val median %.3f, test median %.3f)" % (lk["val"]["median_identity"],
      lk["test"]["median_identity"]) if lk else "(no leakage report)")
EOF
names="train_pairs.tsv val_pairs.tsv test_pairs.tsv cdr3_100_cluster.tsv heavy_70_cluster.tsv heavy_50_cluster.tsv"
ref=mem
for d in ${BASE:+base} ooc small; do
  for f in $names; do
    cmp -s "$WORK/$ref/$f" "$WORK/$d/$f" || { echo "DIFFERENT: $d/$f vs $ref/$f"; exit 1; }
  done
done
echo "the six output files are byte-identical in every run${BASE:+ (baseline included)}"
}
main "$@"
