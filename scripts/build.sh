#!/usr/bin/env bash
# Configures and builds ablm with CMake.
# Usage: scripts/build.sh [BUILD_DIR [extra cmake args...]]
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}; shift || true
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build "$dir" -j"$(nproc)" -- --no-print-directory >"$dir/build.log" 2>&1 || { cat "$dir/build.log"; exit 1; }
grep -E 'warning:|error:' "$dir/build.log" >&2 || true
