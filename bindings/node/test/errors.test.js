'use strict';

// Errors: codes and detail from the library, TypeErrors for keys JS cannot send, and the
// library discovery message.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { Bucket, BucketCacheError, codes, jsonKey, version } = require('../lib');
const { tempDir } = require('../support/helpers');

test('a path that cannot be a directory: BC_EIO with code, errno and detail', () => {
  const file = path.join(tempDir('eio'), 'a file');
  fs.writeFileSync(file, 'not a directory');
  for (const p of [file, path.join(file, 'below')]) {
    assert.throws(
      () => new Bucket(p),
      (e) => {
        assert.ok(e instanceof BucketCacheError);
        assert.ok(e instanceof Error);
        assert.equal(e.name, 'BucketCacheError');
        assert.equal(e.code, 'BC_EIO');
        assert.equal(e.errno, -3);
        assert.equal(e.errno, codes.BC_EIO);
        assert.ok(e.detail.length > 0);
        assert.ok(e.message.includes(e.detail), e.message);
        assert.ok(e.message.includes(file), e.message);
        return true;
      },
    );
  }
});

test('a write the file system refuses: BC_EIO from set()', () => {
  const dir = tempDir('eio-set');
  const b = new Bucket(dir);
  b.set('k', 1);
  // Replace the entry's shard directory by a file (works as root too).
  const shard = fs.readdirSync(dir).find((n) => n.length === 2);
  fs.rmSync(path.join(dir, shard), { recursive: true });
  fs.writeFileSync(path.join(dir, shard), 'in the way');
  assert.throws(() => b.set('k', 2), (e) => e instanceof BucketCacheError && e.code === 'BC_EIO' && e.errno === -3);
  b.close();
});

// Root reads any file, so as root the check runs in a child process as user "nobody".
const UNREADABLE_CHECK = `
  const fs = require('node:fs');
  const path = require('node:path');
  const { Bucket } = require(process.argv[1]);
  const dir = process.argv[2];
  const b = new Bucket(dir, { memoryLimitBytes: 0 });
  b.set('k', 1);
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith('.bce')) fs.chmodSync(path.join(d, e.name), 0);
    }
  };
  walk(dir);
  try {
    b.get('k');
    process.exit(1);
  } catch (e) {
    process.exit(e.code === 'BC_EIO' ? 0 : 2);
  }
`;

// The node_modules directory koffi was found in, for the child processes below.
function koffiModulesDir() {
  let dir = require.resolve('koffi');
  while (path.basename(dir) !== 'node_modules') dir = path.dirname(dir);
  return dir;
}

// What a child running as "nobody" needs, copied to a world-readable scratch directory:
// the checkout (lib/, koffi, the built library) may sit under a 0700 directory such as
// /root, which nobody cannot enter.
function worldReadableCopy() {
  const scratch = tempDir('nobody');
  fs.chmodSync(scratch, 0o755);
  const lib = path.join(scratch, 'lib');
  fs.cpSync(path.join(__dirname, '..', 'lib'), lib, { recursive: true });
  const modules = path.join(scratch, 'node_modules');
  fs.cpSync(koffiModulesDir(), modules, { recursive: true, dereference: true });
  const library = path.join(scratch, 'libbucketcache.so.0');
  fs.copyFileSync(version().path, library);
  // cpSync keeps the modes, which are readable by all as npm and cmake write them; make sure.
  const open = (p) => {
    const st = fs.statSync(p);
    fs.chmodSync(p, st.mode | (st.isDirectory() ? 0o555 : 0o444));
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) open(path.join(p, e));
  };
  open(scratch);
  return { scratch, lib, modules, library };
}

test('an unreadable entry is an error, not a miss', () => {
  const dir = tempDir('perm');
  let libPath = path.join(__dirname, '..', 'lib');
  const options = { encoding: 'utf8', env: process.env };
  if (process.getuid && process.getuid() === 0) {
    fs.chmodSync(dir, 0o777);
    const copy = worldReadableCopy();
    libPath = copy.lib;
    options.uid = 65534;
    options.gid = 65534;
    options.cwd = copy.scratch;
    options.env = { ...process.env, NODE_PATH: copy.modules, BUCKETCACHE_LIBRARY: copy.library };
  }
  const r = spawnSync(process.execPath, ['-e', UNREADABLE_CHECK, libPath, path.join(dir, 'bucket')], options);
  assert.equal(r.status, 0, `child exited ${r.status}: ${r.stderr}`);
});

test('keys JS cannot send exactly are TypeErrors, before the library sees them', () => {
  const b = new Bucket(tempDir('badkeys'));
  const cyclic = { a: 1 };
  cyclic.self = cyclic;
  const bad = [
    undefined, () => 1, Symbol('s'), 10n, NaN, Infinity, -Infinity,
    [1, undefined], { a: undefined }, { f() {} }, [NaN], { n: { deeper: [10n] } },
    new Map([[1, 2]]), new Set([1]), cyclic, /re/, new (class Point { constructor() { this.x = 1; } })(),
  ];
  for (const key of bad) {
    for (const call of [() => b.get(key), () => b.set(key, 1), () => b.has(key), () => b.delete(key)]) {
      assert.throws(call, TypeError, String(key && key.toString ? key.toString() : key));
    }
  }
  let deep = 0;
  for (let i = 0; i < 1025; i++) deep = [deep];
  assert.throws(() => b.get(deep), TypeError);
  b.close();
});

test('keys with toJSON() use its result (Dates as their ISO text)', () => {
  const b = new Bucket(tempDir('tojson'));
  b.set({ at: new Date(0) }, 'epoch');
  assert.equal(b.get({ at: '1970-01-01T00:00:00.000Z' }), 'epoch');
  b.close();
});

test('keys the library rejects are BC_EINVAL errors with the byte offset', () => {
  const b = new Bucket(tempDir('einval'));
  assert.throws(
    () => b.set(jsonKey('{"a":1,"a":2}'), 1),
    (e) => e instanceof BucketCacheError && e.code === 'BC_EINVAL' && e.errno === -2 && /byte \d+/.test(e.message),
  );
  // A lone surrogate survives JSON.stringify as \ud800, which is not a valid key.
  assert.throws(() => b.set('\ud800', 1), (e) => e.code === 'BC_EINVAL');
  b.close();
});

test('jsonKey takes text or bytes only', () => {
  assert.throws(() => jsonKey(5), TypeError);
  assert.equal(jsonKey(Buffer.from('[1]')).text, '[1]');
});

test('version() reports the loaded library', () => {
  const v = version();
  assert.match(v.library, /^\d+\.\d+\.\d+$/);
  assert.equal(typeof v.number, 'number');
  assert.equal(v.format, 2);
  assert.ok(v.path);
});

const libDir = path.join(__dirname, '..', 'lib');
const koffiModules = koffiModulesDir();

test('BUCKETCACHE_LIBRARY naming a missing file: a clear error', () => {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(libDir)})`], {
    encoding: 'utf8',
    env: { ...process.env, BUCKETCACHE_LIBRARY: '/nonexistent/libbucketcache.so.0', NODE_PATH: koffiModules },
  });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /cannot load the library named by BUCKETCACHE_LIBRARY \(\/nonexistent\/libbucketcache\.so\.0\)/);
});

test('without BUCKETCACHE_LIBRARY: the newest plain build tree of the repository, never a sanitizer build, else a clear error', () => {
  // A copy of the package in a fake repository: <root>/bindings/node/lib and <root>/build-x.
  const root = tempDir('repo');
  const pkgLib = path.join(root, 'bindings', 'node', 'lib');
  fs.mkdirSync(pkgLib, { recursive: true });
  for (const f of fs.readdirSync(libDir)) fs.copyFileSync(path.join(libDir, f), path.join(pkgLib, f));
  const env = { ...process.env, NODE_PATH: koffiModules };
  delete env.BUCKETCACHE_LIBRARY;
  const script = `console.log(require(${JSON.stringify(pkgLib)}).version().path)`;

  const probe = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
  if (probe.status === 0 && probe.stdout.trim() === 'libbucketcache.so.0') {
    return; // installed where the system loader finds it: that comes first
  }
  assert.notEqual(probe.status, 0);
  assert.match(probe.stderr, /cannot find the native library libbucketcache\.so\.0/);
  assert.match(probe.stderr, /BUCKETCACHE_LIBRARY/);

  // Sanitizer build trees are never loaded, however new: one marked by its CMakeCache.txt,
  // one whose library references a sanitizer runtime (here: the plain library with the
  // marker appended, which still loads if discovery picked it).
  const asan = path.join(root, 'build-asan');
  fs.mkdirSync(asan);
  fs.copyFileSync(version().path, path.join(asan, 'libbucketcache.so.0'));
  fs.writeFileSync(path.join(asan, 'CMakeCache.txt'),
    'CMAKE_BUILD_TYPE:STRING=Debug\nBUCKETCACHE_SANITIZE:STRING=address;undefined\n');
  const tsan = path.join(root, 'build-custom');
  fs.mkdirSync(tsan);
  fs.writeFileSync(path.join(tsan, 'libbucketcache.so.0'),
    Buffer.concat([fs.readFileSync(version().path), Buffer.from('\0__tsan_init\0')]));
  const onlySanitizers = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
  assert.notEqual(onlySanitizers.status, 0, onlySanitizers.stdout);
  assert.match(onlySanitizers.stderr, /build-asan\/libbucketcache\.so\.0: skipped, a sanitizer build/);
  assert.match(onlySanitizers.stderr, /build-custom\/libbucketcache\.so\.0: skipped, a sanitizer build/);

  const build = path.join(root, 'build-node');
  fs.mkdirSync(build);
  fs.copyFileSync(version().path, path.join(build, 'libbucketcache.so.0'));
  fs.writeFileSync(path.join(build, 'CMakeCache.txt'),
    'CMAKE_BUILD_TYPE:STRING=RelWithDebInfo\nBUCKETCACHE_SANITIZE:STRING=\n');
  const old = new Date(Date.now() - 3600 * 1000);
  fs.utimesSync(path.join(build, 'libbucketcache.so.0'), old, old);
  const found = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env });
  assert.equal(found.status, 0, found.stderr);
  assert.equal(found.stdout.trim(), path.join(build, 'libbucketcache.so.0'));
});
