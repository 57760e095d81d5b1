#!/usr/bin/env bash
# Installs what is missing, builds bucketcache and runs the quick-start demo twice:
# the first run computes, the second (a new process) is served from the cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUCKETCACHE_BUILD_TESTS=OFF
cmake --build build -j2 --target quickstart
cache_dir="$(mktemp -d)/quickstart-cache"
echo "--- first run"
./build/examples/quickstart "$cache_dir"
echo "--- second run (new process)"
./build/examples/quickstart "$cache_dir"
rm -rf "$(dirname "$cache_dir")"
