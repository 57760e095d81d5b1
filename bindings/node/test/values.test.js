'use strict';

// Values round trip through each backend.

const test = require('node:test');
const assert = require('node:assert/strict');
const { Bucket, msgpack } = require('../lib');
const { tempDir } = require('../support/helpers');

const jsonValues = [
  null,
  true,
  false,
  0,
  -7,
  1.5,
  1e21,
  Number.MAX_SAFE_INTEGER,
  '',
  'spam',
  'café 😀 \u0000 "quoted" \\ \n',
  [],
  {},
  [1, 'a', null, [2, [3, { deep: true }]]],
  { b: 1, a: { nested: ['x', { y: [] }] }, '': 0, 'é': 'accent' },
];

test('json backend (the default): JS values round trip', () => {
  const b = new Bucket(tempDir('json'));
  assert.equal(b.backend, 'json');
  jsonValues.forEach((v, i) => {
    b.set(['value', i], v);
    assert.deepEqual(b.get(['value', i]), v, `value ${i}`);
  });
  // Read from the file, not the memory layer.
  jsonValues.forEach((v, i) => {
    b.unloadKey(['value', i]);
    assert.deepEqual(b.get(['value', i]), v, `value ${i} from disk`);
  });
  // JSON.stringify semantics: Dates become strings, toJSON() is honoured.
  b.set('date', { when: new Date(0) });
  assert.deepEqual(b.get('date'), { when: '1970-01-01T00:00:00.000Z' });
  b.close();
});

test('json backend: a miss is undefined, a stored null is null', () => {
  const b = new Bucket(tempDir('json-miss'));
  assert.equal(b.get('absent'), undefined);
  b.set('n', null);
  assert.equal(b.get('n'), null);
  assert.equal(b.has('n'), true);
  b.close();
});

test('json backend: values JSON cannot hold are rejected before the library', () => {
  const b = new Bucket(tempDir('json-bad'));
  assert.throws(() => b.set('k', undefined), TypeError);
  assert.throws(() => b.set('k', () => 1), TypeError);
  assert.throws(() => b.set('k', 10n), TypeError);
  assert.equal(b.has('k'), false);
  b.close();
});

test('set returns the bucket, as Map#set does', () => {
  const b = new Bucket(tempDir('chain'));
  assert.equal(b.set('a', 1).set('b', 2), b);
  assert.deepEqual([b.get('a'), b.get('b')], [1, 2]);
  b.close();
});

test('raw backend: Buffers round trip byte for byte', () => {
  const b = new Bucket(tempDir('raw'), { backend: 'raw' });
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  b.set('all bytes', all);
  b.set('empty', Buffer.alloc(0));
  b.set('typed', new Uint8Array([0, 255, 0]));
  b.set('text', 'héllo');
  for (let pass = 0; pass < 2; pass++) {
    const got = b.get('all bytes');
    assert.ok(Buffer.isBuffer(got));
    assert.deepEqual(got, all);
    assert.deepEqual(b.get('empty'), Buffer.alloc(0));
    assert.deepEqual(b.get('typed'), Buffer.from([0, 255, 0]));
    assert.equal(b.get('text').toString('utf8'), 'héllo');
    for (const k of ['all bytes', 'empty', 'typed', 'text']) b.unloadKey(k);
  }
  assert.throws(() => b.set('k', { not: 'bytes' }), TypeError);
  assert.throws(() => b.set('k', 5), TypeError);
  b.close();
});

test('raw backend: a 4 MiB value', () => {
  const b = new Bucket(tempDir('raw-big'), { backend: 'raw' });
  const big = Buffer.alloc(4 << 20);
  for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
  b.set('big', big);
  b.unloadKey('big');
  assert.ok(b.get('big').equals(big));
  b.close();
});

test('msgpack backend: values round trip', () => {
  const b = new Bucket(tempDir('msgpack'), { backend: 'msgpack' });
  const values = [
    null, true, false, 0, 1, 127, 128, 255, 256, 65535, 65536, 2 ** 32, 2 ** 53 - 1,
    -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, -(2 ** 53) + 1,
    1.5, -0.25, 1e300, NaN, Infinity, -Infinity,
    'x'.repeat(31), 'y'.repeat(32), 'z'.repeat(300), 'w'.repeat(70000), 'café 😀',
    Buffer.from([1, 2, 3]), Buffer.alloc(300, 7),
    [], Array.from({ length: 20 }, (_, i) => i), { a: 1, b: [true, null], c: { d: 'e' } },
    Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])),
    18446744073709551615n, -9223372036854775808n, 9007199254740993n,
    new Date(Date.UTC(2024, 1, 29, 12, 0, 0, 123)), new Date(-1500),
    new Map([[1, 'one'], ['two', 2]]),
  ];
  values.forEach((v, i) => {
    b.set(i, v);
    b.unloadKey(i);
    assert.deepEqual(b.get(i), v, `value ${i}`);
  });
  assert.throws(() => b.set('k', undefined), TypeError);
  assert.throws(() => b.set('k', 2n ** 64n), RangeError);
  b.close();
});

test('msgpack codec: known encodings and garbage', () => {
  assert.deepEqual(msgpack.encode({ a: [1, -1, 'x'] }), Buffer.from('81a16193' + '01ff' + 'a178', 'hex'));
  assert.deepEqual(msgpack.encode(1.5), Buffer.from('cb3ff8000000000000', 'hex'));
  assert.deepEqual(msgpack.decode(Buffer.from('cf0000000000000001', 'hex')), 1);
  assert.deepEqual(msgpack.decode(Buffer.from('ca3fc00000', 'hex')), 1.5);
  const ext = msgpack.decode(Buffer.from('d40507', 'hex'));
  assert.ok(ext instanceof msgpack.MsgpackExt);
  assert.deepEqual([ext.type, [...ext.data]], [5, [7]]);
  assert.deepEqual(msgpack.decode(msgpack.encode(ext)), ext);
  for (const hex of ['', 'c1', '92', 'dc00ff', 'a5616263', 'cb00', '0101']) {
    assert.throws(() => msgpack.decode(Buffer.from(hex, 'hex')), RangeError, hex);
  }
});

test('msgpack: deep nesting within the 1024 limit', () => {
  const b = new Bucket(tempDir('msgpack-deep'), { backend: 'msgpack' });
  let deep = [];
  for (let i = 0; i < 1000; i++) deep = [deep];
  b.set('deep', deep); // within the 1024 limit
  assert.deepEqual(b.get('deep'), deep);
  b.close();
});

test('one key under two backends names two entries', () => {
  const dir = tempDir('backends');
  const j = new Bucket(dir);
  const r = new Bucket(dir, { backend: 'raw' });
  const m = new Bucket(dir, { backend: 'msgpack' });
  j.set('k', 'json');
  r.set('k', 'raw');
  m.set('k', 'msgpack');
  assert.equal(j.get('k'), 'json');
  assert.equal(r.get('k').toString(), 'raw');
  assert.equal(m.get('k'), 'msgpack');
  for (const b of [j, r, m]) b.close();
});
