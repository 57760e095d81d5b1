'use strict';

// Memoization options (issue 14, docs/memoize.md): getOrCompute's per-call options
// (bc_get_or_compute_ex: maxAgeMs, refresh, skipCache), memoized.callWith, the
// entrySizeLimitBytes and disabled options, and disable()/enable().

const test = require('node:test');
const assert = require('node:assert/strict');
const bucketcache = require('../lib');
const { Bucket } = bucketcache;
const { tempDir, sleepSync } = require('../support/helpers');

test('getOrCompute: refresh, skipCache, maxAgeMs', () => {
  const b = new Bucket(tempDir('memo-call'));
  let n = 0;
  const next = () => ++n;
  assert.equal(b.getOrCompute('k', next), 1);
  assert.equal(b.getOrCompute('k', next), 1);
  assert.equal(b.getOrCompute('k', next, { refresh: true }), 2);
  assert.equal(b.get('k'), 2);
  assert.equal(b.getOrCompute('k', next, { skipCache: true }), 3);
  assert.equal(b.get('k'), 2);
  assert.equal(b.getOrCompute('fresh', next, { skipCache: true }), 4);
  assert.equal(b.has('fresh'), false);
  sleepSync(10);
  assert.equal(b.getOrCompute('k', next, { maxAgeMs: 3600 * 1000 }), 2);
  assert.equal(b.getOrCompute('k', next, { maxAgeMs: 2 }), 5);
  assert.equal(b.get('k'), 5);
  assert.throws(() => b.getOrCompute('k', next, { refresh: true, skipCache: true }), TypeError);
  assert.throws(() => b.getOrCompute('k', next, { maxAgeMs: -1 }), RangeError);
  assert.throws(() => b.getOrCompute('k', next, { bogus: 1 }), TypeError);
  b.close();
});

test('memoize: callWith per-call options', () => {
  const b = new Bucket(tempDir('memo-callwith'));
  let calls = 0;
  const sq = b.memoize(function square(x) {
    calls++;
    return x * x + calls;
  });
  assert.equal(sq(3), 10);
  assert.equal(sq(3), 10);
  assert.equal(sq.callWith({ refresh: true }, 3), 11);
  assert.equal(sq(3), 11);
  assert.equal(sq.callWith({ skipCache: true }, 3), 12);
  assert.equal(sq(3), 11);
  b.close();
});

test('entrySizeLimitBytes: larger results are returned, not stored', () => {
  const b = new Bucket(tempDir('memo-limit'), { entrySizeLimitBytes: 16 });
  assert.equal(b.getOrCompute('big', () => 'x'.repeat(100)), 'x'.repeat(100));
  assert.equal(b.has('big'), false);
  assert.equal(b.getOrCompute('small', () => 'x'), 'x');
  assert.equal(b.has('small'), true);
  b.close();
  assert.throws(() => new Bucket(tempDir('memo-limit2'), { entrySizeLimitBytes: -1 }), TypeError);
});

test('disabled option and disable()/enable()', () => {
  const dir = tempDir('memo-disabled');
  const b = new Bucket(dir);
  b.set('k', 1);
  const off = new Bucket(dir, { disabled: true });
  assert.equal(off.get('k'), undefined);
  off.set('n', 2);
  let n = 0;
  assert.equal(off.getOrCompute('c', () => ++n), 1);
  assert.equal(off.getOrCompute('c', () => ++n), 2);
  off.close();
  assert.equal(b.has('n'), false);
  bucketcache.disable();
  try {
    assert.equal(bucketcache.isDisabled(), true);
    assert.equal(b.get('k'), undefined);
    assert.equal(b.has('k'), false);
    b.set('m', 3);
    assert.equal(b.getOrCompute('c', () => ++n), 3);
    assert.equal(b.getOrCompute('c', () => ++n), 4);
  } finally {
    bucketcache.enable();
  }
  assert.equal(b.get('k'), 1);
  assert.equal(b.has('m'), false);
  assert.equal(b.has('c'), false);
  b.close();
});

test('pop: get-and-delete (bc_pop)', () => {
  const b = new Bucket(tempDir('memo-pop'));
  b.set('k', [1, 2]);
  assert.deepEqual(b.pop('k'), [1, 2]);
  assert.equal(b.has('k'), false);
  assert.equal(b.pop('k'), undefined);
  b.close();
});
