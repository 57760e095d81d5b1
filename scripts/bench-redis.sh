#!/usr/bin/env bash
# bucketcache on Redis and Redis Cluster against raw hiredis GET/SET, in one run
# (docs/redis.md "Performance"):
#   bash scripts/bench-redis.sh [ops per measurement, default 20000] [rounds, default 5]
# Installs what is missing (scripts/install-deps.sh: redis-server, redis-tools, hiredis),
# builds a Release tree in build-bench/ and runs bench/bench_redis.cpp, which starts its
# own redis-server and 3-master cluster on free loopback ports and stops them at the end.
#
# Environment: BUCKETCACHE_JOBS=N build parallelism (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
if ! dpkg-query -W -f='${Status}' libbenchmark-dev 2>/dev/null | grep -q "install ok installed"; then
  # bench/CMakeLists.txt needs it (and libsqlite3-dev) for the other benchmarks.
  SUDO=
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends libbenchmark-dev libsqlite3-dev
fi
build=build-bench
jobs=${BUCKETCACHE_JOBS:-2}
# The Redis benchmark reuses the Redis tests' server helpers (tests/redis/), not the tests.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DBUCKETCACHE_BUILD_BENCH=ON \
  -DBUCKETCACHE_BUILD_TESTS=OFF -DBUCKETCACHE_BUILD_EXAMPLES=OFF > "$build.cmake.log" 2>&1 ||
  { cat "$build.cmake.log"; exit 1; }
rm -f "$build.cmake.log"
cmake --build "$build" -j"$jobs" --target bucketcache_bench_redis
"$build/bench/bucketcache_bench_redis" "${1:-20000}" "${2:-5}"
