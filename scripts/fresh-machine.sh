#!/usr/bin/env bash
# Checks that ./test.sh and ./run.sh pass on a pristine Debian 12 machine:
# builds a minimal root with debootstrap (variant minbase) from the apt mirror
# this machine is configured with, puts a clean clone of HEAD and ../shared/data
# in it (/src/ablm and /src/shared/data, so ../shared sits beside the clone as
# in CI), mounts /proc, /sys, /dev and /dev/pts, then runs ./test.sh and
# ./run.sh there as root with an empty environment. Always unmounts; exits
# non-zero naming the step that failed. Run as root.
#
# Usage: scripts/fresh-machine.sh [options]
#   --mirror URL    Debian archive for debootstrap and apt inside the root
#                   (default: $ABLM_FRESH_MIRROR, else the first Debian main
#                   archive for the suite in /etc/apt/sources.list{,.d/*})
#   --suite NAME    Debian suite (default: bookworm)
#   --cache DIR     where the debootstrap base is cached (default:
#                   $ABLM_FRESH_CACHE or /var/cache/ablm-fresh); a base older
#                   than $ABLM_FRESH_CACHE_DAYS days (default 7) is rebuilt
#   --no-cache      debootstrap afresh; neither read nor write the cache
#   --keep DIR      build the root in DIR and leave it there (unmounted) to
#                   inspect; if DIR already holds a root, reuse it (NOT
#                   pristine: packages installed by an earlier run remain)
#   --shared DIR    the shared data dir to copy (default: ../shared)
#   --only STEP     run only STEP inside the root: test or run
#   -h, --help      this text
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "fresh-machine: $*" >&2; exit 2; }

mirror=${ABLM_FRESH_MIRROR:-} suite=bookworm cache=${ABLM_FRESH_CACHE:-/var/cache/ablm-fresh}
use_cache=1 keep='' shared=../shared only=''
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) mirror=${2:?--mirror needs a URL}; shift 2 ;;
    --suite) suite=${2:?--suite needs a name}; shift 2 ;;
    --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
    --no-cache) use_cache=0; shift ;;
    --keep) keep=${2:?--keep needs a directory}; shift 2 ;;
    --shared) shared=${2:?--shared needs a directory}; shift 2 ;;
    --only) only=${2:?--only needs test or run}; shift 2
            [ "$only" = test ] || [ "$only" = run ] || die "--only takes test or run, not $only" ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see scripts/fresh-machine.sh --help)" ;;
  esac
done
[ "$(id -u)" -eq 0 ] || die "must run as root (debootstrap, mount and chroot need it)"

# Prints the first URI of an enabled "deb" source for suite $1 with component
# main that is a Debian archive (not -security, not a third-party repository):
# one-line entries in sources.list and *.list, deb822 stanzas in *.sources.
host_mirror() {
  local s=$1 f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    awk -v s="$s" '
      $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
        uri = $i; suite = $(i + 1); main = 0
        for (j = i + 2; j <= NF; j++) if ($j == "main") main = 1
        if (suite == s && main && uri ~ /debian/ && uri !~ /security/) { print uri; exit } }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    awk -v s="$s" '
      function flush() { if (deb && on && main && hit && uri ~ /debian/ && uri !~ /security/) { print uri; found = 1; exit }
                         deb = 0; on = 1; main = 0; hit = 0; uri = "" }
      BEGIN { on = 1 }
      /^[ \t]*#/ { next }
      /^[ \t]*$/ { flush(); next }
      tolower($1) == "types:" { for (j = 2; j <= NF; j++) if ($j == "deb") deb = 1 }
      tolower($1) == "enabled:" { on = (tolower($2) != "no") }
      tolower($1) == "uris:" { uri = $2 }
      tolower($1) == "suites:" { for (j = 2; j <= NF; j++) if ($j == s) hit = 1 }
      tolower($1) == "components:" { for (j = 2; j <= NF; j++) if ($j == "main") main = 1 }
      END { if (!found) flush() }' "$f"
  done
}
if [ -z "$mirror" ]; then
  mirror=$(host_mirror "$suite" | head -n1)
  [ -n "$mirror" ] || die "no Debian main archive for $suite in /etc/apt/sources.list{,.d}; give --mirror URL"
fi
arch=$(dpkg --print-architecture)
sha=$(git rev-parse HEAD)
[ -z "$(git status --porcelain --untracked-files=no)" ] ||
  echo "fresh-machine: note: uncommitted changes are NOT checked; the root gets HEAD $sha" >&2

step=setup log=
t0=$SECONDS
declare -a times=()
# Records step $1 as done with its duration since $2 (seconds).
mark() { times+=("$(printf '%-22s %4ds' "$1" $((SECONDS - $2)))"); }

if [ -n "$keep" ]; then
  mkdir -p "$keep"; root=$(cd "$keep" && pwd)
else
  mkdir -p /var/tmp; root=$(mktemp -d /var/tmp/ablm-fresh.XXXXXX)
fi
[ "$root" != / ] || die "refusing to use / as the root"
case "$root" in *[[:space:]]*) die "the root's path may not contain spaces: $root" ;; esac

# Kills the processes (started by this run) whose root is inside the chroot,
# unmounts everything under it, and removes it unless --keep. Never removes
# a root that still has something mounted.
cleanup() {
  local rc=$? p m left
  trap - EXIT INT TERM
  [ -z "$log" ] || rm -f "$log"
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/root" 2>/dev/null)" = "$root" ] && kill -9 "${p#/proc/}" 2>/dev/null
  done
  awk -v r="$root/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
    while read -r m; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
  left=$(awk -v r="$root/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo)
  if [ -n "$left" ]; then
    echo "fresh-machine: still mounted, NOT removing $root: $left" >&2
    [ $rc -ne 0 ] || rc=1
  elif [ -z "$keep" ]; then
    rm -rf --one-file-system "$root"
  else
    echo "fresh-machine: root kept in $root (chroot $root /bin/bash)" >&2
  fi
  if [ $rc -ne 0 ]; then
    for m in "${times[@]}"; do echo "  $m" >&2; done
    echo "fresh-machine: FAILED at step '$step' (exit $rc)" >&2
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. the base system: debootstrap minbase, or its cached output ---------
step=debootstrap
t=$SECONDS
bootstrap=(debootstrap --variant=minbase --arch="$arch" "$suite")
if [ -e "$root/etc/debian_version" ]; then
  echo "fresh-machine: reusing the root in $root (not pristine)" >&2
  mark "root reused" "$t"
else
  command -v debootstrap >/dev/null || {
    echo "fresh-machine: installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }
  }
  key=$(printf '%s-%s-%s-%s' "$suite" minbase "$arch" "$mirror" | tr -c 'A-Za-z0-9._-' '_')
  base="$cache/$key.tar.gz"
  days=${ABLM_FRESH_CACHE_DAYS:-7}
  if [ $use_cache -eq 1 ] && [ -s "$base" ] && [ -n "$(find "$base" -mtime -"$days" 2>/dev/null)" ]; then
    echo "fresh-machine: base from cache $base ($(cat "$base.info" 2>/dev/null || echo no info))" >&2
    tar --numeric-owner -xpzf "$base" -C "$root"
    mark "base from cache" "$t"
  else
    echo "fresh-machine: ${bootstrap[*]} $root $mirror" >&2
    "${bootstrap[@]}" "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
      { tail -n 30 "$root.debootstrap.log" >&2; [ -n "$keep" ] || rm -f "$root.debootstrap.log"; exit 1; }
    rm -f "$root.debootstrap.log"
    mark debootstrap "$t"
    if [ $use_cache -eq 1 ]; then
      step=cache t=$SECONDS
      # the cache holds debootstrap's output as it left it: nothing of the
      # project has been copied, installed or run in it yet
      tmp=
      mkdir -p "$cache" && tmp=$(mktemp "$cache/.base.XXXXXX") &&
        tar --numeric-owner -cpzf "$tmp" -C "$root" . && chmod 644 "$tmp" &&
        printf '%s %s, %s\n' "${bootstrap[*]}" "$mirror" "$(date -u +%FT%TZ)" >"$base.info" &&
        mv "$tmp" "$base" || { rm -f ${tmp:+"$tmp"}; echo "fresh-machine: could not write the cache $base" >&2; }
      mark "cache write" "$t"
    fi
  fi
fi

# --- 2. the clean clone and the shared data ---------------------------------
step=copy
t=$SECONDS
rm -rf "$root/src/ablm"
mkdir -p "$root/src"
git clone -q --no-hardlinks --no-checkout "$repo" "$root/src/ablm"
git -C "$root/src/ablm" -c advice.detachedHead=false checkout -q --detach "$sha"
if [ -d "$shared/data" ]; then
  rm -rf "$root/src/shared"
  mkdir -p "$root/src/shared"
  cp -rL "$shared/data" "$root/src/shared/data"
  chmod -R u+w "$root/src/shared"
else
  echo "fresh-machine: note: $shared/data not found; the tests that need it will skip" >&2
fi
mark "copy (HEAD ${sha:0:10})" "$t"

# --- 3. mounts; the root is otherwise as debootstrap left it: its own
# /etc/apt/sources.list ("deb MIRROR SUITE main"), no extra apt settings;
# only the network setup is taken from this machine: resolv.conf, so that apt
# resolves names, and the machine's local trust anchors
# (/usr/local/share/ca-certificates/*.crt, e.g. a TLS-intercepting egress
# proxy's CA), which update-ca-certificates adds to the root's store when
# ensure-deps installs ca-certificates; without them npm (https) fails here
# with SELF_SIGNED_CERT_IN_CHAIN. Neither installs anything of the project.
step=mount
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
for crt in /usr/local/share/ca-certificates/*.crt; do
  [ -e "$crt" ] || continue
  mkdir -p "$root/usr/local/share/ca-certificates"
  cp -L "$crt" "$root/usr/local/share/ca-certificates/"
done
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --bind /dev "$root/dev"
mount --bind /dev/pts "$root/dev/pts"

# Runs command line $1 in /src/ablm inside the root as root, with a clean
# environment (nothing of this machine's PATH, pyenv or build dirs), no stdin,
# and output to stdout and the log $2.
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb CI="${CI:-}" \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    /bin/bash -c "cd /src/ablm && $1" </dev/null 2>&1 | tee "$2"
  return "${PIPESTATUS[0]}"
}

log=$(mktemp /var/tmp/ablm-fresh-test.XXXXXX)
if [ "$only" != run ]; then
  step=./test.sh
  t=$SECONDS
  echo "== fresh-machine: ./test.sh in $root" >&2
  in_root ./test.sh "$log"
  mark ./test.sh "$t"
fi
summary=$(grep -E 'tests passed, [0-9]+ tests failed out of [0-9]+' "$log" || true)
if [ "$only" != test ]; then
  step=./run.sh
  t=$SECONDS
  echo "== fresh-machine: ./run.sh in $root" >&2
  in_root ./run.sh /dev/null
  mark ./run.sh "$t"
fi
step=summary

echo
echo "fresh-machine: Debian $suite minbase from $mirror, HEAD $sha, as root in a chroot"
for l in "${times[@]}"; do echo "  $l"; done
echo "  total                  $((SECONDS - t0))s"
if [ -n "$summary" ]; then
  echo "$summary"
  # ctest: "100% tests passed, 0 tests failed out of 40"
  passed=$(awk '{ n += $NF - $4 } END { print n }' <<<"$summary")
  failed=$(awk '{ n += $4 } END { print n }' <<<"$summary")
  echo "fresh-machine: $passed passed, $failed failed (ctest in the fresh root: build and build-asan)${only:+; only ./$only.sh}"
else
  echo "fresh-machine: ./run.sh passed in the fresh root (test.sh not run)"
fi
