'use strict';

// JS keys name the same entries as the canonical key form of the shared test vectors
// (shared/testdata/canonical-keys.json; docs/keys.md).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { Bucket, BucketCacheError, canonicalKey, jsonKey } = require('../lib');
const { tempDir } = require('../support/helpers');

// shared/ sits beside the repository (CI) or is named by BUCKETCACHE_SHARED_DIR.
function findVectors() {
  const candidates = [
    process.env.BUCKETCACHE_SHARED_DIR && path.join(process.env.BUCKETCACHE_SHARED_DIR, 'testdata'),
    path.resolve(__dirname, '..', '..', '..', '..', 'shared', 'testdata'),
    path.resolve(__dirname, '..', '..', '..', 'shared', 'testdata'),
  ].filter(Boolean);
  for (const dir of candidates) {
    const file = path.join(dir, 'canonical-keys.json');
    if (fs.existsSync(file)) return JSON.parse(fs.readFileSync(file, 'utf8'));
  }
  return null;
}

const vectors = findVectors();

test('the shared key vectors are there', () => {
  assert.ok(vectors, 'shared/testdata/canonical-keys.json not found (set BUCKETCACHE_SHARED_DIR)');
});
const skip = false;

// Integer literals JSON.parse cannot hold exactly (past 2^53): only the text path is exact.
function lossyInJs(input) {
  return /^-?\d+$/.test(input.trim()) && !Number.isSafeInteger(Number(input)) && BigInt(input) <= 2n ** 64n;
}

test('valid vectors: canonical form of the text and of the parsed JS value', { skip }, () => {
  const b = new Bucket(tempDir('vectors'));
  let viaJs = 0;
  vectors.valid.forEach(({ input, canonical }, i) => {
    assert.equal(canonicalKey(jsonKey(input)), canonical, `text ${i}: ${input}`);
    b.set(jsonKey(canonical), i);
    assert.equal(b.get(jsonKey(input)), i, `text ${i} names the entry: ${input}`);
    if (lossyInJs(input)) {
      assert.notEqual(JSON.stringify(JSON.parse(input)), canonical, `${input} was expected to lose precision`);
      return;
    }
    const value = JSON.parse(input);
    assert.equal(canonicalKey(value), canonical, `JS value ${i}: ${input}`);
    assert.equal(b.get(value), i, `JS value ${i} names the entry: ${input}`);
    assert.equal(b.has(value), true);
    viaJs++;
  });
  assert.ok(viaJs >= vectors.valid.length - 3, `${viaJs} of ${vectors.valid.length} through JS values`);
  b.close();
});

test('big integers: exact through jsonKey, approximate through JS numbers', () => {
  const b = new Bucket(tempDir('bigint'));
  b.set(jsonKey('18446744073709551615'), 'max u64');
  assert.equal(b.get(jsonKey('18446744073709551615')), 'max u64');
  assert.equal(b.get(18446744073709551615), undefined); // the double 18446744073709552000
  assert.equal(canonicalKey(18446744073709551615), '18446744073709552000');
  assert.equal(canonicalKey(jsonKey('[9007199254740993]')), '[9007199254740993]');
  assert.equal(canonicalKey([9007199254740993]), '[9007199254740992]');
  b.close();
});

test('invalid vectors are BC_EINVAL errors', { skip }, () => {
  const b = new Bucket(tempDir('invalid'));
  const inputs = [
    ...vectors.invalid.map((v) => [v.input, v.why]),
    ...(vectors.invalid_hex || []).map((v) => [Buffer.from(v.input_hex, 'hex'), v.why]),
  ];
  assert.ok(inputs.length >= vectors.invalid.length);
  for (const [input, why] of inputs) {
    const isEinval = (e) => e instanceof BucketCacheError && e.code === 'BC_EINVAL';
    assert.throws(() => canonicalKey(jsonKey(input)), isEinval, why);
    assert.throws(() => b.set(jsonKey(input), 1), isEinval, why);
    assert.throws(() => b.get(jsonKey(input)), isEinval, why);
  }
  b.close();
});

test('JS objects: member order, -0 and number spelling do not matter', () => {
  assert.equal(canonicalKey({ b: 1, a: [2, { d: null, c: true }] }), '{"a":[2,{"c":true,"d":null}],"b":1}');
  assert.equal(canonicalKey(-0), '0');
  assert.equal(canonicalKey(1e21), '1e+21');
  assert.equal(canonicalKey(1e-7), '1e-7');
  assert.equal(canonicalKey('\u2028/'), '"\u2028/"');
  assert.equal(canonicalKey({ é: 1, e: 2, Z: 5 }), '{"Z":5,"e":2,"é":1}');
});
