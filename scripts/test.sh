#!/usr/bin/env bash
# Installs what is missing, then builds and runs every test:
#   1. a build with warnings as errors, all tests (ctest), the reliability stress tests
#      included (label "stress": BUCKETCACHE_STRESS_SECONDS each, default 15);
#   2. an ASan+UBSan build, all tests;
#   3. a ThreadSanitizer build, all tests;
#   4. a clang libFuzzer build (ASan+UBSan): each fuzz target runs BUCKETCACHE_FUZZ_SECONDS
#      (default 60). See docs/reliability.md.
# BUCKETCACHE_SKIP_SANITIZERS=1 skips steps 2-4 (quick local runs); BUCKETCACHE_SKIP_FUZZ=1
# skips step 4. Each step prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
jobs="${BUCKETCACHE_JOBS:-2}"
export BUCKETCACHE_STRESS_SECONDS="${BUCKETCACHE_STRESS_SECONDS:-15}"
fuzz_seconds="${BUCKETCACHE_FUZZ_SECONDS:-60}"
started=$SECONDS

run_suite() {
  local dir="$1"; shift
  local t0=$SECONDS
  cmake -S . -B "$dir" -DBUCKETCACHE_WERROR=ON "$@"
  cmake --build "$dir" -j"$jobs"
  ctest --test-dir "$dir" -j"$jobs" --output-on-failure --timeout 600
  echo "=== $dir: $((SECONDS - t0)) s"
}

echo "=== build with -Werror, run all tests"
run_suite build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo

if [ "${BUCKETCACHE_SKIP_SANITIZERS:-0}" != 1 ]; then
  echo "=== ASan+UBSan build, run all tests"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    run_suite build-asan -DCMAKE_BUILD_TYPE=Debug "-DBUCKETCACHE_SANITIZE=address;undefined"

  echo "=== ThreadSanitizer build, run all tests"
  TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
    run_suite build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUCKETCACHE_SANITIZE=thread

  if [ "${BUCKETCACHE_SKIP_FUZZ:-0}" != 1 ]; then
    echo "=== libFuzzer targets (clang, ASan+UBSan), ${fuzz_seconds} s each"
    t0=$SECONDS
    cmake -S . -B build-fuzz -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DBUCKETCACHE_WERROR=ON -DBUCKETCACHE_FUZZ=ON "-DBUCKETCACHE_SANITIZE=address;undefined" \
      -DBUCKETCACHE_BUILD_TESTS=OFF -DBUCKETCACHE_BUILD_EXAMPLES=OFF \
      -DBUCKETCACHE_FUZZ_SECONDS="$fuzz_seconds"
    cmake --build build-fuzz -j"$jobs" --target fuzz_targets
    ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-fuzz/fuzz -j"$jobs" --output-on-failure
    echo "=== build-fuzz: $((SECONDS - t0)) s"
  fi
fi
echo "=== all test runs passed in $((SECONDS - started)) s"
