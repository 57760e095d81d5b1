# Helpers for the install tests (sourced). Each check prints "ok: ..." and counts a pass;
# a failed check prints "FAIL: ..." and exits.
passed=0
ok() { passed=$((passed + 1)); echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# check_pkgconfig <pc-dir> <expected-prefix> <expected-libdir>: the pkg-config file under
# <pc-dir> must give -I<prefix>/include and -L<libdir>, with the header and library there.
check_pkgconfig() {
  pcdir="$1"; want_prefix=$(realpath "$2"); want_libdir=$(realpath "$3")
  inc=$(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags-only-I bucketcache | sed 's/^ *-I//; s/ *$//')
  lib=$(PKG_CONFIG_PATH="$pcdir" pkg-config --libs-only-L bucketcache | sed 's/^ *-L//; s/ *$//')
  [ -n "$inc" ] && [ -d "$inc" ] || fail "pkg-config include dir '$inc' does not exist ($pcdir)"
  [ -n "$lib" ] && [ -d "$lib" ] || fail "pkg-config library dir '$lib' does not exist ($pcdir)"
  [ "$(realpath "$inc")" = "$want_prefix/include" ] ||
    fail "pkg-config gives -I$inc, not $want_prefix/include"
  [ "$(realpath "$lib")" = "$want_libdir" ] || fail "pkg-config gives -L$lib, not $want_libdir"
  [ -f "$inc/bucketcache/bucketcache.h" ] || fail "no bucketcache/bucketcache.h under -I$inc"
  [ -e "$lib/libbucketcache.so" ] || fail "no libbucketcache.so under -L$lib"
  ok "pkg-config paths in $pcdir: -I$want_prefix/include -L$want_libdir"
}

# build_consumers <src> <work> <label> <prefix> <libdir> [run-env...]: the C consumer via
# pkg-config (gcc), the C++ consumer via find_package with clang++ and no -std flag; both run.
build_consumers() {
  src="$1"; label="$3"; w="$2/$3"; prefix="$4"; libdir="$5"; shift 5
  mkdir -p "$w"
  cc -std=c99 -Wall -Wextra -Werror -o "$w/c_consumer" "$src/tests/install/c_consumer.c" \
    $(PKG_CONFIG_PATH="$libdir/pkgconfig" pkg-config --cflags --libs bucketcache) ||
    fail "$label: C consumer does not build with pkg-config"
  env LD_LIBRARY_PATH="$libdir" "$@" "$w/c_consumer" "$w/cache" || fail "$label: C consumer failed"
  ok "$label: C consumer (pkg-config) builds and runs"
  if cmake -S "$src/tests/install/cxx_consumer" -B "$w/cxx" -DCMAKE_PREFIX_PATH="$prefix" \
      -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=Release > "$w/cxx-configure.log" 2>&1 &&
    cmake --build "$w/cxx" > "$w/cxx-build.log" 2>&1; then :; else
    cat "$w/cxx-configure.log" "$w/cxx-build.log" 2>/dev/null | tail -n 30
    fail "$label: C++ consumer does not build with clang++ (no -std flag) through find_package"
  fi
  if grep -q -- '-std=' "$src/tests/install/cxx_consumer/CMakeLists.txt"; then
    fail "the C++ consumer must not set a standard itself"
  fi
  env LD_LIBRARY_PATH="$libdir" "$@" "$w/cxx/cxx_consumer" "$w/cache" || fail "$label: C++ consumer failed"
  ok "$label: C++ consumer (find_package, clang++, no -std flag) builds and runs"
}

# sandboxed_step <skip-reason> <fail-message> <ok-message> <command...>: runs the command in
# sandbox.sh (a throw-away root; BUCKETCACHE_SANDBOX_OVERLAYS passes through). Where no
# sandbox can be made (exit 77) it prints SKIP with the reason and the totals and exits 0;
# this is each script's last step.
sandboxed_step() {
  skip_reason="$1"; fail_message="$2"; ok_message="$3"; shift 3
  set +e
  sh "$src/tests/install/sandbox.sh" "$work" "$@"
  rc=$?
  set -e
  if [ "$rc" -eq 77 ]; then
    echo "SKIP: $skip_reason"
    echo "$passed passed, 0 failed, 1 skipped"
    exit 0
  fi
  [ "$rc" -eq 0 ] || fail "$fail_message (exit $rc)"
  ok "$ok_message"
}
