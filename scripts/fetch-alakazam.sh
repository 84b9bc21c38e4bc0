#!/usr/bin/env bash
# Places Immcantation's example AIRR rearrangement table (example_airr.tsv.gz,
# from Debian's r-cran-alakazam package) at CACHE/example_airr.tsv.gz and
# prints that path. Idempotent: does nothing when the file is already there.
# Usage: scripts/fetch-alakazam.sh [CACHE_DIR]   (default: build/data)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=${1:-build/data}
out="$cache/example_airr.tsv.gz"
if [ -s "$out" ]; then
  echo "$out"
  exit 0
fi
mkdir -p "$cache"
work=$(mktemp -d "$cache/alakazam.XXXXXX")
trap 'rm -rf "$work"' EXIT
deb=$(ls "$cache"/r-cran-alakazam_*.deb 2>/dev/null | head -n1 || true)
if [ -z "$deb" ]; then
  # apt-get download writes into the current directory
  (cd "$work" && apt-get download r-cran-alakazam >&2)
  mv "$work"/r-cran-alakazam_*.deb "$cache"/
  deb=$(ls "$cache"/r-cran-alakazam_*.deb | head -n1)
fi
dpkg -x "$deb" "$work/x"
src=$(find "$work/x" -name example_airr.tsv.gz | head -n1)
[ -n "$src" ] || { echo "fetch-alakazam: example_airr.tsv.gz not found in $deb" >&2; exit 1; }
cp "$src" "$out.tmp"
mv "$out.tmp" "$out"
echo "$out"
