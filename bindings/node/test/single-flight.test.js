'use strict';

// memoize() is single flight across processes: four processes call one slow memoized
// function at once; it runs exactly once and all four get its result.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { fork } = require('node:child_process');
const { tempDir } = require('../support/helpers');

const WORKERS = 4;

function start(dir, countFile) {
  const child = fork(path.join(__dirname, '..', 'support', 'single-flight-worker.js'), [dir, countFile], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = new Promise((resolve, reject) => {
    child.once('message', (m) => (m === 'ready' ? resolve() : reject(new Error(`unexpected ${m}`))));
    child.once('error', reject);
  });
  const result = new Promise((resolve, reject) => {
    child.on('message', (m) => {
      if (m !== 'ready') resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`worker exited (${code}) before reporting`)));
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return { child, ready, result, exited };
}

test('memoize: one computation across processes', { timeout: 120000 }, async () => {
  const dir = tempDir('single-flight');
  const countFile = path.join(tempDir('count'), 'runs.txt');
  const workers = Array.from({ length: WORKERS }, () => start(dir, countFile));
  await Promise.all(workers.map((w) => w.ready));
  for (const w of workers) w.child.send('go');
  const results = await Promise.all(workers.map((w) => w.result));
  const codes = await Promise.all(workers.map((w) => w.exited));

  assert.deepEqual(codes, Array(WORKERS).fill(0));
  const runs = fs.readFileSync(countFile, 'utf8').trim().split('\n');
  assert.equal(runs.length, 1, `the function ran ${runs.length} times: ${runs}`);
  const computedBy = Number(runs[0]);
  for (const r of results) assert.deepEqual(r.value, { square: 144, by: computedBy });
  const misses = results.reduce((n, r) => n + r.stats.misses, 0);
  const hits = results.reduce((n, r) => n + r.stats.hits, 0);
  assert.deepEqual({ misses, hits }, { misses: 1, hits: WORKERS - 1 });
});
