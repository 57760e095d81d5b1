#!/bin/sh
# The Python binding as a package (bindings/python/pyproject.toml), offline, for Debian's
# /usr/bin/python3 and for the python3 first on PATH (e.g. pyenv's), when they differ:
# 1. `pip install --no-build-isolation --no-index <bindings/python>` into a venv made with
#    --system-site-packages; the installed copy (not the checkout) imports and round-trips a
#    value with BUCKETCACHE_LIBRARY. An interpreter without the `wheel` package (pyenv's)
#    first gets Debian's (python3-wheel-whl) installed into its venv.
# 2. The same interpreters without a venv: the wheel built in 1, `pip install --target`.
# 3. As root, in a throw-away sandbox (sandbox.sh: nothing reaches the machine):
#    `cmake --install <build-dir>` (prefix /usr/local); before `ldconfig` the installed
#    package cannot find the library; after it, it does with no environment variable, in
#    the venvs and after a plain `pip install` into each interpreter itself.
# Usage: run_python_install_test.sh <build-dir> <source-dir>
set -eu
build="$1"
src="$2"
. "$src/tests/install/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work" # never import the checkout's copy
library="$build/libbucketcache.so.0"
[ -f "$library" ] || fail "no $library"
# A copy of the package source: pip's in-tree build writes build/ and *.egg-info there.
cp -R "$src/bindings/python" "$work/pkg"
rm -rf "$work/pkg/tests" "$work/pkg/build" "$work/pkg"/*.egg-info
debian_wheel=$(ls /usr/share/python-wheels/wheel-*.whl 2> /dev/null | head -n 1 || true)

ROUNDTRIP='
import os, sys, tempfile
import bucketcache
here = os.path.realpath(bucketcache.__file__)
want = os.path.realpath(sys.argv[1])
assert here.startswith(want + os.sep), (here, want)
with tempfile.TemporaryDirectory() as d:
    b = bucketcache.Bucket(d, backend=bucketcache.JSONBackend)
    b["key"] = {"value": [1, 2]}
    assert bucketcache.Bucket(d, backend=bucketcache.JSONBackend)["key"] == {"value": [1, 2]}
print("bucketcache", bucketcache.__version__, "from", here, "library", bucketcache.library_path)
'

interpreters=""
seen=""
for py in /usr/bin/python3 "$(command -v python3 || true)"; do
  [ -n "$py" ] && [ -x "$py" ] || continue
  real=$("$py" -c 'import os, sys; print(os.path.realpath(sys.executable))')
  case " $seen " in *" $real "*) continue ;; esac
  seen="$seen $real"
  interpreters="$interpreters $py"
done

i=0
venvs=""
for py in $interpreters; do
  i=$((i + 1))
  venv="$work/venv$i"
  "$py" -m venv --system-site-packages "$venv" || fail "$py -m venv --system-site-packages"
  if ! "$venv/bin/python" -c 'import setuptools, wheel' 2> /dev/null; then
    [ -n "$debian_wheel" ] || fail "$py has no wheel package and python3-wheel-whl is missing"
    "$venv/bin/python" -m pip install -q --no-index "$debian_wheel" || fail "installing wheel into $venv"
  fi
  "$venv/bin/python" -m pip install -q --no-build-isolation --no-index "$work/pkg" > "$work/pip$i.log" 2>&1 ||
    { cat "$work/pip$i.log"; fail "pip install ./bindings/python into a venv of $py"; }
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  BUCKETCACHE_LIBRARY="$library" "$venv/bin/python" -c "$ROUNDTRIP" "$site" ||
    fail "the package installed into a venv of $py"
  "$venv/bin/python" -m pip show bucketcache | grep '^Version: 0\.' > /dev/null || fail "pip show bucketcache"
  ok "pip install --no-build-isolation --no-index ./bindings/python: venv of $py"
  venvs="$venvs $venv"
done

# 2. Without a venv: the wheel built once, installed with --target by each interpreter.
"$work/venv1/bin/python" -m pip wheel -q --no-build-isolation --no-index -w "$work/wheels" "$work/pkg" \
  > "$work/wheel.log" 2>&1 || { cat "$work/wheel.log"; fail "pip wheel"; }
whl=$(ls "$work"/wheels/bucketcache-*-py3-none-any.whl) || fail "no pure-Python wheel"
i=0
for py in $interpreters; do
  i=$((i + 1))
  "$py" -m pip install -q --no-index --target "$work/target$i" "$whl" > "$work/target$i.log" 2>&1 ||
    { cat "$work/target$i.log"; fail "$py -m pip install --target"; }
  BUCKETCACHE_LIBRARY="$library" PYTHONPATH="$work/target$i" "$py" -c "$ROUNDTRIP" "$work/target$i" ||
    fail "the wheel installed with $py --target"
  ok "$(basename "$whl") with $py -m pip install --target"
done

# 3. The installed library, found with no environment variable after ldconfig.
prefixes=""
for py in $interpreters; do
  p=$("$py" -c 'import sys; print(sys.prefix)')
  case "$p" in /usr | /usr/*) ;; *) prefixes="$prefixes $p" ;; esac
done
cat > "$work/system.sh" << INNER
set -eu
. "$src/tests/install/common.sh"
unset BUCKETCACHE_LIBRARY LD_LIBRARY_PATH PYTHONPATH
if ldconfig -p | grep -q libbucketcache.so.0; then echo "libbucketcache is installed on this machine already" >&2; exit 77; fi
cmake --install "$build" > "$work/cmake-install.log"
for venv in $venvs; do
  if "\$venv/bin/python" -c 'import bucketcache' > "$work/before.log" 2>&1; then
    fail "before ldconfig, \$venv found a library (the docs say ldconfig is needed)"
  fi
  grep -q LibraryNotFoundError "$work/before.log" || { cat "$work/before.log"; fail "unexpected error"; }
done
ldconfig
for venv in $venvs; do
  site=\$("\$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "\$venv/bin/python" -c "\$1" "\$site" | tee "$work/after.log"
  grep -q "library libbucketcache.so.0\\\$" "$work/after.log" || fail "not loaded through the system loader"
done
for py in $interpreters; do
  if ! "\$py" -c 'import wheel' 2> /dev/null; then
    "\$py" -m pip install -q --no-index "$debian_wheel"
  fi
  "\$py" -m pip install -q --no-build-isolation --no-index --break-system-packages "$work/pkg" \
    > "$work/sys-pip.log" 2>&1 || { cat "$work/sys-pip.log"; fail "\$py -m pip install ./bindings/python"; }
  site=\$("\$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  "\$py" -c "\$1" "\$site" | tee "$work/after.log"
  grep -q "library libbucketcache.so.0\\\$" "$work/after.log" || fail "\$py: not the system loader's library"
done
echo "sandbox: ok"
INNER
export BUCKETCACHE_SANDBOX_OVERLAYS="$prefixes"
sandboxed_step \
  "cmake --install + ldconfig + pip install into the interpreters: needs root, a private mount namespace and no libbucketcache installed on the machine" \
  "installed library and package" \
  "after cmake --install + ldconfig: the installed package finds libbucketcache.so.0 with no environment variable (venvs and plain pip install into$interpreters)" \
  sh "$work/system.sh" "$ROUNDTRIP"
echo "$passed passed, 0 failed"
