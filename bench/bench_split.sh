#!/usr/bin/env bash
# Benchmarks the leakage-free split on the shared OAS heavy chains and
# prints the table of docs/data.md ("Leakage-free split"), with the load
# average before and after each run (the machine may be shared).
#   bench/bench_split.sh [--ids "0.5 0.7"] [--threads N] [--workdir DIR] [--first N]
# For each identity T: `ablm split --leakage-free --min-seq-id T` over the
# heavy chains of all units of ../shared/data/oas-paired under
# /usr/bin/time -v (wall time, CPU time, peak RSS), then from its
# leakage_report.json: components, the largest and its share, the ten
# largest sizes, the set sizes against their targets (ratios met: no
# warning), the pair counts (aligned / excluded by the exact bounds /
# already connected), and the exhaustive check (every val and test sequence
# against every train sequence, exact alignment identity, pairs skipped only
# by the exact bound: how many reach T; must be 0). --first N splits only
# the first N heavy chains (a FASTA of the units' rows in file order) for a
# quicker run.
set -euo pipefail
cd "$(dirname "$0")/.."
IDS="0.5 0.7"; THREADS=2; WORK=""; FIRST=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ids) IDS=$2; shift 2;;
    --threads) THREADS=$2; shift 2;;
    --workdir) WORK=$2; shift 2;;
    --first) FIRST=$2; shift 2;;
    *) echo "usage: $0 [--ids \"0.5 0.7\"] [--threads N] [--workdir DIR] [--first N]" >&2; exit 2;;
  esac
done
DATA=../shared/data/oas-paired
[ -d "$DATA" ] || { echo "bench_split: $DATA not found" >&2; exit 1; }
scripts/build.sh build
WORK=${WORK:-$(mktemp -d -t ablm-bench-split-XXXXXX)}
mkdir -p "$WORK"
INPUT=("$DATA"/*.csv.gz)
if [ -n "$FIRST" ]; then
  python3 - "$FIRST" "$WORK/first.fa" "${INPUT[@]}" <<'PY'
import csv, gzip, sys
n, out, files = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
k = 0
with open(out, "w") as f:
    for path in files:
        with gzip.open(path, "rt", newline="") as g:
            g.readline()  # the OAS unit's metadata line
            for row in csv.DictReader(g):
                if k == n:
                    break
                f.write(">%s\n%s\n" % (row["sequence_id_heavy"], row["sequence_alignment_aa_heavy"]))
                k += 1
PY
  INPUT=("$WORK/first.fa")
fi
for T in $IDS; do
  echo "load before $T: $(cut -d' ' -f1-3 /proc/loadavg)"
  out="$WORK/split_$T"
  /usr/bin/time -v build/ablm split --leakage-free --min-seq-id "$T" --threads "$THREADS" \
    --sequences "${INPUT[@]}" --out "$out" > "$out.stdout" 2> "$out.stderr" || {
    echo "bench_split: ablm split failed at $T (see $out.stderr)" >&2; exit 1; }
  python3 - "$out" "$T" <<'PY'
import json, re, sys
out, t = sys.argv[1], sys.argv[2]
r = json.load(open(out + "/leakage_report.json"))
lf, sp = r["leakage_free"], r["split"]
err = open(out + ".stderr").read()
wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", err).group(1)
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", err).group(1))
ck = lf["check"]
print(f"identity >= {t}: {lf['sequences']} sequences ({lf['unique_sequences']} unique), "
      f"{lf['components']} components, largest {lf['largest_component']:.0f} "
      f"({100 * lf['largest_component_fraction']:.1f}%), top10 {sp['top10_cluster_sizes']}")
print(f"  components {lf['seconds']:.1f} s: {lf['unique_pairs']:.0f} pairs, "
      f"{lf['pairs_aligned']:.0f} aligned, {lf['pairs_bounded']:.0f} excluded by the bounds, "
      f"{lf['pairs_already_connected']:.0f} already connected")
print("  sets: " + ", ".join(f"{k} {sp[k]['sequences']} (target {sp[k]['target']:.0f})"
                             for k in ("train", "val", "test")))
for w in sp["warnings"]:
    print("  WARNING: " + w)
print(f"  check: {ck['checked']} val/test sequences vs every train sequence: "
      f"{ck['violations']} at >= {t} ({ck['alignments']} alignments, {ck['pairs_bounded']} "
      f"pairs excluded by the bounds, {ck['seconds']:.1f} s)")
for k in ("val", "test"):
    l = r.get("leakage", {}).get(k)
    if l and l["sampled"]:
        c = l["closest"][0]
        print(f"  leakage {k} ({l['mode']}, {l['sampled']} sequences): median {l['median_identity']:.3f}, "
              f"max {l['max_identity']:.3f} ({c.get('id')} vs {c.get('train_id')}), "
              f"{l['seconds']:.1f} s")
cpu = sum(float(re.search(p + r": (\S+)", err).group(1))
          for p in (r"User time \(seconds\)", r"System time \(seconds\)"))
print(f"  wall {wall}, CPU {cpu:.0f} s, peak RSS {rss / 1024:.0f} MB")
met = "yes" if not sp["warnings"] else "no"
row = [t, f"{lf['unique_sequences']}", f"{lf['components']}",
       f"{lf['largest_component']:.0f} ({100 * lf['largest_component_fraction']:.1f}%)",
       f"{lf['pairs_aligned']:.0f} / {lf['pairs_bounded']:.0f} / {lf['pairs_already_connected']:.0f}",
       f"{lf['seconds']:.0f}",
       " / ".join(f"{sp[k]['sequences']}" for k in ("train", "val", "test")), met,
       f"{ck['checked']}", f"{ck['violations']}",
       f"{ck['alignments']:.0f} / {ck['pairs_bounded']:.0f}", f"{ck['seconds']:.0f}", wall,
       f"{cpu:.0f}", f"{rss / 1024:.0f}"]
open(out + ".row", "w").write("| " + " | ".join(row) + " |\n")
PY
  echo "load after $T: $(cut -d' ' -f1-3 /proc/loadavg)"
done
echo
echo "| T | unique seqs | components | largest (share) | pairs aligned / bounded / connected |" \
  "components s | train / val / test | ratios met | val+test checked | reaching T |" \
  "check aligned / bounded | check s | wall | CPU s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for T in $IDS; do cat "$WORK/split_$T.row"; done
echo "outputs in $WORK"
