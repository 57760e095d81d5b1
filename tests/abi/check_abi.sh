#!/bin/sh
# Compares libbucketcache.so's ABI with the committed baseline (abigail-tools).
# An incompatible change fails until the baseline is deliberately regenerated:
#   BUCKETCACHE_UPDATE_ABI=1 ctest -R abi
# Usage: check_abi.sh <library> <public-headers-dir> <baseline.abi>
set -u
lib="$1"
headers="$2"
baseline="$3"
current=$(mktemp)
trap 'rm -f "$current"' EXIT
abidw --headers-dir "$headers" --no-corpus-path "$lib" > "$current" || exit 1
if [ "${BUCKETCACHE_UPDATE_ABI:-0}" = 1 ]; then
  cp "$current" "$baseline"
  echo "ABI baseline updated: $baseline"
  exit 0
fi
if [ ! -f "$baseline" ]; then
  echo "no ABI baseline at $baseline (generate it with BUCKETCACHE_UPDATE_ABI=1)"
  exit 1
fi
abidiff --headers-dir1 "$headers" --headers-dir2 "$headers" "$baseline" "$current"
rc=$?
# abidiff's exit status is a bit field: 1 error, 2 usage error, 4 ABI change,
# 8 incompatible ABI change. Additions (4 alone) are compatible.
if [ $((rc & 11)) -ne 0 ]; then
  echo "ABI check failed (abidiff status $rc): incompatible change or error."
  echo "If the break is intended, bump the SONAME and regenerate the baseline."
  exit 1
fi
echo "ABI compatible with the baseline (abidiff status $rc)"
