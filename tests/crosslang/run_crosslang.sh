#!/bin/sh
# Each language writes the data set into its own directory; the other two read it.
# Usage: run_crosslang.sh <crosslang_cpp> <python3> <node> <source-dir>
set -eu
cpp="$1"; py="$2"; node="$3"; src="$4"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
here="$src/tests/crosslang"
export PYTHONPATH="$src/bindings/python" PYTHONDONTWRITEBYTECODE=1
export BUCKETCACHE_NODE_PACKAGE="$src/bindings/node/lib/index.js"
"$cpp" write "$work/from-cpp"
"$py" "$here/crosslang.py" write "$work/from-python"
"$node" "$here/crosslang.mjs" write "$work/from-node"
"$py" "$here/crosslang.py" read "$work/from-cpp"
"$node" "$here/crosslang.mjs" read "$work/from-cpp"
"$cpp" read "$work/from-python"
"$node" "$here/crosslang.mjs" read "$work/from-python"
"$cpp" read "$work/from-node"
"$py" "$here/crosslang.py" read "$work/from-node"
echo "6 passed, 0 failed"
