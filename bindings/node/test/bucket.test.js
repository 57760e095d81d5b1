'use strict';

// Bucket operations: has/delete/unloadKey, lifetimes, pruning, deferred writes, close.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { Bucket, BucketCacheError } = require('../lib');
const { tempDir, sleep } = require('../support/helpers');

test('has / delete / unloadKey', () => {
  const dir = tempDir('ops');
  const b = new Bucket(dir);
  assert.equal(b.has('k'), false);
  assert.equal(b.delete('k'), false);
  b.set('k', 1);
  assert.equal(b.has('k'), true);
  b.unloadKey('k'); // drops the memory copy only
  b.unloadKey('never set'); // fine too
  assert.equal(b.has('k'), true);
  assert.equal(b.get('k'), 1);
  assert.equal(b.delete('k'), true);
  assert.equal(b.has('k'), false);
  assert.equal(b.get('k'), undefined);
  assert.equal(new Bucket(dir).has('k'), false);
  b.close();
});

test('entries persist across Bucket objects and see the same keys', () => {
  const dir = tempDir('persist');
  const a = new Bucket(dir);
  a.set({ user: 1, q: ['x'] }, 'stored');
  a.close();
  const b = new Bucket(dir);
  assert.equal(b.get({ q: ['x'], user: 1 }), 'stored'); // member order does not matter
  assert.equal(b.get({ q: ['x'], user: 1.0 }), 'stored');
  assert.equal(b.get({ q: ['x'], user: '1' }), undefined);
  b.close();
});

test('getOrThrow: a miss is a BC_ENOTFOUND error', () => {
  const b = new Bucket(tempDir('throw'));
  assert.throws(() => b.getOrThrow('absent'), (e) => e instanceof BucketCacheError && e.code === 'BC_ENOTFOUND' && e.errno === -1);
  b.set('present', [1]);
  assert.deepEqual(b.getOrThrow('present'), [1]);
  b.close();
});

test('lifetime in ms: entries expire', async () => {
  // 1.5 s: the reads right after the set must come before the lifetime ends, even on a
  // loaded machine.
  const b = new Bucket(tempDir('expire'), { lifetime: 1500 });
  assert.equal(b.lifetime, 1500);
  b.set('k', 'v');
  assert.equal(b.get('k'), 'v');
  const expires = b.expiry('k');
  assert.ok(expires instanceof Date);
  assert.ok(Math.abs(expires.getTime() - (Date.now() + 1500)) < 1000);
  await sleep(1700);
  assert.equal(b.has('k'), false);
  assert.equal(b.get('k'), undefined);
  assert.equal(b.expiry('k'), undefined);
  b.close();
});

test('lifetime as an object; none means never', () => {
  const dir = tempDir('lifetime');
  const b = new Bucket(dir, { lifetime: { days: 1, hours: 2, minutes: 3, seconds: 4, milliseconds: 5 } });
  assert.equal(b.lifetime, ((24 + 2) * 60 + 3) * 60000 + 4005);
  b.set('k', 1);
  const left = b.expiry('k').getTime() - Date.now();
  assert.ok(left > 26 * 3600e3 && left <= b.lifetime + 1000, `${left}`);
  b.close();
  const forever = new Bucket(tempDir('forever'));
  forever.set('k', 1);
  assert.equal(forever.expiry('k'), null);
  forever.close();
  assert.throws(() => new Bucket(dir, { lifetime: -1 }), RangeError);
  assert.throws(() => new Bucket(dir, { lifetime: { fortnights: 1 } }), TypeError);
  assert.throws(() => new Bucket(dir, { lifetime: '1h' }), TypeError);
});

test('pruneDirectory removes expired entries and counts them', async () => {
  const dir = tempDir('prune');
  // 2 s: the first prune below must come before the lifetime ends, even on a loaded machine.
  const short = new Bucket(dir, { lifetime: 2000 });
  // Pruning touches only its own backend's entries: this one stays.
  const other = new Bucket(dir, { backend: 'msgpack' });
  other.set('other backend', 'kept');
  for (let i = 0; i < 5; i++) short.set(['short', i], 'x'.repeat(100));
  assert.deepEqual(short.pruneDirectory(), { bytes: 0, files: 0 });
  await sleep(2100);
  const pruned = short.pruneDirectory();
  assert.equal(pruned.files, 5);
  assert.equal(typeof pruned.bytes, 'number');
  assert.ok(pruned.bytes >= 5 * 100, `${pruned.bytes}`);
  assert.deepEqual(short.pruneDirectory(), { bytes: 0, files: 0 });
  assert.equal(other.get('other backend'), 'kept');
  // The lifetime rule: for a bucket with a lifetime, an entry with a longer recorded
  // lifetime (or none) is a miss, but it is another program's and is never deleted.
  const forever = new Bucket(dir);
  forever.set('never expires', 1);
  assert.equal(short.has('never expires'), false);
  assert.deepEqual(short.pruneDirectory().files, 0);
  forever.unloadKey('never expires');
  assert.equal(forever.has('never expires'), true);
  for (const b of [short, other, forever]) b.close();
});

test('deferred: writes wait for sync()', () => {
  const dir = tempDir('deferred');
  const d = new Bucket(dir, { deferred: true });
  const other = new Bucket(dir, { memoryLimitBytes: 0 });
  assert.equal(d.deferred, true);
  d.set('a', 1);
  d.set('b', 2);
  assert.equal(d.get('a'), 1); // the deferred bucket sees its pending values
  assert.equal(other.has('a'), false); // nothing on disk yet
  d.sync();
  assert.equal(other.get('a'), 1);
  assert.equal(other.get('b'), 2);
  d.set('c', 3);
  d.unloadKey('c'); // syncs first
  assert.equal(other.get('c'), 3);
  d.set('d', 4);
  d.close(); // syncs too
  assert.equal(other.get('d'), 4);
  other.close();
});

test('deferred writes are synced when the process exits without close()', () => {
  const dir = tempDir('exit');
  const lib = path.join(__dirname, '..', 'lib');
  const script = `const { Bucket } = require(${JSON.stringify(lib)});
    const b = new Bucket(${JSON.stringify(dir)}, { deferred: true });
    b.set('left open', 42);`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const b = new Bucket(dir);
  assert.equal(b.get('left open'), 42);
  b.close();
});

test('checkFile: memory hits see other writers', () => {
  const dir = tempDir('checkfile');
  const reader = new Bucket(dir, { checkFile: true });
  const writer = new Bucket(dir);
  writer.set('k', 'old');
  assert.equal(reader.get('k'), 'old');
  writer.set('k', 'new');
  assert.equal(reader.get('k'), 'new');
  reader.close();
  writer.close();
});

test('fsync, memoryLimitBytes, lockWaitMs and modes are accepted', () => {
  const b = new Bucket(tempDir('opts'), {
    fsync: true, memoryLimitBytes: 1 << 20, lockWaitMs: 1000, directoryMode: 0o700, fileMode: 0o600,
  });
  b.set('k', 'v');
  assert.equal(b.get('k'), 'v');
  b.close();
});

test('options are checked', () => {
  const dir = tempDir('badopts');
  assert.throws(() => new Bucket(dir, { backend: 'pickle' }), TypeError);
  assert.throws(() => new Bucket(dir, { backend: 'yaml' }), TypeError);
  assert.throws(() => new Bucket(dir, { keyFormat: 'xml' }), TypeError);
  assert.throws(() => new Bucket(dir, { lifeTime: 5 }), /unknown option 'lifeTime'/);
  assert.throws(() => new Bucket(dir, { deferred: 1 }), TypeError);
  assert.throws(() => new Bucket(dir, { memoryLimitBytes: -1 }), TypeError);
  assert.throws(() => new Bucket(''), TypeError);
  assert.throws(() => new Bucket(42), TypeError);
});

test('close: idempotent; later calls throw BC_EINVAL', () => {
  const b = new Bucket(tempDir('close'));
  b.set('k', 1);
  assert.equal(b.closed, false);
  b.close();
  b.close();
  assert.equal(b.closed, true);
  for (const call of [() => b.get('k'), () => b.set('k', 2), () => b.has('k'), () => b.sync(), () => b.pruneDirectory()]) {
    assert.throws(call, (e) => e instanceof BucketCacheError && e.code === 'BC_EINVAL' && /closed/.test(e.message));
  }
});

test('raw key format: keys are bytes, distinct from JSON keys', () => {
  const dir = tempDir('rawkeys');
  const raw = new Bucket(dir, { keyFormat: 'raw' });
  const json = new Bucket(dir);
  raw.set(Buffer.from([0, 255]), 'bytes');
  raw.set('"k"', 'raw text');
  json.set('k', 'json');
  assert.equal(raw.get(Buffer.from([0, 255])), 'bytes');
  assert.equal(raw.get('"k"'), 'raw text');
  assert.equal(json.get('k'), 'json');
  assert.throws(() => raw.get({ an: 'object' }), TypeError);
  assert.throws(() => raw.memoize(function f() {}), TypeError);
  raw.close();
  json.close();
});

test('getOrCompute: computes on a miss, reads on a hit', () => {
  const b = new Bucket(tempDir('goc'));
  let calls = 0;
  const compute = () => {
    calls++;
    return { computed: true };
  };
  assert.deepEqual(b.getOrCompute('k', compute), { computed: true });
  assert.deepEqual(b.getOrCompute('k', compute), { computed: true });
  assert.equal(calls, 1);
  assert.deepEqual(b.get('k'), { computed: true });
  assert.throws(() => b.getOrCompute('k2', 'not a function'), TypeError);
  b.close();
  const raw = new Bucket(tempDir('goc-raw'), { backend: 'raw' });
  assert.deepEqual(raw.getOrCompute('empty', () => Buffer.alloc(0)), Buffer.alloc(0));
  assert.deepEqual(raw.getOrCompute('empty', () => assert.fail('cached')), Buffer.alloc(0));
  raw.close();
});
