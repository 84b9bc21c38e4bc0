#!/usr/bin/env bash
# Long fuzzing: rounds over every target, SECONDS each (default 300), until
# the clock reaches END (a `date -d` time, e.g. 06:10), at the lowest CPU
# priority (nice 19: the fuzzers take only idle CPU on a shared machine).
# Corpora carry over (build-fuzz/corpus/TARGET, the ones fuzz/run.sh
# grows). Run `fuzz/run.sh --prepare` first (build + seeds). The binaries
# and seeds are copied to build-fuzz/long/ at the start of each round, so a
# rebuild does not disturb a running target and new targets join at the
# next round. Each run appends one line to build-fuzz/long/runs.tsv:
#   round target wall_s cpu_s executions status corpus_files
# (cpu_s: user + sys of the fuzzer; under nice it is far below wall_s when
# the machine is busy). A crash stops that target's run; its reproducer
# stays in build-fuzz/artifacts/TARGET/ and the loop goes on. JOBS (1 or 2)
# targets run side by side. TARGETS (names without fuzz_, space-separated)
# chooses the targets and their order; default: every built target.
# Usage: [TARGETS="a b"] fuzz/long.sh END [SECONDS [JOBS]]
# Summary of runs.tsv: fuzz/long.sh --sum
set -uo pipefail
cd "$(dirname "$0")/.."
dir=build-fuzz
L=$dir/long
if [ "${1:-}" = "--sum" ]; then
  printf '%-18s %5s %8s %8s %12s %s\n' target runs wall_s cpu_s executions outcome
  awk -F'\t' 'NR > 1 { w[$2] += $3; c[$2] += $4; e[$2] += $5; n[$2]++; if ($6 != "ok") bad[$2] = bad[$2] " " $6 "@round" $1 }
    END { for (t in w) printf "%-18s %5d %8d %8d %12d %s\n", t, n[t], w[t], c[t], e[t], bad[t] ? "FAILED:" bad[t] : "clean" }' \
    "$L/runs.tsv" | sort
  awk -F'\t' 'NR > 1 { W += $3; C += $4; E += $5; R++ } END { printf "%-18s %5d %8d %8d %12d\n", "total", R, W, C, E }' "$L/runs.tsv"
  exit 0
fi
end=$(date -d "${1:?usage: fuzz/long.sh END [SECONDS [JOBS]]}" +%s)
secs=${2:-300}
jobs=${3:-1}
mkdir -p "$L/bin" "$L/tmp"
[ -f "$L/runs.tsv" ] || printf 'round\ttarget\twall_s\tcpu_s\texecutions\tstatus\tcorpus_files\n' >"$L/runs.tsv"
export TMPDIR=$PWD/$L/tmp
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# One run of target t for s seconds in round r.
run1() {
  local r=$1 t=$2 s=$3
  local c=$dir/corpus/$t a=$dir/artifacts/$t/ log=$L/fuzz_${t}_$r.log
  mkdir -p "$c" "$a" "$L/seeds/$t"
  local st=ok
  /usr/bin/time -f '%e %U %S' -o "$L/time_$t" nice -n 19 "$L/bin/fuzz_$t" -max_total_time="$s" \
    -timeout=10 -rss_limit_mb=2048 -max_len=65536 -artifact_prefix="$a" -print_final_stats=1 \
    "$c" "$L/seeds/$t" >"$log" 2>&1 || st="crash:$(ls -t "$a" 2>/dev/null | head -1)"
  local tm; tm=$(tail -1 "$L/time_$t")
  local ex; ex=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$t" "$(echo "$tm" | awk '{printf "%d", $1}')" \
    "$(echo "$tm" | awk '{printf "%d", $2 + $3}')" "${ex:-0}" "$st" "$(ls "$c" | wc -l)" >>"$L/runs.tsv"
}

round=$(( $(tail -n +2 "$L/runs.tsv" | cut -f1 | sort -n | tail -1) + 1 ))
while [ "$(date +%s)" -lt $((end - 30)) ]; do
  for b in $dir/fuzz_*; do [ -f "$b" ] && [ -x "$b" ] && cp -f "$b" "$L/bin/"; done
  rm -rf "$L/seeds"; cp -r $dir/seeds "$L/seeds"
  targets=${TARGETS:-$(cd "$L/bin" && ls fuzz_* | sed 's/^fuzz_//')}
  set -- $targets
  while [ $# -gt 0 ]; do
    left=$((end - $(date +%s)))
    [ $left -gt 30 ] || break
    s=$((secs < left ? secs : left))
    if [ "$jobs" -ge 2 ] && [ $# -ge 2 ]; then
      run1 $round "$1" $s & run1 $round "$2" $s & wait
      shift 2
    else
      run1 $round "$1" $s
      shift
    fi
  done
  round=$((round + 1))
done
