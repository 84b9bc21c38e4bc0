#!/usr/bin/env bash
# Installs the Debian packages ablm needs when any is missing (run as root on
# Debian 12). Extra package names given as arguments are ensured too.
# Add a package the build or a test needs to the one list below (one per
# line, with why); scripts/fresh-machine.sh checks that the list is complete
# on a pristine debootstrap minbase root.
set -euo pipefail
pkgs=(
  build-essential     # gcc, make, libc headers
  cmake
  pkg-config
  libopenblas-dev     # GEMM
  libdnnl-dev         # oneDNN GEMM
  ocl-icd-opencl-dev  # oneDNN's dnnl-config.cmake calls find_package(OpenCL); libdnnl-dev only recommends it
  libcjson-dev
  check               # the test suites
  zlib1g-dev          # .gz readers
  libopenmpi-dev      # data-parallel training (examples/dist.c; CMake builds without MPI when absent)
  openmpi-bin         # mpirun, for the MPI tests (tests/test_mpi.c)
  ca-certificates     # npm ci over https (tests/test_hf_tokenizers.c)
  "$@"
)
# tests/test_hf_tokenizers.c (npm ci): Debian's nodejs and npm, unless node/npm
# come from elsewhere (Debian's npm conflicts with a non-Debian nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(nodejs npm)
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
