#!/bin/sh
# The /usr layout and the Debian packages:
# 1. configures a second build tree, <build-dir>/packaging-usr, with prefix /usr (GNUInstallDirs
#    then gives Debian's multiarch libdir, lib/<triplet>), builds the library there (kept
#    between runs, so later runs only rebuild what changed);
# 2. installs it into a temporary root: pkg-config paths and consumers, as for /usr/local;
# 3. `cpack -G DEB`: libbucketcache0, libbucketcache-dev and bucketcache-tools, their control
#    fields and contents; `dpkg-deb -x` into a temporary root and consumers against that;
# 4. as root, in a private mount namespace whose /usr, /etc and /var are throw-away overlays
#    (sandbox.sh): `apt-get install ./libbucketcache*.deb`, consumers built with no search
#    paths and run with no LD_LIBRARY_PATH (the package's ldconfig trigger), then
#    `apt-get remove`, which must take every file away. Skipped, saying why, when that
#    cannot be done.
# Usage: run_deb_test.sh <build-dir> <source-dir>
set -eu
build="$1"
src="$2"
. "$src/tests/install/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

tree="$build/packaging-usr"
if ! cmake -S "$src" -B "$tree" -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_BUILD_TYPE=Release \
    -DBUCKETCACHE_BUILD_TESTS=OFF -DBUCKETCACHE_BUILD_EXAMPLES=OFF > "$work/configure.log" 2>&1 ||
  ! cmake --build "$tree" --target bucketcache bucketcache_cli -j2 > "$work/build.log" 2>&1; then
  tail -n 40 "$work/configure.log" "$work/build.log"
  fail "cannot build the /usr packaging tree $tree"
fi
libdir_rel=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$tree/CMakeCache.txt")
triplet=$(gcc -print-multiarch 2> /dev/null || true)
if [ -f /etc/debian_version ] && [ -n "$triplet" ]; then
  [ "$libdir_rel" = "lib/$triplet" ] || fail "prefix /usr on Debian: libdir $libdir_rel, not lib/$triplet"
  ok "prefix /usr: multiarch libdir $libdir_rel"
fi

# 2. DESTDIR install of the /usr tree.
DESTDIR="$work/usr-root" cmake --install "$tree" > "$work/install.log"
prefix="$work/usr-root/usr"
check_pkgconfig "$prefix/$libdir_rel/pkgconfig" "$prefix" "$prefix/$libdir_rel"
build_consumers "$src" "$work" usr-multiarch "$prefix" "$prefix/$libdir_rel"

# 3. The Debian packages.
(cd "$tree" && cpack -G DEB -B "$work/debs" > "$work/cpack.log" 2>&1) ||
  { cat "$work/cpack.log"; fail "cpack -G DEB failed"; }
runtime=$(ls "$work"/debs/libbucketcache0_*.deb 2> /dev/null | head -n 1)
dev=$(ls "$work"/debs/libbucketcache-dev_*.deb 2> /dev/null | head -n 1)
[ -n "$runtime" ] && [ -n "$dev" ] || { ls "$work/debs"; fail "cpack made no libbucketcache0 and libbucketcache-dev"; }
ok "cpack -G DEB: $(basename "$runtime") $(basename "$dev")"

field() { dpkg-deb -f "$1" "$2"; }
version=$(field "$runtime" Version)
[ "$(field "$runtime" Package)" = libbucketcache0 ] || fail "runtime package name"
[ "$(field "$dev" Package)" = libbucketcache-dev ] || fail "dev package name"
field "$dev" Depends | grep -q "libbucketcache0 (= $version)" ||
  fail "libbucketcache-dev must depend on libbucketcache0 (= $version): $(field "$dev" Depends)"
field "$runtime" Depends | grep -q libc6 || fail "runtime Depends lacks the shared-library dependencies"
{ dpkg-deb -I "$runtime" triggers 2> /dev/null; dpkg-deb -I "$runtime" postinst 2> /dev/null; } |
  grep -q ldconfig || fail "libbucketcache0 runs no ldconfig (postinst or trigger)"
dpkg-deb -I "$runtime" shlibs 2> /dev/null | grep -q "^libbucketcache 0 libbucketcache0 (>= $version)" ||
  fail "libbucketcache0 has no shlibs file"
ok "control: names, Depends (= $version), shlibs, ldconfig on install"

dpkg-deb -c "$runtime" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' > "$work/runtime.files"
dpkg-deb -c "$dev" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' > "$work/dev.files"
grep -qx "/usr/$libdir_rel/libbucketcache.so.0" "$work/runtime.files" || fail "runtime lacks .so.0"
grep -q "^/usr/$libdir_rel/libbucketcache.so.0\." "$work/runtime.files" || fail "runtime lacks .so.0.x"
if grep -v "^/usr/$libdir_rel/libbucketcache.so.0" "$work/runtime.files" | grep -v '^/usr/share/doc/'; then
  fail "libbucketcache0 holds more than the library (above)"
fi
for f in /usr/include/bucketcache/bucketcache.h /usr/include/bucketcache/bucketcache.hpp \
    /usr/include/bucketcache/version.h "/usr/$libdir_rel/libbucketcache.so" \
    "/usr/$libdir_rel/pkgconfig/bucketcache.pc" \
    "/usr/$libdir_rel/cmake/bucketcache/bucketcacheConfig.cmake"; do
  grep -qx "$f" "$work/dev.files" || fail "libbucketcache-dev lacks $f"
done
if grep "libbucketcache.so.0" "$work/dev.files"; then fail "libbucketcache-dev holds the runtime library"; fi
ok "contents: the library in libbucketcache0, headers/CMake/pkg-config/.so link in libbucketcache-dev"
tools=$(ls "$work"/debs/bucketcache-tools_*.deb 2> /dev/null | head -n 1)
[ -n "$tools" ] || { ls "$work/debs"; fail "cpack made no bucketcache-tools"; }
dpkg-deb -c "$tools" | awk '{print $6}' | sed 's|^\./|/|' | grep -v '/$' > "$work/tools.files"
grep -qx /usr/bin/bucketcache "$work/tools.files" || fail "bucketcache-tools lacks /usr/bin/bucketcache"
grep -q '^/usr/share/man/man1/bucketcache\.1' "$work/tools.files" || fail "bucketcache-tools lacks the man page"
ok "contents: the bucketcache command and its man page in bucketcache-tools"

debroot="$work/deb-root"
dpkg-deb -x "$runtime" "$debroot"
dpkg-deb -x "$dev" "$debroot"
check_pkgconfig "$debroot/usr/$libdir_rel/pkgconfig" "$debroot/usr" "$debroot/usr/$libdir_rel"
build_consumers "$src" "$work" deb-extracted "$debroot/usr" "$debroot/usr/$libdir_rel"

# 4. apt-get install in a throw-away sandbox.
cat > "$work/apt.sh" << 'INNER'
set -eu
work="$1"; runtime="$2"; dev="$3"; src="$4"; libdir="/usr/$5"
export DEBIAN_FRONTEND=noninteractive
if ldconfig -p | grep -q libbucketcache.so.0; then echo "libbucketcache is installed on this machine already" >&2; exit 77; fi
apt-get install -y -qq "$runtime" "$dev" > "$work/apt-install.log" 2>&1 ||
  { cat "$work/apt-install.log"; echo "FAIL: apt-get install"; exit 1; }
ldconfig -p | grep -q "libbucketcache.so.0 (" ||
  { echo "FAIL: the system loader does not know libbucketcache.so.0 after apt-get install"; exit 1; }
mkdir -p "$work/apt"
cc -std=c99 -Wall -Werror -o "$work/apt/c_consumer" "$src/tests/install/c_consumer.c" \
  $(pkg-config --cflags --libs bucketcache)
env -u LD_LIBRARY_PATH "$work/apt/c_consumer" "$work/apt/cache"
cmake -S "$src/tests/install/cxx_consumer" -B "$work/apt/cxx" -DCMAKE_CXX_COMPILER=clang++ \
  > "$work/apt/cxx.log" 2>&1 && cmake --build "$work/apt/cxx" >> "$work/apt/cxx.log" 2>&1 ||
  { cat "$work/apt/cxx.log"; echo "FAIL: C++ consumer against the installed package"; exit 1; }
env -u LD_LIBRARY_PATH "$work/apt/cxx/cxx_consumer" "$work/apt/cache"
apt-get remove -y -qq libbucketcache-dev libbucketcache0 > "$work/apt-remove.log" 2>&1 ||
  { cat "$work/apt-remove.log"; echo "FAIL: apt-get remove"; exit 1; }
for f in "$libdir/libbucketcache.so.0" "$libdir/libbucketcache.so" /usr/include/bucketcache \
    "$libdir/pkgconfig/bucketcache.pc" "$libdir/cmake/bucketcache"; do
  if [ -e "$f" ]; then echo "FAIL: $f is left after apt-get remove"; exit 1; fi
done
if ldconfig -p | grep -q libbucketcache.so.0; then echo "FAIL: still in the loader cache"; exit 1; fi
echo "apt: install, consumers, remove: ok"
INNER
sandboxed_step \
  "apt-get install ./libbucketcache*.deb: needs root, a private mount namespace and no libbucketcache installed on the machine" \
  "apt-get install/remove of the packages" \
  "apt-get install ./libbucketcache0*.deb ./libbucketcache-dev*.deb: consumers with no search paths, ldconfig on install; apt-get remove leaves nothing" \
  sh "$work/apt.sh" "$work" "$runtime" "$dev" "$src" "$libdir_rel"
echo "$passed passed, 0 failed"
