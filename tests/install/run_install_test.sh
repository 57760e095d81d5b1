#!/bin/sh
# Installs bucketcache from the build tree into a temporary root (DESTDIR, prefix
# /usr/local: the default), then checks the pkg-config file's paths and builds and runs two
# consumers against it: a C program via pkg-config and a C++ program via
# find_package(bucketcache CONFIG) built with clang++ and no -std flag.
# The multiarch /usr layout and the Debian packages: run_deb_test.sh.
# Usage: run_install_test.sh <build-dir> <source-dir>
set -eu
build="$1"
src="$2"
. "$src/tests/install/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

libdir_rel=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$build/CMakeCache.txt")
[ -n "$libdir_rel" ] || libdir_rel=lib
root="$work/root"
DESTDIR="$root" cmake --install "$build" --prefix /usr/local > "$work/install.log"
prefix="$root/usr/local"
libdir="$prefix/$libdir_rel"
test -L "$libdir/libbucketcache.so" || fail "no libbucketcache.so link in $libdir"
test -L "$libdir/libbucketcache.so.0" || fail "no libbucketcache.so.0 link in $libdir"
test -f "$prefix/include/bucketcache/bucketcache.h" || fail "no bucketcache.h"
test -f "$prefix/include/bucketcache/version.h" || fail "no version.h"
test -f "$libdir/cmake/bucketcache/bucketcacheConfig.cmake" || fail "no CMake package"
ok "files installed under /usr/local/$libdir_rel and /usr/local/include"
if grep -q '^BUCKETCACHE_BUILD_CLI:BOOL=ON' "$build/CMakeCache.txt"; then
  test -f "$prefix/share/man/man1/bucketcache.1" || fail "no man page bucketcache.1"
  "$prefix/bin/bucketcache" --version > /dev/null 2>&1 || fail "installed bin/bucketcache does not run"
  ok "the bucketcache command and its man page installed"
fi

check_pkgconfig "$libdir/pkgconfig" "$prefix" "$libdir"
build_consumers "$src" "$work" usr-local "$prefix" "$libdir"

# The same install moved elsewhere still works (the pkg-config file is relocatable).
mv "$root/usr/local" "$work/moved"
check_pkgconfig "$work/moved/$libdir_rel/pkgconfig" "$work/moved" "$work/moved/$libdir_rel"
echo "$passed passed, 0 failed"
