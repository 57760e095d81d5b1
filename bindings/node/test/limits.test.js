'use strict';

// Bounds and statistics (issue 14, docs/cache-management.md): sizeLimitBytes, eviction,
// stats(), resetStats() - thin wrappers over BC_OPT_SIZE_LIMIT_BYTES, BC_OPT_EVICTION,
// bc_stat and bc_stat_reset.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Bucket } = require('../lib');
const { tempDir } = require('../support/helpers');

const LIB = path.join(__dirname, '..', 'lib');

test('stats count hits, misses and writes; resetStats zeroes them', () => {
  const dir = tempDir('stats');
  const b = new Bucket(dir);
  b.set('a', 1);
  assert.equal(b.get('a'), 1);
  assert.equal(b.get('missing'), undefined);
  const s = b.stats();
  assert.deepEqual(
    { hits: s.hits, misses: s.misses, writes: s.writes, evictions: s.evictions, expired: s.expired, entries: s.entries },
    { hits: 1, misses: 1, writes: 1, evictions: 0, expired: 0, entries: 1 },
  );
  assert.ok(s.bytes > 0);
  b.resetStats();
  assert.equal(b.stats().hits, 0);
  assert.equal(b.stats().entries, 1);
  b.close();
});

test('sizeLimitBytes evicts the oldest stored entries; eviction is checked', () => {
  const dir = tempDir('limit');
  const b = new Bucket(dir, { backend: 'raw', sizeLimitBytes: 20000 });
  for (let i = 0; i < 60; i++) b.set(`key-${100 + i}`, Buffer.alloc(1000, 1));
  const s = b.stats();
  assert.ok(s.bytes <= 20000, `bytes ${s.bytes}`);
  assert.equal(s.entries + s.evictions, 60);
  assert.equal(b.has('key-159'), true);
  assert.equal(b.has('key-100'), false);
  b.close();
  assert.throws(() => new Bucket(dir, { eviction: 'fifo' }), TypeError);
  assert.throws(() => new Bucket(dir, { sizeLimitBytes: -1 }), TypeError);
  new Bucket(dir, { eviction: 'lru', sizeLimitBytes: 1 << 20 }).close();
});

function runNode(code, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.on('error', reject);
    child.on('exit', (rc) => (rc === 0 ? resolve() : reject(new Error(`child exited ${rc}`))));
  });
}

test('counters of processes add up after they close', async () => {
  const dir = tempDir('statprocs');
  const first = new Bucket(dir);
  first.set('k', 'v');
  first.resetStats();
  first.close();
  const code = `const { Bucket } = require(${JSON.stringify(LIB)});
    const b = new Bucket(process.argv[1]);
    for (let i = 0; i < 400; i++) if (b.get('k') !== 'v') process.exit(3);
    for (let i = 0; i < 100; i++) if (b.get('none-' + i) !== undefined) process.exit(4);
    b.close();`;
  await Promise.all([1, 2].map(() => runNode(code, [dir])));
  const b = new Bucket(dir);
  const s = b.stats();
  assert.equal(s.hits, 800);
  assert.equal(s.misses, 200);
  b.close();
});
