#!/usr/bin/env bash
# Installs the Debian packages ablm needs when any is missing (run as root on
# Debian 12). Extra package names given as arguments are ensured too.
set -euo pipefail
# ocl-icd-opencl-dev: oneDNN's dnnl-config.cmake calls find_package(OpenCL), and
# libdnnl-dev only recommends it (we install without recommends).
pkgs=(build-essential cmake pkg-config libopenblas-dev libdnnl-dev ocl-icd-opencl-dev libcjson-dev check zlib1g-dev "$@")
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm) # tests/test_hf_tokenizers.c (npm ci); skip if node/npm come from elsewhere
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "ensure-deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-deps: missing packages and not root; install them: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
