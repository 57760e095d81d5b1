#!/bin/sh
# run_crosslang.sh on one Redis server: C++, Python and Node each write the data set into
# their own buckets on a redis-server started here (a free port of 127.0.0.1, no
# persistence, stopped at exit whatever happens); the other two read it.
# Usage: run_crosslang_redis.sh <crosslang_cpp> <python3> <node> <source-dir>
set -eu
cpp="$1"; py="$2"; node="$3"; src="$4"
work=$(mktemp -d)
pid=
cleanup() {
  status=$?
  if [ -n "$pid" ]; then
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 1' INT TERM
port=$("$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" \
  --daemonize no --logfile "$work/redis.log" &
pid=$!
i=0
until redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; do
  i=$((i + 1))
  if [ "$i" -gt 200 ]; then
    echo "redis-server did not start on port $port" >&2
    cat "$work/redis.log" >&2 || true
    exit 1
  fi
  sleep 0.05
done
export BUCKETCACHE_CROSSLANG_STORE="redis://127.0.0.1:$port"
here="$src/tests/crosslang"
export PYTHONPATH="$src/bindings/python" PYTHONDONTWRITEBYTECODE=1
export BUCKETCACHE_NODE_PACKAGE="$src/bindings/node/lib/index.js"
"$cpp" write from-cpp
"$py" "$here/crosslang.py" write from-python
"$node" "$here/crosslang.mjs" write from-node
"$py" "$here/crosslang.py" read from-cpp
"$node" "$here/crosslang.mjs" read from-cpp
"$cpp" read from-python
"$node" "$here/crosslang.mjs" read from-python
"$cpp" read from-node
"$py" "$here/crosslang.py" read from-node
echo "6 passed, 0 failed (redis://127.0.0.1:$port)"
