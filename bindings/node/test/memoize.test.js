'use strict';

// memoize() over bc_get_or_compute, and memoizeAsync().

const test = require('node:test');
const assert = require('node:assert/strict');
const { Bucket, BucketCacheError } = require('../lib');
const { tempDir, sleep } = require('../support/helpers');

test('hits and misses: the function runs once per distinct arguments', () => {
  const b = new Bucket(tempDir('memo'));
  let calls = 0;
  const add = b.memoize(function add(x, y) {
    calls++;
    return { sum: x + y };
  });
  assert.deepEqual(add(1, 2), { sum: 3 });
  assert.deepEqual(add(1, 2), { sum: 3 });
  assert.deepEqual(add(2, 1), { sum: 3 });
  assert.equal(calls, 2);
  assert.deepEqual(add.stats, { hits: 1, misses: 2 });
  assert.equal(add.name, 'add');
  // Another bucket object (another process would do the same) reads the stored results.
  const again = new Bucket(b.path).memoize(function add() {
    throw new Error('must not run');
  });
  assert.deepEqual(again(1, 2), { sum: 3 });
  assert.deepEqual(again.stats, { hits: 1, misses: 0 });
  b.close();
});

test('the key is the C++ memoize key: {"args": [...], "name": ...}', () => {
  const b = new Bucket(tempDir('memo-key'));
  const fib = b.memoize((n) => n, { name: 'slow_fib' });
  assert.equal(fib.key(80), '{"args":[80],"name":"slow_fib"}');
  fib(80);
  assert.equal(b.get({ name: 'slow_fib', args: [80] }), 80);
  assert.equal(fib.delete(80), true);
  assert.equal(fib.delete(80), false);
  assert.equal(b.has({ name: 'slow_fib', args: [80] }), false);
  b.close();
});

test('ignore: the listed argument indices stay out of the key', () => {
  const b = new Bucket(tempDir('memo-ignore'));
  let calls = 0;
  const fetch = b.memoize(
    function fetch(url, logger, retries) {
      calls++;
      logger(`fetching ${url}`);
      return `body of ${url}`;
    },
    { ignore: [1, 2] },
  );
  const log = () => {};
  assert.equal(fetch('a', log, 3), 'body of a');
  assert.equal(fetch('a', () => {}, 5), 'body of a'); // a function and another count: ignored
  assert.equal(calls, 1);
  assert.equal(fetch.key('a', log, 3), '{"args":["a"],"name":"fetch"}');
  b.close();
});

test('name: defaults to fn.name, required for anonymous functions', () => {
  const b = new Bucket(tempDir('memo-name'));
  assert.throws(() => b.memoize(() => 1), /options.name/);
  assert.throws(() => b.memoize(function () {}), /options.name/);
  const f = b.memoize(() => 1, { name: 'one/v2' });
  assert.equal(f.key(), '{"args":[],"name":"one/v2"}');
  assert.throws(() => b.memoize(function f() {}, { nmae: 'typo' }), /unknown option 'nmae'/);
  assert.throws(() => b.memoize(function f() {}, { ignore: ['x'] }), TypeError);
  assert.throws(() => b.memoize('not a function'), TypeError);
  b.close();
});

test('arguments must be JSON-representable unless ignored', () => {
  const b = new Bucket(tempDir('memo-args'));
  const f = b.memoize(function f() {
    return 1;
  });
  assert.throws(() => f(undefined), TypeError);
  assert.throws(() => f(NaN), TypeError);
  assert.throws(() => f(1n), TypeError);
  assert.throws(() => f(new Map()), TypeError);
  assert.equal(f(null, [1], { a: 'b' }), 1);
  b.close();
});

test('method mode: the object state is in the key', () => {
  const b = new Bucket(tempDir('memo-method'));
  let calls = 0;
  class Account {
    constructor(currency, cents, owner) {
      Object.assign(this, { currency, cents, owner });
    }
    cacheKey() {
      return { cents: this.cents, currency: this.currency }; // not the owner
    }
  }
  Account.prototype.format = b.memoize(
    function format(mark) {
      calls++;
      return `${this.currency} ${Math.floor(this.cents / 100)}${mark}${String(this.cents % 100).padStart(2, '0')}`;
    },
    { method: true },
  );
  const a = new Account('EUR', 12345, 'ann');
  assert.equal(a.format(','), 'EUR 123,45');
  assert.equal(new Account('EUR', 12345, 'bob').format(','), 'EUR 123,45');
  assert.equal(calls, 1);
  assert.equal(new Account('USD', 12345, 'ann').format(','), 'USD 123,45');
  assert.equal(calls, 2);
  assert.equal(
    Account.prototype.format.key.call(a, ','),
    '{"args":[","],"name":"format","self":{"cents":12345,"currency":"EUR"}}',
  );
  // Without cacheKey(): the own enumerable properties.
  const area = b.memoize(
    function area() {
      calls++;
      return this.w * this.h;
    },
    { method: true },
  );
  class Rect {
    constructor(w, h) {
      this.w = w;
      this.h = h;
    }
  }
  Rect.prototype.area = area;
  assert.equal(new Rect(2, 3).area(), 6);
  assert.equal(new Rect(2, 3).area(), 6);
  assert.equal(calls, 3);
  assert.throws(() => area(), TypeError); // no `this`
  b.close();
});

test('refresh: recomputes and overwrites (BucketCache nocache)', async () => {
  const b = new Bucket(tempDir('memo-refresh'));
  let n = 0;
  const next = b.memoize(() => ++n, { name: 'next' });
  assert.equal(next(), 1);
  assert.equal(next(), 1);
  assert.equal(next.refresh(), 2);
  assert.equal(next(), 2);
  assert.deepEqual(next.stats, { hits: 2, misses: 2 });
  const nextAsync = b.memoizeAsync(async () => ++n, { name: 'nextAsync' });
  assert.equal(await nextAsync(), 3);
  assert.equal(await nextAsync.refresh(), 4);
  assert.equal(await nextAsync(), 4);
  b.close();
});

test('a throwing function caches nothing and its error comes through', () => {
  const b = new Bucket(tempDir('memo-throw'));
  let calls = 0;
  class Oops extends Error {}
  const f = b.memoize(function f(x) {
    calls++;
    if (calls === 1) throw new Oops(`first call with ${x}`);
    return 'second';
  });
  assert.throws(() => f(1), Oops);
  assert.equal(f(1), 'second');
  assert.equal(f(1), 'second');
  assert.equal(calls, 2);
  b.close();
});

test('a result the backend cannot store is a TypeError; nothing is cached', () => {
  const b = new Bucket(tempDir('memo-undef'));
  const f = b.memoize(function f() {});
  assert.throws(() => f(), TypeError);
  assert.equal(b.has({ args: [], name: 'f' }), false);
  b.close();
});

test('memoize rejects async functions and Promise results', () => {
  const b = new Bucket(tempDir('memo-async'));
  assert.throws(() => b.memoize(async function f() {}), /memoizeAsync/);
  const f = b.memoize(function f() {
    return Promise.resolve(1);
  });
  assert.throws(() => f(), /memoizeAsync/);
  assert.equal(b.has({ args: [], name: 'f' }), false);
  b.close();
});

test('recursive memoized functions work (nested compute callbacks)', () => {
  const b = new Bucket(tempDir('memo-fib'));
  let calls = 0;
  // (Not `function fib`: inside it, that name would be the unmemoized function.)
  const fib = b.memoize(
    (n) => {
      calls++;
      return n < 2 ? n : fib(n - 1) + fib(n - 2);
    },
    { name: 'fib' },
  );
  assert.equal(fib(40), 102334155);
  assert.equal(calls, 41);
  assert.equal(fib(40), 102334155);
  assert.equal(calls, 41);
  b.close();
});

test('onHit receives the call, the value and the expiry', () => {
  const b = new Bucket(tempDir('memo-onhit'), { lifetime: { minutes: 5 } });
  const seen = [];
  const f = b.memoize((x) => x * 2, { name: 'double', onHit: (info) => seen.push(info) });
  f(21);
  assert.equal(seen.length, 0);
  f(21);
  assert.equal(seen.length, 1);
  assert.deepEqual({ ...seen[0], expires: undefined }, { name: 'double', args: [21], value: 42, expires: undefined });
  assert.ok(seen[0].expires instanceof Date && seen[0].expires.getTime() > Date.now());
  b.close();
});

test('memoize works with the msgpack backend and deferred buckets', () => {
  const m = new Bucket(tempDir('memo-msgpack'), { backend: 'msgpack' });
  const bin = m.memoize((n) => Buffer.alloc(n, 1), { name: 'bin' });
  assert.deepEqual(bin(3), Buffer.from([1, 1, 1]));
  assert.deepEqual(bin(3), Buffer.from([1, 1, 1]));
  assert.deepEqual(bin.stats, { hits: 1, misses: 1 });
  m.close();
  const dir = tempDir('memo-deferred');
  const d = new Bucket(dir, { deferred: true });
  const sq = d.memoize((x) => x * x, { name: 'sq' });
  assert.equal(sq(9), 81);
  assert.equal(sq(9), 81);
  assert.equal(new Bucket(dir).has({ args: [9], name: 'sq' }), false);
  d.sync();
  assert.equal(new Bucket(dir).get({ args: [9], name: 'sq' }), 81);
  d.close();
});

test('memoizeAsync: async functions, single flight within the process', async () => {
  const b = new Bucket(tempDir('memo-asyncfn'));
  let calls = 0;
  const slow = b.memoizeAsync(async function slow(x) {
    calls++;
    await sleep(50);
    return { x };
  });
  const results = await Promise.all([slow(1), slow(1), slow(1), slow(2)]);
  assert.deepEqual(results, [{ x: 1 }, { x: 1 }, { x: 1 }, { x: 2 }]);
  assert.equal(calls, 2);
  assert.deepEqual(await slow(1), { x: 1 });
  assert.equal(calls, 2);
  assert.equal(b.get({ args: [1], name: 'slow' }).x, 1);
  assert.equal(slow.key(1), '{"args":[1],"name":"slow"}');
  // Rejections are not cached.
  let failures = 0;
  const flaky = b.memoizeAsync(
    async () => {
      if (failures++ === 0) throw new Error('first');
      return 'ok';
    },
    { name: 'flaky' },
  );
  await assert.rejects(flaky(), /first/);
  assert.equal(await flaky(), 'ok');
  assert.equal(await flaky(), 'ok');
  assert.equal(failures, 2);
  b.close();
});

test('errors from the library during memoize are BucketCacheErrors', () => {
  const b = new Bucket(tempDir('memo-closed'));
  const f = b.memoize((x) => x, { name: 'id' });
  b.close();
  assert.throws(() => f(1), (e) => e instanceof BucketCacheError && e.code === 'BC_EINVAL');
});
