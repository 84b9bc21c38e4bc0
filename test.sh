#!/usr/bin/env bash
# Runs every test: the Release build, then the same suites under
# AddressSanitizer + UndefinedBehaviorSanitizer. A suite that skipped (exit
# 77: ../shared absent, npm unreachable) fails the run when ../shared/data is
# present or CI is set, since every suite can run there.
set -euo pipefail
cd "$(dirname "$0")"
scripts/ensure-deps.sh mmseqs2 python3-biopython # tests/test_mmseqs.c runs MMseqs2 (--engine mmseqs); tests/test_pair_eval.c checks alignments live against Biopython
# tests/test_mpi.c runs `mpirun --allow-run-as-root --oversubscribe -np 2 ablm ...`
# (Open MPI: libopenmpi-dev and openmpi-bin are in ensure-deps' list); it
# skips only in a build without MPI, which fails the run below like any skip.
require_all=0
[ -d ../shared/data/oas-paired ] || [ -n "${CI:-}" ] && require_all=1

# run_ctest DIR [ENV=VALUE...]: ctest in DIR; fails on a skip when required.
run_ctest() {
  local dir=$1 log
  shift
  log=$(mktemp)
  (cd "$dir" && env "$@" ctest -j2 --output-on-failure) 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  if [ "$rc" -eq 0 ] && [ "$require_all" -eq 1 ] && grep -q '\*\*\*Skipped' "$log"; then
    echo "test.sh: $dir: a required suite skipped; its reasons:" >&2
    grep -h 'SKIP' "$dir/Testing/Temporary/LastTest.log" >&2 || true
    echo "test.sh: failing: every suite must run when ../shared/data is present or CI is set" >&2
    rc=1
  fi
  rm -f "$log"
  return "$rc"
}

scripts/build.sh build
run_ctest build OMP_WAIT_POLICY=PASSIVE
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DABLM_SANITIZE=ON
run_ctest build-asan ASAN_OPTIONS=detect_leaks=1 ABLM_SANITIZED=1
