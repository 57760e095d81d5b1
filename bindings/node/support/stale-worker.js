'use strict';

// A second process of test/stale.test.js: opens a stale-while-revalidate bucket (raw
// backend, so a refresh that stored an empty value would show), gets key 'k' with a compute
// that records each run in countFile, and ends as the mode says:
//   end        the script just ends (the bucket stays open)
//   exit       process.exit(0) right after the stale serve
//   close      close() right after the stale serve
//   closeAsync await closeAsync()
//   race       waits for 'go' (IPC), gets, awaits settled(), reports {value, final}
// It prints (or sends, for race) what the get returned.

const fs = require('node:fs');
const { Bucket } = require('../lib');
const { sleepSync } = require('./helpers');

const [dir, mode, countFile, lockWaitMs] = process.argv.slice(2);
const bucket = new Bucket(dir, { backend: 'raw', staleTtlMs: 600000, lifetime: { hours: 1 }, lockWaitMs: Number(lockWaitMs) });

function compute() {
  fs.appendFileSync(countFile, `${process.pid}\n`);
  sleepSync(200); // long enough for the other process to be served the stale value too
  return `new by ${process.pid}`;
}

function get() {
  return bucket.getOrCompute('k', compute).toString();
}

async function main() {
  if (mode === 'race') {
    process.on('message', async (msg) => {
      if (msg !== 'go') return;
      const value = get();
      await bucket.settled();
      const final = bucket.get('k');
      process.send({ value, final: final === undefined ? null : final.toString() }, () => {
        bucket.close();
        process.disconnect();
      });
    });
    process.send('ready');
    return;
  }
  const value = get();
  process.stdout.write(`${JSON.stringify({ value })}\n`);
  if (mode === 'exit') process.exit(0);
  if (mode === 'close') bucket.close();
  if (mode === 'closeAsync') await bucket.closeAsync();
}

main();
