#!/usr/bin/env bash
# Runs every test: the Release build, then the same suites under
# AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")"
scripts/ensure-deps.sh
scripts/build.sh build
(cd build && ctest --output-on-failure)
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DABLM_SANITIZE=ON
(cd build-asan && ASAN_OPTIONS=detect_leaks=1 ABLM_SANITIZED=1 ctest --output-on-failure)
