'use strict';

// Shared by the tests: temporary bucket directories and a synchronous sleep.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const roots = [];

// A fresh directory under the system temp dir, removed when the process exits.
function tempDir(label = 'bucket') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bucketcache-node-${label}-`));
  roots.push(dir);
  return dir;
}

process.on('exit', () => {
  for (const dir of roots) fs.rmSync(dir, { recursive: true, force: true });
});

// Blocks the thread for ms milliseconds (memoized functions are synchronous).
function sleepSync(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

module.exports = { tempDir, sleepSync, sleep };
