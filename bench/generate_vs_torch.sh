#!/usr/bin/env bash
# Generation speed, ablm (KV cache, bench_generate) and its PyTorch peer
# (bench/generate_torch.py, KV cache) back to back on the same config, with
# passive OpenMP waiting for both. usage: bench/generate_vs_torch.sh [BUILD_DIR] [flags for both]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
export OMP_WAIT_POLICY=PASSIVE
uptime
"$build/bench_generate" "$@"
/usr/bin/python3 bench/generate_torch.py "$@"
uptime
