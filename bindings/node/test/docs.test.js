'use strict';

// The JS blocks of docs/node.md marked <!-- test --> run, and the quick start prints what
// its comments say.

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { tempDir } = require('../support/helpers');

const doc = path.join(__dirname, '..', '..', '..', 'docs', 'node.md');
const lib = path.join(__dirname, '..', 'lib');

function blocks() {
  const lines = fs.readFileSync(doc, 'utf8').split('\n');
  const out = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '<!-- test -->') continue;
    assert.equal(lines[i + 1], '```js', `docs/node.md:${i + 2} should open a js block`);
    const end = lines.indexOf('```', i + 2);
    out.push({ line: i + 3, code: lines.slice(i + 2, end).join('\n') });
  }
  return out;
}

// Runs a block in a fresh directory, with require('bucketcache') meaning this package and a
// `bucket` defined unless the block makes its own.
function run(code) {
  let src = code.replace(/require\('bucketcache'\)/g, `require(${JSON.stringify(lib)})`);
  if (!/const bucket\b/.test(src)) {
    src = `const bucket = new (require(${JSON.stringify(lib)}).Bucket)('cache/doc');\n${src}`;
  }
  return spawnSync(process.execPath, ['-e', src], { cwd: tempDir('doc'), encoding: 'utf8' });
}

test('docs/node.md examples run', () => {
  assert.ok(fs.existsSync(doc), 'docs/node.md not found');
  const found = blocks();
  assert.ok(found.length >= 3, `${found.length} tested blocks`);
  for (const { line, code } of found) {
    const r = run(code);
    assert.equal(r.status, 0, `docs/node.md:${line}:\n${r.stderr}`);
  }
  const quick = run(found[0].code);
  assert.deepEqual(quick.stdout.trim().split('\n'), [
    '42',
    "{ rows: [ 'a', 'b' ] }",
    'undefined',
    'true',
    '{ bytes: 0, files: 0 }',
    '144 144 1',
  ]);
});
