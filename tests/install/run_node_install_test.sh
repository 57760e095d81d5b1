#!/bin/sh
# The Node binding as an npm package: `npm pack` in bindings/node gives a tarball that
# installs into a fresh project (`npm install ./bucketcache-x.tgz`, koffi from the npm
# cache or registry: --prefer-offline) as a real copy, not a link into the checkout, and
# works there: a script opens a bucket, sets and gets, with BUCKETCACHE_LIBRARY; without it
# (and no installed library) the error names BUCKETCACHE_LIBRARY. As root, in a throw-away
# sandbox (sandbox.sh): after `cmake --install` + ldconfig it finds the library with no
# environment variable.
# Usage: run_node_install_test.sh <build-dir> <source-dir>
set -eu
build="$1"
src="$2"
. "$src/tests/install/common.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
library="$build/libbucketcache.so.0"
[ -f "$library" ] || fail "no $library"
unset NODE_PATH

cd "$work"
npm pack --silent "$src/bindings/node" > "$work/pack.out" 2> "$work/pack.log" ||
  { cat "$work/pack.log"; fail "npm pack"; }
tgz="$work/$(tail -n 1 "$work/pack.out")"
[ -f "$tgz" ] || fail "npm pack made no tarball ($(cat "$work/pack.out"))"
tar tzf "$tgz" | sort > "$work/contents"
for f in package/package.json package/README.md package/lib/index.js package/lib/index.d.ts \
    package/lib/native.js package/lib/errors.js package/lib/keys.js package/lib/msgpack.js; do
  grep -qx "$f" "$work/contents" || fail "$(basename "$tgz") lacks $f"
done
if grep -E '^package/(test|support|node_modules)/' "$work/contents"; then fail "tests or modules in the tarball"; fi
tar xzf "$tgz" -O package/package.json > "$work/packed.json"
node -e '
const p = require(process.argv[1]);
const peer = (p.peerDependencies || {})["@types/node"];
if (!peer) throw new Error("@types/node is not declared (the .d.ts references node types)");
if (!p.types || !p.dependencies || !p.dependencies.koffi) throw new Error("types/koffi missing");
' "$work/packed.json" || fail "package.json in the tarball"
ok "npm pack: $(basename "$tgz") with lib/, types, README; @types/node declared"

app="$work/app"
mkdir "$app"
printf '{ "name": "bucketcache-consumer", "version": "1.0.0", "private": true }\n' > "$app/package.json"
(cd "$app" && npm install --prefer-offline --no-audit --no-fund "$tgz" > "$work/install.log" 2>&1) ||
  { cat "$work/install.log"; fail "npm install $(basename "$tgz") into a fresh project"; }
[ -d "$app/node_modules/bucketcache" ] && [ ! -L "$app/node_modules/bucketcache" ] ||
  fail "node_modules/bucketcache is not a real copy"
[ -f "$app/node_modules/koffi/package.json" ] || fail "koffi was not installed with the package"
ok "npm install ./$(basename "$tgz") into a fresh project (a copy, with koffi)"

cat > "$app/app.js" << 'JS'
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { Bucket, version } = require('bucketcache');
const where = require.resolve('bucketcache');
assert.ok(where.startsWith(path.join(__dirname, 'node_modules', 'bucketcache') + path.sep), where);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bucketcache-app-'));
try {
  const b = new Bucket(dir);
  b.set({ user: 1 }, { name: 'ada', tags: ['x'] });
  assert.deepEqual(b.get({ user: 1 }), { name: 'ada', tags: ['x'] });
  b.close();
  const again = new Bucket(dir);
  assert.deepEqual(again.get({ user: 1 }), { name: 'ada', tags: ['x'] });
  again.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
console.log(`app: ok, library ${version().path}`);
JS
(cd "$app" && BUCKETCACHE_LIBRARY="$library" node app.js) > "$work/app.log" 2>&1 ||
  { cat "$work/app.log"; fail "the installed package with BUCKETCACHE_LIBRARY"; }
grep -qx "app: ok, library $library" "$work/app.log" || { cat "$work/app.log"; fail "loaded another library"; }
ok "the installed package opens a bucket, sets and gets (BUCKETCACHE_LIBRARY)"

if ! ldconfig -p 2> /dev/null | grep -q libbucketcache.so.0; then
  if (cd "$app" && env -u BUCKETCACHE_LIBRARY -u LD_LIBRARY_PATH node app.js) > "$work/none.log" 2>&1; then
    cat "$work/none.log"; fail "loaded a library with none installed"
  fi
  grep -q "cannot find the native library libbucketcache.so.0" "$work/none.log" &&
    grep -q BUCKETCACHE_LIBRARY "$work/none.log" || { cat "$work/none.log"; fail "unclear error"; }
  ok "no library installed: the error says to set BUCKETCACHE_LIBRARY"
fi

cat > "$work/system.sh" << INNER
set -eu
unset BUCKETCACHE_LIBRARY LD_LIBRARY_PATH
cmake --install "$build" > "$work/cmake-install.log"
ldconfig
cd "$app" && node app.js | tee "$work/system.log"
grep -qx "app: ok, library libbucketcache.so.0" "$work/system.log"
INNER
sandboxed_step "cmake --install + ldconfig: needs root and a private mount namespace" \
  "after cmake --install + ldconfig, the installed package" \
  "after cmake --install + ldconfig: found through the system loader, no environment variable" \
  sh "$work/system.sh"
echo "$passed passed, 0 failed"
