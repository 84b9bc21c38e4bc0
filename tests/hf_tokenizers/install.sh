#!/bin/sh
# Installs the pinned npm packages of tests/hf_tokenizers (package-lock.json:
# @anush008/tokenizers, Hugging Face tokenizers' Rust core via napi) into
# DEST/node_modules with `npm ci`, unless DEST already holds them for this
# lock file. Used by tests/test_hf_tokenizers.c at test time.
# Exit 0: installed and loadable. Exit 77 (CTest SKIP): node or npm missing,
# or npm could not install (no network, no registry); the reason on stdout.
# Exit 1: installed but the module does not load with this node (a failure).
# Usage: tests/hf_tokenizers/install.sh DEST
set -u
src=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: install.sh DEST}
for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 ||
    { echo "SKIP: $tool not found (Debian: apt-get install nodejs npm)"; exit 77; }
done
mkdir -p "$dest" || exit 1
mod=$dest/node_modules/@anush008/tokenizers
if ! { cmp -s "$src/package-lock.json" "$dest/package-lock.json" && [ -d "$mod" ]; }; then
  rm -rf "$dest/node_modules"
  cp "$src/package.json" "$src/package-lock.json" "$dest/" || exit 1
  if ! (cd "$dest" && npm ci --prefer-offline --no-audit --no-fund --loglevel=error) \
      >"$dest/npm-ci.log" 2>&1; then
    echo "SKIP: npm ci could not install @anush008/tokenizers (no network or registry?):"
    tail -n 5 "$dest/npm-ci.log"
    rm -f "$dest/package-lock.json"
    exit 77
  fi
fi
if ! node -e 'require(process.argv[1])' "$mod" >"$dest/load.log" 2>&1; then
  echo "FAIL: @anush008/tokenizers is installed in $dest but does not load with node $(node --version):"
  tail -n 5 "$dest/load.log"
  exit 1
fi
exit 0
