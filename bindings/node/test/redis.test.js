'use strict';

// new Bucket(name, {store: 'redis://...'}) against a real redis-server on a free loopback
// port, killed at the end. redis-server is a test dependency (scripts/install-deps.sh): if
// it cannot start, this fails (never skips).

const test = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const net = require('node:net');
const os = require('node:os');
const fs = require('node:fs');
const path = require('node:path');
const { Bucket, BucketCacheError } = require('../lib');

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function ping(port) {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port }, () => s.write('PING\r\n'));
    s.setTimeout(200, () => { s.destroy(); resolve(false); });
    s.on('data', (d) => { s.destroy(); resolve(d.toString().startsWith('+PONG')); });
    s.on('error', () => resolve(false));
  });
}

test('redis store', async (t) => {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bc-node-redis-'));
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  let exited = false;
  server.on('exit', () => { exited = true; });
  t.after(() => { server.kill('SIGKILL'); });
  const deadline = Date.now() + 10000;
  while (!(await ping(port))) {
    assert.ok(!exited, 'redis-server exited at start (installed? scripts/install-deps.sh)');
    assert.ok(Date.now() < deadline, 'redis-server did not answer PING');
    await new Promise((r) => setTimeout(r, 20));
  }
  const url = `redis://127.0.0.1:${port}`;
  const b = new Bucket('node/basic', { store: url, timeoutMs: 1000 });
  b.set(['k', 1], { v: [1, 2] });
  assert.deepEqual(b.get(['k', 1]), { v: [1, 2] });
  // checkFile: memory hits ask the server whether the entry is still the same one.
  const other = new Bucket('node/basic', { store: url, checkFile: true });
  assert.deepEqual(other.get(['k', 1]), { v: [1, 2] });
  assert.equal(b.delete(['k', 1]), true);
  assert.equal(other.has(['k', 1]), false);
  b.close();
  other.close();
  // nearCacheDir: a local copy served within nearCacheTtlMs; writes and deletes go through.
  const nearDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bc-node-near-'));
  t.after(() => fs.rmSync(nearDir, { recursive: true, force: true }));
  const near = new Bucket('node/near', { store: url, nearCacheDir: nearDir, nearCacheTtlMs: 3600000, memoryLimitBytes: 0 });
  const plain = new Bucket('node/near', { store: url, memoryLimitBytes: 0 });
  near.set('k', 'v1');
  assert.equal(plain.get('k'), 'v1');
  plain.set('k', 'v2');
  assert.equal(near.get('k'), 'v1');
  assert.equal(near.delete('k'), true);
  assert.equal(plain.has('k'), false);
  near.close();
  plain.close();
  assert.throws(() => new Bucket('node/x', { store: url, nearCacheDir: '' }), TypeError);
  assert.throws(() => new Bucket('node/x', { store: 'redis-cluster://127.0.0.1:1' }),
    (e) => e instanceof BucketCacheError);
});
