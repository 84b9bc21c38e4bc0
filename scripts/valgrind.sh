#!/usr/bin/env bash
# valgrind memcheck over the unit suites: every invalid read/write, use of
# uninitialised memory in a branch or a syscall, bad free, and definite leak
# fails the run. The suites run in-process (CK_FORK=no) with one OpenMP
# thread, from a RelWithDebInfo build without sanitizers (build-valgrind/;
# valgrind and ASan do not mix).
#
# Usage: scripts/valgrind.sh [--ci] [SUITE[:CASE]...]
#   no SUITE: the fast suites below (FAST); --ci: the CI subset (CI_SUITES);
#   SUITE:CASE runs one Check case of a suite (CK_RUN_CASE)
# Env: VG_BUILD (build dir, default build-valgrind), VG_JOBS (build jobs, 2).
# Exit status: 0 clean, 1 a suite failed or valgrind reported an error.
set -euo pipefail
cd "$(dirname "$0")/.."

# The suites that run in seconds natively (everything but the end-to-end
# training, replay, external-tool and shared-data-heavy suites); under
# valgrind they take seconds to minutes (test_write_faults' train case, 152
# training runs, about 3 min of CPU). Left out for their time under valgrind
# (docs/reliability.md, 2026-12-04): test_leakage (one Check case per test:
# test_leakage:NAME runs one; bound_never_excludes_a_passing_pair and
# real_heavy_chains_exhaustive take tens of minutes), test_train_h2l (55
# minutes; ABLM_VALGRIND shortens its training to 4 steps) and
# test_h2l_heldout (10 minutes, likewise).
FAST="test_adamw test_align test_attention test_config test_faults test_graph test_ids
test_infer test_limits test_mlm_mask test_numeric test_reader test_reader_errors
test_reader_ids test_rng test_roberta test_safetensors test_schedule test_tokenizer
test_train_args test_train_state test_trainer_task test_write_faults test_gpt2
test_generate test_cluster test_gradcheck test_seqstore test_pair_eval test_mlm_head test_kernels
test_bf16 test_encdec test_prepare"
# CI: the parsers', loaders' and numeric suites that run in seconds under
# valgrind (about 30 s of CPU plus the build; the allocation and write-fault
# sweeps, minutes under valgrind, run in CI under ASan + LeakSanitizer).
CI_SUITES="test_numeric test_limits test_reader_errors test_safetensors test_config test_graph
test_tokenizer test_train_args test_seqstore test_write_faults:tmpfs"

suites=""
if [ "${1:-}" = "--ci" ]; then
  suites=$CI_SUITES
  shift
fi
[ $# -gt 0 ] && suites="$*"
[ -n "$suites" ] || suites=$FAST

command -v valgrind >/dev/null || scripts/ensure-deps.sh valgrind
build=${VG_BUILD:-build-valgrind}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
# the suites that run the program (test_kernels' env_override, the end-to-end
# ones) find it in the build dir; the CI subset does not run it
targets=""
[ "$suites" = "$CI_SUITES" ] || targets="--target ablm"
for s in $suites; do targets="$targets --target ${s%%:*}"; done
# shellcheck disable=SC2086
cmake --build "$build" -j"${VG_JOBS:-2}" $targets -- --no-print-directory >"$build/build-vg.log" 2>&1 ||
  { cat "$build/build-vg.log"; exit 1; }

logdir="$build/valgrind"
mkdir -p "$logdir"
src=$PWD
failed=0
total_start=$(date +%s)
for s in $suites; do
  start=$(date +%s)
  log="$logdir/$s.log"
  case_=""
  [ "${s#*:}" != "$s" ] && case_=${s#*:}
  set +e
  (cd tests && env ${case_:+CK_RUN_CASE=$case_} CK_FORK=no OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE ABLM_SOURCE_DIR="$src" \
     ABLM_BUILD_DIR="$src/$build" ABLM_SHARED_DIR="$src/../shared" ABLM_VALGRIND=1 \
     valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
       --show-leak-kinds=definite --num-callers=30 --suppressions="$src/scripts/valgrind.supp" \
       --log-file="$src/$log" "$src/$build/${s%%:*}" >"$src/$logdir/$s.out" 2>&1)
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  # a SUITE:CASE that names no Check case runs nothing: that is no pass
  if [ "$rc" = 0 ] && grep -q 'Checks: 0,' "$logdir/$s.out"; then
    echo "valgrind: $s: no Check case ran (is '${case_:-?}' a TCase of ${s%%:*}?); see $logdir/$s.out"
    failed=1
    continue
  fi
  errors=$(grep -Eo 'ERROR SUMMARY: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+$' || echo '?')
  case $rc in
    0)  echo "valgrind: $s: clean (${secs} s)" ;;
    77) echo "valgrind: $s: skipped a case, no error (${secs} s)" ;;
    99) echo "valgrind: $s: $errors errors (${secs} s); see $log"; failed=1 ;;
    *)  echo "valgrind: $s: suite failed, status $rc (${secs} s); see $logdir/$s.out"; failed=1 ;;
  esac
done
echo "valgrind: $(echo $suites | wc -w) suites in $(( $(date +%s) - total_start )) s, $([ $failed = 0 ] && echo clean || echo FAILED)"
exit $failed
