#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test:
#   1. a build with warnings as errors, all tests (ctest);
#   2. an ASan+UBSan build, all tests.
# BUCKETCACHE_SKIP_SANITIZERS=1 skips step 2 (for quick local runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs="${BUCKETCACHE_JOBS:-2}"

run_suite() {
  local dir="$1"; shift
  cmake -S . -B "$dir" -DBUCKETCACHE_WERROR=ON "$@"
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" -j"$jobs" --output-on-failure --timeout 600
}

echo "=== build with -Werror, run all tests"
run_suite build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${BUCKETCACHE_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "=== ASan+UBSan build, run all tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug "-DBUCKETCACHE_SANITIZE=address;undefined"
fi
echo "=== all test runs passed"
