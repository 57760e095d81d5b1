'use strict';

// Stale-while-revalidate (staleTtlMs, BC_OPT_STALE_TTL_US): a get-or-compute of an entry
// expired less than staleTtlMs ago returns it at once; the library refreshes it on its own
// thread, which queues the compute to this thread's event loop (docs/node.md).

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawn, fork } = require('node:child_process');
const { Bucket, jsonKey, disable, enable } = require('../lib');
const { tempDir, sleepSync, sleep } = require('../support/helpers');

const WORKER = path.join(__dirname, '..', 'support', 'stale-worker.js');
const POLL_BOUND_MS = 30000; // generous: only a failure waits this long

// Awaits (letting the event loop run) until probe() returns something other than
// undefined; fails after POLL_BOUND_MS.
async function until(probe, what) {
  const start = Date.now();
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() - start > POLL_BOUND_MS) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function staleBucket(label, options = {}) {
  const dir = tempDir(label);
  const b = new Bucket(dir, { staleTtlMs: 600000, lifetime: { hours: 1 }, ...options });
  return { dir, b };
}

// Stores value under key with an expiry 1 ms from now, and waits until it has passed.
function seedStale(b, key, value) {
  b.setEx(key, value, 1);
  sleepSync(5);
}

test('staleTtlMs: validated and readable', () => {
  const dir = tempDir('stale-options');
  assert.throws(() => new Bucket(dir, { staleTtlMs: -1 }), TypeError);
  assert.throws(() => new Bucket(dir, { staleTtlMs: '5' }), TypeError);
  assert.throws(() => new Bucket(dir, { staleTtlMs: Infinity }), TypeError);
  const b = new Bucket(dir, { staleTtlMs: 1500 });
  assert.equal(b.staleTtlMs, 1500);
  b.close();
  const off = new Bucket(dir);
  assert.equal(off.staleTtlMs, 0);
  off.close();
});

test('serves the stale value at once, the refreshed one after the event loop ran', async () => {
  const { b } = staleBucket('stale-serve');
  seedStale(b, 'k', 'old');
  let calls = 0;
  const compute = () => {
    calls++;
    return 'new';
  };
  assert.equal(b.getOrCompute('k', compute), 'old');
  assert.equal(calls, 0); // not computed on the calling thread
  assert.equal(b.get('k'), undefined); // plain gets never serve stale values
  assert.equal(await until(() => b.get('k'), 'the refreshed value'), 'new');
  assert.equal(calls, 1);
  assert.equal(b.getOrCompute('k', compute), 'new'); // a plain hit now
  await b.settled();
  assert.equal(calls, 1);
  b.close();
});

test('hits of usable entries keep nothing for a refresh', () => {
  const { b } = staleBucket('stale-usable', { lifetime: 0 });
  assert.equal(b.getOrCompute('k', () => 1), 1);
  assert.equal(b.getOrCompute('k', () => 2), 1);
  assert.equal(b._holder.refreshes.size, 0); // white box: no slot, no keep-alive timer
  b.close();
});

test('without staleTtlMs an expired entry is recomputed on the calling thread', () => {
  const b = new Bucket(tempDir('stale-off'), { lifetime: { hours: 1 } });
  seedStale(b, 'k', 'old');
  assert.equal(b.getOrCompute('k', () => 'new'), 'new');
  b.close();
});

test('memoize: the plain call serves stale values and refreshes them', async () => {
  const { b } = staleBucket('stale-memo');
  let calls = 0;
  const square = b.memoize(function square(x) {
    calls++;
    return { square: x * x, run: calls };
  });
  seedStale(b, jsonKey(square.key(7)), { square: 49, run: 0 });
  assert.deepEqual(square(7), { square: 49, run: 0 });
  assert.equal(square.stats.hits, 1);
  assert.deepEqual(await until(() => b.get(jsonKey(square.key(7))), 'the refresh'), { square: 49, run: 1 });
  assert.deepEqual(square(7), { square: 49, run: 1 });
  // callWith({refresh}) computes on the calling thread.
  assert.deepEqual(square.callWith({ refresh: true }, 7), { square: 49, run: 2 });
  await b.settled();
  b.close();
});

test('a failing refresh keeps the stale value and warns; the next serve retries', async () => {
  const { b } = staleBucket('stale-fail');
  seedStale(b, 'k', 'old');
  const warnings = [];
  const onWarning = (w) => {
    if (w.code === 'BUCKETCACHE_REFRESH_FAILED') warnings.push(w.message);
  };
  process.on('warning', onWarning);
  try {
    let failing = 0;
    assert.equal(b.getOrCompute('k', () => {
      failing++;
      throw new Error('backend down');
    }), 'old');
    await until(() => (failing === 1 ? true : undefined), 'the failing refresh');
    await b.settled();
    await until(() => (warnings.length > 0 ? true : undefined), 'the warning');
    assert.match(warnings[0], /backend down/);
    assert.equal(b.get('k'), undefined); // still stale
    assert.equal(b.getOrCompute('k', () => 'new'), 'old'); // served stale again, refresh queued again
    assert.equal(await until(() => b.get('k'), 'the second refresh'), 'new');
    assert.equal(failing, 1);
  } finally {
    process.off('warning', onWarning);
  }
  b.close();
});

test('a refresh returning a Promise fails and keeps the stale value', async () => {
  const { b } = staleBucket('stale-promise');
  seedStale(b, 'k', 'old');
  let ran = false;
  const onWarning = () => {};
  process.on('warning', onWarning);
  try {
    assert.equal(b.getOrCompute('k', async () => {
      ran = true;
      return 'new';
    }), 'old');
    await until(() => (ran ? true : undefined), 'the refresh');
    await b.settled();
    assert.equal(b.get('k'), undefined);
  } finally {
    process.off('warning', onWarning);
  }
  b.close();
});

test('disable(): computes run, nothing stale is served, nothing stored', async () => {
  const { b } = staleBucket('stale-disabled');
  seedStale(b, 'k', 'old');
  disable();
  try {
    let calls = 0;
    assert.equal(b.getOrCompute('k', () => {
      calls++;
      return 'computed';
    }), 'computed');
    assert.equal(calls, 1);
  } finally {
    enable();
  }
  assert.equal(b.getOrCompute('k', () => 'new'), 'old'); // the stale entry was left alone
  assert.equal(await until(() => b.get('k'), 'the refresh'), 'new');
  await b.settled();
  b.close();
});

test('a refresh call of a key whose refresh waits for this thread is bounded by lockWaitMs', async () => {
  const { b } = staleBucket('stale-lock', { lockWaitMs: 300 });
  seedStale(b, 'k', 'old');
  let background = 0;
  assert.equal(b.getOrCompute('k', () => {
    background++;
    return 'background';
  }), 'old');
  sleepSync(50); // the refresh thread takes the key's lock and waits for this thread
  // Needs the key's lock: waits at most lockWaitMs, then computes without it.
  assert.equal(b.getOrCompute('k', () => 'foreground', { refresh: true }), 'foreground');
  await b.settled();
  assert.ok(background <= 1);
  assert.ok(['foreground', 'background'].includes(b.get('k')));
  b.close();
});

test('close() right after a stale serve returns (within lockWaitMs) and drops the refresh', async () => {
  const { dir, b } = staleBucket('stale-close', { lockWaitMs: 500 });
  seedStale(b, 'k', 'old');
  let calls = 0;
  assert.equal(b.getOrCompute('k', () => {
    calls++;
    return 'new';
  }), 'old');
  b.close(); // the refresh's compute cannot run while close() blocks this thread
  await sleep(100); // the queued compute now runs and finds the bucket closed
  assert.equal(calls, 0);
  const again = new Bucket(dir, { staleTtlMs: 600000, lifetime: { hours: 1 } });
  assert.equal(again.get('k'), undefined); // still the stale entry, not a dropped result
  assert.equal(again.getOrCompute('k', () => 'x'), 'old');
  await again.closeAsync();
});

test('closeAsync() lets the pending refresh run, then closes', async () => {
  const { dir, b } = staleBucket('stale-close-async');
  seedStale(b, 'k', 'old');
  assert.equal(b.getOrCompute('k', () => 'new'), 'old');
  await b.closeAsync();
  assert.equal(b.closed, true);
  const again = new Bucket(dir, { lifetime: { hours: 1 } });
  assert.equal(again.get('k'), 'new');
  again.close();
});

// Runs stale-worker.js in mode against a stale entry 'k' = 'old' (raw backend); returns
// {code, signal, stdout, runs} and the entry's value afterwards (undefined: still stale).
async function runWorker(mode, lockWaitMs) {
  const dir = tempDir(`stale-${mode}`);
  const seed = new Bucket(dir, { backend: 'raw', lifetime: { hours: 1 } });
  seedStale(seed, 'k', 'old');
  seed.close();
  const countFile = path.join(tempDir('stale-count'), 'runs.txt');
  const child = spawn(process.execPath, [WORKER, dir, mode, countFile, String(lockWaitMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  const [code, signal] = await new Promise((resolve) => child.once('exit', (c, s) => resolve([c, s])));
  const runs = fs.existsSync(countFile) ? fs.readFileSync(countFile, 'utf8').trim().split('\n').filter(Boolean) : [];
  const after = new Bucket(dir, { backend: 'raw', staleTtlMs: 600000, lifetime: { hours: 1 } });
  const fresh = after.get('k');
  // What a stale-serving get returns: the stored value either way (never an empty one).
  const served = after.getOrCompute('k', () => 'recomputed').toString();
  await after.closeAsync();
  return { code, signal, stdout, runs, fresh: fresh === undefined ? undefined : fresh.toString(), served };
}

test('a process whose script ends after a stale serve runs the refresh, then exits', { timeout: 60000 }, async () => {
  // lockWaitMs far above the test's timeout: waiting for it at exit would fail the test.
  const r = await runWorker('end', 600000);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.stdout), { value: 'old' });
  assert.equal(r.runs.length, 1);
  assert.match(r.fresh, /^new by \d+$/);
});

test('process.exit() right after a stale serve exits within lockWaitMs; the entry stays intact', { timeout: 60000 }, async () => {
  const r = await runWorker('exit', 1000);
  assert.equal(r.code, 0);
  assert.equal(r.signal, null);
  assert.deepEqual(JSON.parse(r.stdout), { value: 'old' });
  assert.equal(r.runs.length, 0); // the refresh could not run: abandoned and dropped
  assert.equal(r.fresh, undefined);
  assert.equal(r.served, 'old'); // not replaced by an empty value
});

test('close() right after a stale serve in another process exits within lockWaitMs', { timeout: 60000 }, async () => {
  const r = await runWorker('close', 1000);
  assert.equal(r.code, 0);
  assert.equal(r.runs.length, 0);
  assert.equal(r.served, 'old');
});

test('closeAsync() in another process: the refresh is stored', { timeout: 60000 }, async () => {
  const r = await runWorker('closeAsync', 600000);
  assert.equal(r.code, 0);
  assert.equal(r.runs.length, 1);
  assert.match(r.fresh, /^new by \d+$/);
});

test('two processes served the same stale entry: one refresh runs', { timeout: 120000 }, async () => {
  const dir = tempDir('stale-race');
  const seed = new Bucket(dir, { backend: 'raw', lifetime: { hours: 1 } });
  seedStale(seed, 'k', 'old');
  seed.close();
  const countFile = path.join(tempDir('stale-race-count'), 'runs.txt');
  const workers = [0, 1].map(() => {
    const child = fork(WORKER, [dir, 'race', countFile, '30000'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const ready = new Promise((resolve) => child.once('message', resolve));
    const result = new Promise((resolve, reject) => {
      child.on('message', (m) => m !== 'ready' && resolve(m));
      child.once('exit', (code) => reject(new Error(`worker exited (${code}) before reporting`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    return { child, ready, result, exited };
  });
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.child.send('go');
  const results = await Promise.all(workers.map((w) => w.result));
  assert.deepEqual(await Promise.all(workers.map((w) => w.exited)), [0, 0]);
  const runs = fs.readFileSync(countFile, 'utf8').trim().split('\n');
  assert.equal(runs.length, 1, `refreshed ${runs.length} times: ${runs}`);
  for (const r of results) {
    assert.ok(r.value === 'old' || r.value === `new by ${runs[0]}`, r.value);
    assert.equal(r.final, `new by ${runs[0]}`);
  }
});
