'use strict';

// One of the processes of test/single-flight.test.js: waits for 'go', then calls a slow
// memoized function that records each run in a file, and reports what it got.

const fs = require('node:fs');
const { Bucket } = require('../lib');
const { sleepSync } = require('./helpers');

const [dir, countFile] = process.argv.slice(2);
const bucket = new Bucket(dir, { lockWaitMs: 30000 });
const slow = bucket.memoize(
  function slowSquare(x) {
    fs.appendFileSync(countFile, `${process.pid}\n`);
    sleepSync(1500);
    return { square: x * x, by: process.pid };
  },
);

process.on('message', (msg) => {
  if (msg !== 'go') return;
  const value = slow(12);
  process.send({ value, stats: slow.stats }, () => {
    bucket.close();
    process.disconnect();
  });
});
process.send('ready');
