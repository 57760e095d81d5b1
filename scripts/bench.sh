#!/usr/bin/env bash
# The benchmark suite in one command (docs/performance.md):
#   bash scripts/bench.sh                          # full run, < 15 min on 2 cores
#   BUCKETCACHE_BENCH_QUICK=1 bash scripts/bench.sh  # ~2 min smoke run
# Installs what is missing (apt-get), builds a Release tree in build-bench/ with the
# benchmarks, runs them in interleaved rounds and writes bench/results.md,
# bench/results.png and bench/results.json. Raw JSON of every round goes to bench/out/
# (git-ignored); bucket data goes to a temp dir that is removed at the end.
#
# Environment:
#   BUCKETCACHE_BENCH_QUICK=1     fewer rounds, shorter runs, smaller prune set
#   BUCKETCACHE_BENCH_ROUNDS=N    rounds (default 5; quick: 3)
#   BUCKETCACHE_BENCH_DIR=DIR     where bucket data is written (default: a new dir in $TMPDIR
#                                 or /var/tmp) - put it on the file system you care about
#   BUCKETCACHE_BENCH_RESULTS=DIR where results.{md,png,json} go (default: bench/)
#   BUCKETCACHE_JOBS=N            build parallelism (default 2)
#   BUCKETCACHE_BENCH_SKIP_REDIS=1 skip the Redis rows (scripts/bench-redis.sh, run last)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
PY=/usr/bin/python3  # Debian's python: it has python3-diskcache and python3-matplotlib

bash scripts/install-deps.sh

# The benchmarks' own extra packages (scripts/install-deps.sh has the library's).
extra=(libbenchmark-dev libsqlite3-dev python3 python3-diskcache python3-matplotlib)
missing=()
for p in "${extra[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  echo "bench: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs="${BUCKETCACHE_JOBS:-2}"
[ "$jobs" -gt 2 ] && jobs=2
build=build-bench
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUCKETCACHE_BUILD_BENCH=ON \
  -DBUCKETCACHE_BUILD_TESTS=OFF -DBUCKETCACHE_BUILD_EXAMPLES=OFF > "$build.cmake.log" 2>&1 ||
  { cat "$build.cmake.log"; exit 1; }
rm -f "$build.cmake.log"
cmake --build "$build" -j"$jobs" --target bucketcache bucketcache_bench

data_parent="${BUCKETCACHE_BENCH_DIR:-${TMPDIR:-/var/tmp}}"
mkdir -p "$data_parent"
data=$(mktemp -d "$data_parent/bucketcache-bench.XXXXXX")
trap 'rm -rf "$data"' EXIT

"$PY" bench/run.py \
  --bench-bin "$build/bench/bucketcache_bench" \
  --library "$build/libbucketcache.so.0" \
  --build-dir "$build" \
  --data-dir "$data" \
  --out-dir bench/out \
  --results-dir "${BUCKETCACHE_BENCH_RESULTS:-bench}" \
  ${BUCKETCACHE_BENCH_ROUNDS:+--rounds "$BUCKETCACHE_BENCH_ROUNDS"} \
  $([ "${BUCKETCACHE_BENCH_QUICK:-0}" = 1 ] && echo --quick)

# The Redis store against raw hiredis GET/SET on its own loopback servers (docs/redis.md,
# "Performance"); BUCKETCACHE_BENCH_SKIP_REDIS=1 leaves it out.
if [ "${BUCKETCACHE_BENCH_SKIP_REDIS:-0}" != 1 ]; then
  bash scripts/bench-redis.sh
fi
