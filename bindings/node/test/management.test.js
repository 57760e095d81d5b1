'use strict';

// Cache management (issue 14, docs/cache-management.md): setEx, add, touch, incr/decr,
// getEx, clear, forEach - thin wrappers over the C calls.

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const path = require('node:path');
const { Bucket, BucketCacheError } = require('../lib');
const { tempDir, sleepSync } = require('../support/helpers');

const LIB = path.join(__dirname, '..', 'lib');

test('setEx: own lifetimes, never, the bucket default', () => {
  const dir = tempDir('setex');
  const b = new Bucket(dir, { lifetime: { hours: 1 } });
  b.setEx('short', 1, 20);
  b.setEx('never', 2, 0);
  b.setEx('own', 3, { days: 10 });
  b.setEx('default', 4);
  assert.equal(b.expiry('never'), null);
  sleepSync(40);
  assert.equal(b.get('short'), undefined);
  b.close();
  const shorter = new Bucket(dir, { lifetime: { minutes: 1 } });
  assert.equal(shorter.get('own'), 3); // its own lifetime is honoured
  assert.equal(shorter.get('never'), 2);
  assert.equal(shorter.get('default'), undefined); // the lifetime rule applies
  shorter.close();
});

test('add only if absent; touch', () => {
  const b = new Bucket(tempDir('add'));
  assert.equal(b.add('k', 'first'), true);
  assert.equal(b.add('k', 'second'), false);
  assert.equal(b.get('k'), 'first');
  assert.equal(b.touch('missing', 1000), false);
  assert.equal(b.touch('k', 0), true);
  assert.equal(b.expiry('k'), null);
  assert.equal(b.touch('k', 20), true);
  sleepSync(40);
  assert.equal(b.get('k'), undefined);
  assert.equal(b.add('k', 'again'), true);
  b.close();
});

test('incr / decr on json, msgpack and raw buckets', () => {
  for (const backend of ['json', 'msgpack', 'raw']) {
    const b = new Bucket(tempDir(`incr-${backend}`), { backend });
    assert.equal(b.incr('n'), 1);
    assert.equal(b.incr('n', 10), 11);
    assert.equal(b.decr('n', 20), -9);
    assert.equal(b.incr('m', 1, 100), 101);
    assert.equal(b.incr('big', 0, 2n ** 62n), 2n ** 62n);
    if (backend !== 'raw') assert.equal(b.get('n'), -9);
    else assert.equal(b.get('n').toString(), '-9');
    b.set('s', backend === 'raw' ? 'text' : 'text');
    assert.throws(() => b.incr('s'), (e) => e instanceof BucketCacheError && e.code === 'BC_EINVAL');
    b.close();
  }
});

test('getEx: expiry and max age (a miss, not a deletion)', () => {
  const b = new Bucket(tempDir('getex'));
  assert.equal(b.getEx('k'), undefined);
  b.setEx('k', 'v', { hours: 1 });
  const got = b.getEx('k');
  assert.equal(got.value, 'v');
  assert.ok(got.expires instanceof Date && got.expires > new Date());
  sleepSync(30);
  assert.equal(b.getEx('k', { maxAgeMs: 10 }), undefined);
  assert.equal(b.getEx('k', { maxAgeMs: 60000 }).value, 'v');
  assert.equal(b.get('k'), 'v');
  b.close();
});

test('clear and forEach see only this bucket', () => {
  const dir = tempDir('clear');
  const b = new Bucket(dir);
  const raw = new Bucket(dir, { backend: 'raw', keyFormat: 'raw' });
  b.set({ z: 1, a: [1] }, 'x');
  b.set('s', 'hello');
  raw.set('r', 'bytes');
  const seen = [];
  b.forEach((e) => {
    seen.push([e.key.toString(), e.size]);
    assert.ok(e.created instanceof Date);
  });
  seen.sort();
  assert.deepEqual(seen, [['"s"', 7], ['{"a":[1],"z":1}', 3]]);
  let calls = 0;
  b.forEach(() => {
    calls += 1;
    return false;
  });
  assert.equal(calls, 1);
  assert.throws(() => b.forEach(() => {
    throw new Error('boom');
  }), /boom/);
  assert.equal(b.clear(), 2);
  assert.equal(b.get('s'), undefined);
  assert.equal(raw.get('r').toString(), 'bytes');
  let after = 0;
  b.forEach(() => {
    after += 1;
  });
  assert.equal(after, 0);
  b.close();
  raw.close();
});

function runNode(code, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', code, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('exit', (rc) => (rc === 0 ? resolve(out) : reject(new Error(`child exited ${rc}`))));
  });
}

test('incr and add are atomic across processes', async () => {
  const dir = tempDir('procs');
  const incrCode = `const { Bucket } = require(${JSON.stringify(LIB)});
    const b = new Bucket(process.argv[1]);
    for (let i = 0; i < 500; i++) b.incr('counter');
    const won = [];
    for (let i = 0; i < 50; i++) if (b.add('key-' + i, process.pid)) won.push(i);
    b.close();
    process.stdout.write(JSON.stringify(won));`;
  const outs = await Promise.all([1, 2, 3, 4].map(() => runNode(incrCode, [dir])));
  const b = new Bucket(dir);
  assert.equal(b.get('counter'), 2000);
  const wins = new Array(50).fill(0);
  for (const o of outs) for (const i of JSON.parse(o)) wins[i] += 1;
  assert.deepEqual(wins, new Array(50).fill(1));
  b.close();
});
