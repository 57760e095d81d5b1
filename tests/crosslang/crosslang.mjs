// Cross-language check, Node side: node crosslang.mjs write|read <dir>.
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';

const require = createRequire(import.meta.url);
const { Bucket } = require(process.env.BUCKETCACHE_NODE_PACKAGE);

const KEYS = ['spam', 42, [1, 'two', 3.5], { user: 'ada', id: 7 }, 1.5];
const JSON_VALUES = [
  { a: 1, b: [1, 2, 3] },
  'forty-two',
  [true, null, 'x', 0.25],
  { name: 'Ada Lovelace', langs: ['en', 'fr'] },
  2.25,
];
const MSGPACK_VALUES = [
  { a: [1], b: [1, 2, 3] },
  'forty-two',
  [0.5, 1.5],
  { lang: 'en', name: 'Ada Lovelace' },
  -7,
];

const [mode, root] = process.argv.slice(2);
// With BUCKETCACHE_CROSSLANG_STORE (a redis:// URL), root names buckets on that server.
const store = process.env.BUCKETCACHE_CROSSLANG_STORE;
const extra = store ? { store } : {};
const j = new Bucket(`${root}/json`, { backend: 'json', ...extra });
const m = new Bucket(`${root}/msgpack`, { backend: 'msgpack', ...extra });
if (mode === 'write') {
  KEYS.forEach((k, i) => j.set(k, JSON_VALUES[i]));
  KEYS.forEach((k, i) => m.set(k, MSGPACK_VALUES[i]));
  console.log('Node wrote 10 entries');
} else {
  let failures = 0;
  for (const [name, bucket, values] of [['json', j, JSON_VALUES], ['msgpack', m, MSGPACK_VALUES]]) {
    KEYS.forEach((k, i) => {
      const got = bucket.get(k);
      if (got === undefined) {
        console.error(`Node reader: ${name} ${JSON.stringify(k)}: missing`);
        failures += 1;
      } else if (!isDeepStrictEqual(got, values[i])) {
        console.error(`Node reader: ${name} ${JSON.stringify(k)}: ${JSON.stringify(got)}`);
        failures += 1;
      }
    });
  }
  console.log(`Node read 10 entries, ${failures} wrong or missing`);
  process.exitCode = failures ? 1 : 0;
}
j.close();
m.close();
