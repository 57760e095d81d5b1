'use strict';

// bucketcache for Node.js: persistent on-disk keyed caches over the bucketcache C API.
// See docs/node.md.

const { koffi, c, opt, call, bc_buf, check, takeBuffer, libraryFile } = require('./native');
const { codes, BucketCacheError } = require('./errors');
const { JsonKey, jsonKey, toJsonText, jsonKeyBytes, rawKeyBytes } = require('./keys');
const msgpack = require('./msgpack');

// ---- values ------------------------------------------------------------------------

function describe(v) {
  if (v === null) return 'null';
  if (typeof v === 'object') return (v.constructor && v.constructor.name) || 'object';
  return typeof v;
}

const codecs = {
  // JS values as JSON text (JSON.stringify / JSON.parse semantics).
  json: {
    encode(value) {
      const text = JSON.stringify(value);
      if (text === undefined) {
        throw new TypeError(`the 'json' backend cannot store ${describe(value)} (JSON.stringify gives nothing)`);
      }
      return Buffer.from(text, 'utf8');
    },
    decode(bytes) {
      return JSON.parse(bytes.toString('utf8'));
    },
  },
  // JS values as MessagePack (lib/msgpack.js).
  msgpack: {
    encode(value) {
      if (value === undefined) throw new TypeError("the 'msgpack' backend cannot store undefined");
      return msgpack.encode(value);
    },
    decode(bytes) {
      return msgpack.decode(bytes);
    },
  },
  // Bytes: Buffer/Uint8Array as they are, strings as UTF-8; read back as a Buffer.
  raw: {
    encode(value) {
      if (value instanceof Uint8Array) return value;
      if (typeof value === 'string') return Buffer.from(value, 'utf8');
      throw new TypeError(`the 'raw' backend stores a Buffer, a Uint8Array or a string, not ${describe(value)}`);
    },
    decode(bytes) {
      return bytes;
    },
  },
};

// ---- options -----------------------------------------------------------------------

const LIFETIME_UNITS = {
  weeks: 7 * 24 * 3600 * 1000,
  days: 24 * 3600 * 1000,
  hours: 3600 * 1000,
  minutes: 60 * 1000,
  seconds: 1000,
  milliseconds: 1,
  microseconds: 0.001,
};

// Lifetime in microseconds from ms or {days, hours, minutes, seconds, milliseconds, ...}.
function lifetimeMicros(lifetime) {
  if (lifetime === undefined || lifetime === null) return 0;
  let ms;
  if (typeof lifetime === 'number') {
    ms = lifetime;
  } else if (typeof lifetime === 'object') {
    ms = 0;
    for (const [unit, amount] of Object.entries(lifetime)) {
      if (!(unit in LIFETIME_UNITS)) {
        throw new TypeError(`lifetime: unknown unit '${unit}' (use ${Object.keys(LIFETIME_UNITS).join(', ')})`);
      }
      if (typeof amount !== 'number') throw new TypeError(`lifetime.${unit} must be a number`);
      ms += amount * LIFETIME_UNITS[unit];
    }
  } else {
    throw new TypeError('lifetime must be milliseconds (a number) or an object like {days: 1, hours: 2}');
  }
  if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`lifetime must be finite and not negative, not ${ms} ms`);
  const us = Math.round(ms * 1000);
  if (!Number.isSafeInteger(us)) throw new RangeError(`lifetime too long: ${ms} ms`);
  return us;
}

const INT_OPTIONS = {
  memoryLimitBytes: opt.MEMORY_LIMIT_BYTES,
  lockWaitMs: opt.LOCK_WAIT_MS,
  directoryMode: opt.DIRECTORY_MODE,
  fileMode: opt.FILE_MODE,
  timeoutMs: opt.TIMEOUT_MS,
  sizeLimitBytes: opt.SIZE_LIMIT_BYTES,
  nearCacheTtlMs: opt.NEAR_CACHE_TTL_MS,
  entrySizeLimitBytes: opt.ENTRY_SIZE_LIMIT_BYTES,
};
const DEFAULT_LOCK_WAIT_MS = 60000; // BC_OPT_LOCK_WAIT_MS's default
const BOOL_OPTIONS = { deferred: opt.DEFERRED, fsync: opt.FSYNC, checkFile: opt.CHECK_FILE, disabled: opt.DISABLED };

// disable() / enable(): the process-wide switch (BC_OPT_DISABLED for every bucket, open or
// not): gets miss, nothing is stored, computes always run.
let cachingDisabled = false;
function disable() {
  cachingDisabled = true;
}
function enable() {
  cachingDisabled = false;
}
function isDisabled() {
  return cachingDisabled;
}

// bc_get_or_compute_ex's max_age_us and flags from {maxAgeMs, refresh, skipCache}.
function callOptions(options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new TypeError('call options must be an object');
  for (const name of Object.keys(options)) {
    if (name !== 'maxAgeMs' && name !== 'refresh' && name !== 'skipCache') {
      throw new TypeError(`unknown call option '${name}' (maxAgeMs, refresh, skipCache)`);
    }
  }
  const maxAgeMs = options.maxAgeMs ?? 0;
  if (typeof maxAgeMs !== 'number' || !Number.isFinite(maxAgeMs) || maxAgeMs < 0) {
    throw new RangeError('maxAgeMs must be a finite number of milliseconds >= 0');
  }
  if (options.refresh && options.skipCache) throw new TypeError('refresh and skipCache exclude each other');
  let flags = 0;
  if (options.refresh) flags = call.REFRESH;
  if (options.skipCache || cachingDisabled) flags = call.SKIP_CACHE;
  return { maxAgeUs: maxAgeMs > 0 ? Math.max(1, Math.round(maxAgeMs * 1000)) : 0, flags };
}
const KNOWN_OPTIONS = new Set(['lifetime', 'backend', 'keyFormat', 'store', 'eviction', 'nearCacheDir', 'staleTtlMs', ...Object.keys(INT_OPTIONS), ...Object.keys(BOOL_OPTIONS)]);

function checkedOptions(options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new TypeError('Bucket options must be an object');
  for (const name of Object.keys(options)) {
    if (!KNOWN_OPTIONS.has(name)) throw new TypeError(`Bucket: unknown option '${name}'`);
  }
  const backend = options.backend === undefined ? 'json' : options.backend;
  if (!Object.prototype.hasOwnProperty.call(codecs, backend)) {
    throw new TypeError(`Bucket: backend must be 'json', 'msgpack' or 'raw', not ${JSON.stringify(backend)}`);
  }
  const keyFormat = options.keyFormat === undefined ? 'json' : options.keyFormat;
  if (keyFormat !== 'json' && keyFormat !== 'raw') {
    throw new TypeError(`Bucket: keyFormat must be 'json' or 'raw', not ${JSON.stringify(keyFormat)}`);
  }
  const store = options.store === undefined ? 'file' : options.store;
  if (typeof store !== 'string') throw new TypeError("Bucket: store must be 'file' or a redis:// URL");
  const nearCacheDir = options.nearCacheDir;
  if (nearCacheDir !== undefined && (typeof nearCacheDir !== 'string' || nearCacheDir === '')) {
    throw new TypeError('Bucket: nearCacheDir must be a non-empty string');
  }
  const ints = [[opt.LIFETIME_US, lifetimeMicros(options.lifetime)]];
  for (const [name, id] of Object.entries(INT_OPTIONS)) {
    const v = options[name];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`Bucket: ${name} must be an integer >= 0`);
    ints.push([id, v]);
  }
  for (const [name, id] of Object.entries(BOOL_OPTIONS)) {
    const v = options[name];
    if (v === undefined) continue;
    if (typeof v !== 'boolean') throw new TypeError(`Bucket: ${name} must be a boolean`);
    ints.push([id, v ? 1 : 0]);
  }
  // BC_OPT_STALE_TTL_US from milliseconds (fractions allowed).
  const staleTtlMs = options.staleTtlMs === undefined ? 0 : options.staleTtlMs;
  if (typeof staleTtlMs !== 'number' || !Number.isFinite(staleTtlMs) || staleTtlMs < 0) {
    throw new TypeError('Bucket: staleTtlMs must be a finite number of milliseconds >= 0');
  }
  const staleTtlUs = Math.round(staleTtlMs * 1000);
  if (!Number.isSafeInteger(staleTtlUs)) throw new RangeError(`Bucket: staleTtlMs too long: ${staleTtlMs}`);
  if (staleTtlUs > 0) ints.push([opt.STALE_TTL_US, staleTtlUs]);
  const eviction = options.eviction === undefined ? 'lrs' : options.eviction;
  if (eviction !== 'lrs' && eviction !== 'lru') {
    throw new TypeError(`Bucket: eviction must be 'lrs' or 'lru', not ${JSON.stringify(eviction)}`);
  }
  return { backend, keyFormat, store, eviction, nearCacheDir, ints, lifetimeUs: ints[0][1], deferred: options.deferred === true,
    staleTtlMs, lockWaitMs: options.lockWaitMs === undefined ? DEFAULT_LOCK_WAIT_MS : options.lockWaitMs };
}

// ---- handles: closed at exit or when the Bucket is garbage collected ----------------

const openHandles = new Set();
const finalizer = new FinalizationRegistry((holder) => closeHolder(holder));

// Closes the bucket. bc_bucket_close waits for a background refresh that is running, at
// most lockWaitMs for its compute: a refresh whose compute is queued for this (the
// JavaScript) thread cannot run meanwhile, so it is abandoned after lockWaitMs and its
// result dropped (see "Stale-while-revalidate" below). The refreshes kept for the bucket
// are forgotten afterwards: a compute the library still calls finds none and fails.
function closeHolder(holder) {
  if (holder.ptr === null) return;
  const ptr = holder.ptr;
  holder.ptr = null;
  openHandles.delete(holder);
  try {
    c.bucket_close(ptr);
  } finally {
    forgetRefreshes(holder);
  }
}

process.on('exit', () => {
  for (const holder of [...openHandles]) closeHolder(holder);
});

// ---- get-or-compute and stale-while-revalidate ------------------------------------------
//
// Every bc_get_or_compute_ex call passes the one registered trampoline below and a call id
// as its user argument (registered, not transient: with BC_OPT_STALE_TTL_US the library
// calls the compute again after the call returned, on its refresh thread; koffi queues
// such a call to this thread's event loop, and the library thread waits for it).
//
// computes: id -> a call in progress ({produce, inCall: true, failure, mem}) or a refresh
// kept for the library's background refresh of a key served stale (a slot). A slot is per
// (bucket, key): {holder, bucket, key, produce (the latest caller's), ids, lastServed}; the ids of
// the calls that served the key stale map to it (the library queues the refresh under one
// of them), at most MAX_SLOT_IDS, the first always kept (it is the one the library queued
// unless that refresh was skipped). A slot is dropped when its refresh failed, when the
// entry is usable again (our refresh stored it, or another caller did and ours is then
// skipped), when lockWaitMs
// (at least MIN_KEEP_MS) passed since it was last served stale, and when the bucket
// closes; a bucket keeps at most MAX_SLOTS. While any slot is kept, a timer keeps the
// event loop alive (and checks the slots), so that a queued refresh runs before the process
// exits instead of holding up the exit-time close for lockWaitMs.
//
// Output bytes: a compute's bytes are copied by the library after the trampoline returned.
// A call's own compute (on this thread, inside the call) is freed when the call returns.
// A background compute's bytes are freed when the bucket's refresh thread (serial) calls
// the trampoline for its next refresh; the last one of a bucket is left allocated at close,
// since an abandoned refresh thread may still be copying it.

const computes = new Map();
let nextComputeId = 1;
const MAX_SLOT_IDS = 8;
const MAX_SLOTS = 64;
const MIN_KEEP_MS = 2000;
const POLL_MS = 25;
const withRefreshes = new Set(); // holders with slots
let keepAlive = null;

// Copies bytes into library-readable memory and points the bc_buf at outPtr to it.
function copyOut(bytes, outPtr) {
  let mem = null;
  if (bytes.length > 0) {
    mem = koffi.alloc('uint8_t', bytes.length);
    new Uint8Array(koffi.view(mem, bytes.length)).set(bytes);
  }
  koffi.encode(outPtr, bc_buf, { data: mem, size: bytes.length });
  return mem;
}

function backgroundFailed(slot, e) {
  const detail = e instanceof Error ? e.message : String(e);
  process.emitWarning(`background refresh of a stale value in ${slot.holder.path} failed; the stale value stays: ${detail}`,
    { code: 'BUCKETCACHE_REFRESH_FAILED' });
}

function computeTrampoline(user, key, klen, outPtr) {
  const entry = computes.get(user);
  if (entry === undefined) return 1; // a refresh of a closed bucket or of a dropped slot
  if (entry.inCall === true) {
    // The compute of the call in progress on this thread.
    try {
      entry.mem = copyOut(entry.produce(), outPtr);
      return 0;
    } catch (e) {
      entry.failure = { error: e };
      return 1;
    }
  }
  // A background refresh (the library's refresh thread waits for us).
  // The slot stays (without ids: it runs once) until the checks see the stored result.
  const slot = entry;
  const holder = slot.holder;
  for (const id of slot.ids) computes.delete(id);
  slot.ids.length = 0;
  if (holder.retired !== null) {
    koffi.free(holder.retired); // the refresh thread copied it before it called us again
    holder.retired = null;
  }
  try {
    holder.retired = copyOut(slot.produce(), outPtr);
    return 0;
  } catch (e) {
    dropSlot(slot); // nothing will be stored
    try {
      backgroundFailed(slot, e);
    } catch {
      // a warning listener threw: the refresh fails all the same
    }
    return 1;
  }
}

const computeCallback = koffi.register(computeTrampoline, koffi.pointer('bc_compute_id_fn'));

function dropSlot(slot) {
  for (const id of slot.ids) computes.delete(id);
  slot.ids.length = 0;
  const slots = slot.holder.refreshes;
  if (slots.get(slot.key) === slot) slots.delete(slot.key);
  if (slots.size === 0) {
    withRefreshes.delete(slot.holder);
    settleWaiters(slot.holder);
  }
}

function forgetRefreshes(holder) {
  for (const slot of [...holder.refreshes.values()]) dropSlot(slot);
}

// Keeps produce for the library's background refresh of key k, served stale by call id.
// The slot references the Bucket, so it is not garbage collected (and closed, waiting for
// the refresh) while the refresh is pending.
function keepRefresh(bucket, k, id, produce) {
  const holder = bucket._holder;
  const key = k.toString('latin1');
  let slot = holder.refreshes.get(key);
  if (slot === undefined) {
    if (holder.refreshes.size >= MAX_SLOTS) {
      let oldest = null;
      for (const s of holder.refreshes.values()) if (oldest === null || s.lastServed < oldest.lastServed) oldest = s;
      dropSlot(oldest);
    }
    slot = { holder, bucket, key, keyBytes: k, produce, ids: [], lastServed: 0 };
    holder.refreshes.set(key, slot);
    withRefreshes.add(holder);
  }
  slot.produce = produce;
  slot.lastServed = Date.now();
  slot.ids.push(id);
  computes.set(id, slot);
  if (slot.ids.length > MAX_SLOT_IDS) computes.delete(slot.ids.splice(1, 1)[0]);
  if (keepAlive === null) keepAlive = setInterval(checkRefreshes, POLL_MS);
}

// The keep-alive timer: drops slots whose refresh cannot be pending any more.
function checkRefreshes() {
  const now = Date.now();
  for (const holder of [...withRefreshes]) {
    if (holder.ptr === null) continue; // closing: closeHolder forgets them
    const keepMs = Math.max(holder.lockWaitMs, MIN_KEEP_MS);
    for (const slot of [...holder.refreshes.values()]) {
      let done = now - slot.lastServed > keepMs;
      if (!done) {
        const k = slot.keyBytes;
        done = c.contains(holder.ptr, k, k.length) === 1; // refreshed by another caller
      }
      if (done) dropSlot(slot);
    }
  }
  if (withRefreshes.size === 0 && keepAlive !== null) {
    clearInterval(keepAlive);
    keepAlive = null;
  }
}

// Resolves the bucket's settled() promises (it keeps no refresh any more).
function settleWaiters(holder) {
  const waiters = holder.waiters.splice(0);
  for (const resolve of waiters) resolve();
}

// ---- Bucket ------------------------------------------------------------------------

const AsyncFunction = (async () => {}).constructor;

function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}

function expiryDate(us) {
  const n = Number(us);
  return n === 0 ? null : new Date(n / 1000);
}

// bc_set_ex's lifetime_us: -1 (the bucket's) for undefined/null, else as the lifetime option.
function entryLifetimeMicros(lifetime) {
  if (lifetime === undefined || lifetime === null) return -1;
  return lifetimeMicros(lifetime);
}

function int64Arg(v, what) {
  if (typeof v === 'bigint') {
    if (v < -(2n ** 63n) || v >= 2n ** 63n) throw new RangeError(`${what} is out of the int64 range`);
    return v;
  }
  if (!Number.isSafeInteger(v)) throw new TypeError(`${what} must be a safe integer or a BigInt`);
  return v;
}

function toSafe(n) {
  return typeof n === 'bigint' && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n;
}

class Bucket {
  // new Bucket(path, {lifetime, backend, keyFormat, memoryLimitBytes, deferred, fsync,
  //                   checkFile, lockWaitMs, directoryMode, fileMode, store, timeoutMs,
  //                   sizeLimitBytes, eviction, nearCacheDir, nearCacheTtlMs})
  // With store a redis:// or redis-cluster:// URL, path names the bucket on the server
  // (docs/redis.md); nearCacheDir puts a local file near-cache in front of it.
  constructor(path, options) {
    if (typeof path !== 'string' || path === '') throw new TypeError('Bucket: path must be a non-empty string');
    if (path.includes('\0')) throw new TypeError('Bucket: path must not contain NUL');
    const o = checkedOptions(options);
    const optsOut = [null];
    check(c.options_new(optsOut));
    const opts = optsOut[0];
    const handle = [null];
    try {
      check(c.options_set_str(opts, opt.BACKEND, o.backend));
      check(c.options_set_str(opts, opt.KEY_FORMAT, o.keyFormat));
      check(c.options_set_str(opts, opt.STORE, o.store));
      check(c.options_set_str(opts, opt.EVICTION, o.eviction));
      if (o.nearCacheDir !== undefined) check(c.options_set_str(opts, opt.NEAR_CACHE_DIR, o.nearCacheDir));
      for (const [id, v] of o.ints) check(c.options_set_int(opts, id, v));
      check(c.bucket_open(handle, path, opts));
    } finally {
      c.options_free(opts);
    }
    this._holder = { ptr: handle[0], path, lockWaitMs: o.lockWaitMs, refreshes: new Map(), retired: null, waiters: [] };
    openHandles.add(this._holder);
    finalizer.register(this, this._holder, this._holder);
    this._codec = codecs[o.backend];
    this._keyBytes = o.keyFormat === 'json' ? jsonKeyBytes : rawKeyBytes;
    Object.defineProperties(this, {
      path: { value: path, enumerable: true },
      backend: { value: o.backend, enumerable: true },
      keyFormat: { value: o.keyFormat, enumerable: true },
      lifetime: { value: o.lifetimeUs / 1000, enumerable: true },
      deferred: { value: o.deferred, enumerable: true },
      staleTtlMs: { value: o.staleTtlMs, enumerable: true },
    });
  }

  get closed() {
    return this._holder.ptr === null;
  }

  _h() {
    const ptr = this._holder.ptr;
    if (ptr === null) {
      throw new BucketCacheError(codes.BC_EINVAL, `bucket ${this.path} is closed`, 'invalid argument');
    }
    return ptr;
  }

  _decode(bytes) {
    try {
      return this._codec.decode(bytes);
    } catch (e) {
      throw new BucketCacheError(codes.BC_ESERIALIZE, `cannot decode a '${this.backend}' value: ${e.message}`,
        'serialization error');
    }
  }

  // The stored bytes of key, or undefined on a miss (absent, expired, foreign or corrupt).
  _getBytes(k) {
    const h = this._h();
    if (cachingDisabled) return undefined;
    const out = {};
    const rc = c.get(h, k, k.length, out);
    if (rc === codes.BC_ENOTFOUND || rc === codes.BC_ECORRUPT) return undefined;
    check(rc);
    return takeBuffer(out);
  }

  _setBytes(k, bytes) {
    if (cachingDisabled) return;
    check(c.set(this._h(), k, k.length, bytes, bytes.length));
  }

  // The value of key, or undefined on a miss (Map semantics).
  get(key) {
    const bytes = this._getBytes(this._keyBytes(key));
    return bytes === undefined ? undefined : this._decode(bytes);
  }

  // The value of key; a miss throws a BucketCacheError with code 'BC_ENOTFOUND'.
  getOrThrow(key) {
    const k = this._keyBytes(key);
    const bytes = this._getBytes(k);
    if (bytes === undefined) {
      throw new BucketCacheError(codes.BC_ENOTFOUND, 'no usable entry for this key', 'not found');
    }
    return this._decode(bytes);
  }

  // Stores value under key. Returns the bucket (Map semantics).
  set(key, value) {
    const k = this._keyBytes(key);
    this._setBytes(k, this._codec.encode(value));
    return this;
  }

  // Deletes key's entry from memory and disk: true if there was one.
  delete(key) {
    const k = this._keyBytes(key);
    const rc = c.delete(this._h(), k, k.length);
    if (rc === codes.BC_ENOTFOUND) return false;
    check(rc);
    return true;
  }

  // true if key has a usable entry (reads the entry's header only).
  has(key) {
    const k = this._keyBytes(key);
    if (cachingDisabled) return false;
    return check(c.contains(this._h(), k, k.length)) === 1;
  }

  // Drops key from the memory layer; the file stays. With deferred, syncs pending writes.
  unloadKey(key) {
    const k = this._keyBytes(key);
    check(c.unload_key(this._h(), k, k.length));
  }

  // When key's entry expires: a Date, null if it never does, undefined on a miss.
  expiry(key) {
    const k = this._keyBytes(key);
    const us = [0];
    const rc = c.get_expiry(this._h(), k, k.length, us);
    if (rc === codes.BC_ENOTFOUND || rc === codes.BC_ECORRUPT) return undefined;
    check(rc);
    return expiryDate(us[0]);
  }

  // Deletes expired entries of this bucket's backend and key format and stale temp/lock
  // files. Returns {bytes, files} removed: numbers (BigInt only past 2^53 - 1).
  pruneDirectory() {
    const out = {};
    check(c.prune_directory(this._h(), out));
    return { bytes: toSafe(out.bytes), files: toSafe(out.files) };
  }

  // ---- cache management (docs/cache-management.md) ----

  // set() with the entry's own lifetime: milliseconds or {days, hours, ...}; 0 = never
  // expires; undefined or null = the bucket's. An entry given its own lifetime is kept that
  // long even by a bucket of a shorter lifetime. Returns the bucket.
  setEx(key, value, lifetime) {
    const k = this._keyBytes(key);
    const bytes = this._codec.encode(value);
    check(c.set_ex(this._h(), k, k.length, bytes, bytes.length, entryLifetimeMicros(lifetime)));
    return this;
  }

  // Stores value only if key has no usable entry, atomically across processes: true if
  // stored, false if an entry exists (nothing changes). lifetime as for setEx.
  add(key, value, lifetime) {
    const k = this._keyBytes(key);
    const bytes = this._codec.encode(value);
    const rc = c.add(this._h(), k, k.length, bytes, bytes.length, entryLifetimeMicros(lifetime));
    if (rc === codes.BC_EEXISTS) return false;
    check(rc);
    return true;
  }

  // New expiry for key's usable entry: now + lifetime (as for setEx). false if none.
  touch(key, lifetime) {
    const k = this._keyBytes(key);
    const rc = c.touch(this._h(), k, k.length, entryLifetimeMicros(lifetime));
    if (rc === codes.BC_ENOTFOUND) return false;
    check(rc);
    return true;
  }

  // Adds delta to key's integer value (absent: starts at initial) and returns the result
  // (a number; a BigInt past 2^53 - 1). Atomic against every other incr of the key in any
  // process. The value must be an integer in the bucket's backend ('json', 'msgpack', or
  // 'raw' ASCII decimal); else, or on int64 overflow, BC_EINVAL.
  incr(key, delta = 1, initial = 0) {
    const k = this._keyBytes(key);
    const out = [0];
    check(c.incr(this._h(), k, k.length, int64Arg(delta, 'delta'), int64Arg(initial, 'initial'), out));
    return toSafe(BigInt(out[0]));
  }

  // incr(key, -delta, initial).
  decr(key, delta = 1, initial = 0) {
    return this.incr(key, typeof delta === 'bigint' ? -delta : -int64Arg(delta, 'delta'), initial);
  }

  // {value, expires} of key (expires a Date, or null for never), or undefined on a miss.
  // options.maxAgeMs: an entry created longer ago is a miss (it is not deleted).
  getEx(key, options = {}) {
    const k = this._keyBytes(key);
    const maxAgeMs = options.maxAgeMs ?? 0;
    if (typeof maxAgeMs !== 'number' || !Number.isFinite(maxAgeMs) || maxAgeMs < 0) {
      throw new RangeError('getEx: maxAgeMs must be a finite number of milliseconds >= 0');
    }
    const out = {};
    const expires = [0];
    const rc = c.get_ex(this._h(), k, k.length, Math.round(maxAgeMs * 1000), out, expires);
    if (rc === codes.BC_ENOTFOUND || rc === codes.BC_ECORRUPT) return undefined;
    check(rc);
    return { value: this._decode(takeBuffer(out)), expires: expiryDate(expires[0]) };
  }

  // Removes key's usable entry and returns its value (undefined if none): get-and-delete,
  // atomic across processes (of concurrent pops of one entry, one gets it).
  pop(key) {
    const k = this._keyBytes(key);
    const out = {};
    const rc = c.pop(this._h(), k, k.length, out);
    if (rc === codes.BC_ENOTFOUND || rc === codes.BC_ECORRUPT) return undefined;
    check(rc);
    return this._decode(takeBuffer(out));
  }

  // Removes every entry of this bucket (its backend and key format) and returns how many;
  // other buckets' entries in the directory stay. Drops pending deferred writes.
  clear() {
    const removed = [0];
    check(c.clear(this._h(), removed));
    return toSafe(BigInt(removed[0]));
  }

  // The bucket's statistics: {hits, misses, writes, evictions, expired} totals of every
  // process using it (each saves its counts at most once a second and at close; this call
  // saves this process's first) and {entries, bytes} of the store now (a scan). Numbers
  // (BigInt past 2^53). docs/cache-management.md, "Statistics".
  stats() {
    const names = ['hits', 'misses', 'writes', 'evictions', 'expired', 'entries', 'bytes'];
    const out = {};
    names.forEach((name, i) => {
      const v = [0];
      check(c.stat(this._h(), i + 1, v));
      out[name] = toSafe(BigInt(v[0]));
    });
    return out;
  }

  // Zeroes the bucket's counters (hits..expired) for every process using it.
  resetStats() {
    check(c.stat_reset(this._h()));
  }

  // Calls fn({key, size, created, expires}) for every usable entry of this bucket (key: the
  // stored key bytes as a Buffer, canonical JSON text for JSON keys; empty if the entry
  // omits it; created a Date, expires a Date or null). Returning false stops the walk; an
  // exception stops it and propagates.
  forEach(fn) {
    if (typeof fn !== 'function') throw new TypeError('forEach(fn): fn must be a function');
    let failure = null;
    const rc = c.foreach(this._h(), (user, key, klen, size, created, expires) => {
      try {
        const n = Number(klen);
        const keyBytes = n > 0 ? Buffer.from(new Uint8Array(koffi.view(key, n))) : Buffer.alloc(0);
        const r = fn({ key: keyBytes, size: toSafe(BigInt(size)), created: new Date(Number(created) / 1000),
          expires: expiryDate(expires) });
        return r === false ? 1 : 0;
      } catch (e) {
        failure = { error: e };
        return 1;
      }
    }, null);
    if (failure !== null) throw failure.error;
    if (rc === codes.BC_EUSER) return;
    check(rc);
  }

  // Writes pending deferred writes (a no-op unless deferred).
  sync() {
    check(c.sync(this._h()));
  }

  // Syncs deferred writes (a failure is logged by the library: call sync() first to see
  // it) and closes the bucket. Further calls throw; close() again is a no-op.
  close() {
    finalizer.unregister(this._holder);
    closeHolder(this._holder);
  }

  // Resolves once no background refresh of a value this bucket served stale is pending
  // (each ran, was done by another caller, or was given up after lockWaitMs), letting the
  // event loop run them meanwhile. Then close() does not wait for one.
  settled() {
    const holder = this._holder;
    if (holder.refreshes.size === 0) return Promise.resolve();
    return new Promise((resolve) => holder.waiters.push(resolve));
  }

  // settled(), then close().
  async closeAsync() {
    await this.settled();
    this.close();
  }

  // Single flight: the cached value of key, or compute()'s result, stored and returned.
  // compute must be synchronous. Concurrent callers of one key (other processes sharing
  // the directory) compute once; others wait up to lockWaitMs. Returns {value, hit}.
  _getOrCompute(k, compute, options) {
    const h = this._h();
    const { maxAgeUs, flags } = callOptions(options);
    const codec = this._codec;
    const produce = () => {
      const result = compute();
      if (isThenable(result)) {
        result.then(undefined, () => {}); // nobody awaits it
        throw new TypeError('the computed function returned a Promise; use memoizeAsync() for async functions');
      }
      return codec.encode(result);
    };
    const id = nextComputeId++;
    const ctx = { produce, inCall: true, failure: null, mem: null };
    computes.set(id, ctx);
    const out = {};
    const hit = [0];
    const expires = [0];
    let rc;
    try {
      rc = c.get_or_compute_id(h, k, k.length, computeCallback, id, maxAgeUs, flags, out, hit, expires);
    } finally {
      ctx.inCall = false;
      computes.delete(id);
      if (ctx.mem !== null) koffi.free(ctx.mem);
    }
    if (ctx.failure !== null) throw ctx.failure.error;
    check(rc);
    // Served stale (expired, within staleTtlMs): the library refreshes it in the background
    // and may call this compute again.
    const expiresUs = Number(expires[0]);
    const stale = hit[0] === 1 && expiresUs !== 0 && expiresUs < Date.now() * 1000;
    if (stale) keepRefresh(this, k, id, produce);
    return { value: this._decode(takeBuffer(out)), hit: hit[0] === 1, stale };
  }

  // The cached value of key, or compute() (synchronous), stored and returned, computed
  // once across processes sharing the directory.
  // options (optional): {maxAgeMs} an entry created longer ago is recomputed, {refresh:
  // true} compute and overwrite, {skipCache: true} compute only (bc_get_or_compute_ex).
  getOrCompute(key, compute, options) {
    if (typeof compute !== 'function') throw new TypeError('getOrCompute(key, compute): compute must be a function');
    return this._getOrCompute(this._keyBytes(key), compute, options).value;
  }

  // Wraps a synchronous function so its results are cached under
  // {"args": [...], "name": name[, "self": ...]} (the C++ memoize key; docs/memoize.md).
  // options: name (default fn.name), ignore (argument indices left out of the key),
  // method (put `this` in the key), onHit(info) (called on cache hits).
  memoize(fn, options) {
    if (fn instanceof AsyncFunction) {
      throw new TypeError('memoize() takes synchronous functions; use memoizeAsync() for async functions');
    }
    const m = makeMemoized(this, fn, options, 'memoize');
    const bucket = this;
    const run = function (self, args, callOpts) {
      const k = m.keyBytes(self, args);
      const { value, hit } = bucket._getOrCompute(k, () => fn.apply(self, args), callOpts);
      if (hit) {
        m.stats.hits++;
        m.onHit(k, args, value);
      } else {
        m.stats.misses++;
      }
      return value;
    };
    const memoized = function (...args) {
      return run(this, args);
    };
    // Per-call options (cachier's bucketcache__ keywords): {maxAgeMs, refresh, skipCache}.
    memoized.callWith = function (callOpts, ...args) {
      return run(this, args, callOpts);
    };
    return m.decorate(memoized);
  }

  // Like memoize() for async functions (or functions returning a Promise). The result is
  // computed with get + set: single flight within this process only; concurrent callers in
  // other processes may compute too (the last write wins). Returns a Promise.
  memoizeAsync(fn, options) {
    const m = makeMemoized(this, fn, options, 'memoizeAsync');
    const bucket = this;
    const inFlight = new Map();
    const memoized = async function (...args) {
      const k = m.keyBytes(this, args);
      const cached = bucket._getBytes(k);
      if (cached !== undefined) {
        const value = bucket._decode(cached);
        m.stats.hits++;
        m.onHit(k, args, value);
        return value;
      }
      const id = canonicalText(k);
      const running = inFlight.get(id);
      if (running) {
        m.stats.hits++;
        return running;
      }
      const p = (async () => {
        const bytes = bucket._codec.encode(await fn.apply(this, args));
        bucket._setBytes(k, bytes);
        m.stats.misses++;
        return bucket._decode(Buffer.from(bytes));
      })();
      inFlight.set(id, p);
      const done = () => inFlight.delete(id);
      p.then(done, done);
      return p;
    };
    return m.decorate(memoized);
  }
}

if (typeof Symbol.dispose === 'symbol') {
  Bucket.prototype[Symbol.dispose] = Bucket.prototype.close;
}

// The parts memoize() and memoizeAsync() share.
function makeMemoized(bucket, fn, options, what) {
  if (typeof fn !== 'function') throw new TypeError(`${what}(fn, options): fn must be a function`);
  const o = options === undefined ? {} : options;
  if (o === null || typeof o !== 'object') throw new TypeError(`${what}: options must be an object`);
  for (const name of Object.keys(o)) {
    if (!['name', 'ignore', 'method', 'onHit'].includes(name)) throw new TypeError(`${what}: unknown option '${name}'`);
  }
  if (bucket.keyFormat !== 'json') throw new TypeError(`${what} needs a bucket with keyFormat 'json'`);
  const name = o.name !== undefined ? o.name : fn.name;
  if (typeof name !== 'string' || name === '') {
    throw new TypeError(`${what}: give options.name for an anonymous function (it names the function in the key)`);
  }
  const ignore = new Set(o.ignore || []);
  for (const i of ignore) {
    if (!Number.isInteger(i) || i < 0) throw new TypeError(`${what}: ignore must list argument indices (integers >= 0)`);
  }
  const method = o.method === true;
  if (o.onHit !== undefined && typeof o.onHit !== 'function') throw new TypeError(`${what}: onHit must be a function`);
  const stats = { hits: 0, misses: 0 };

  function selfKey(self) {
    if (self === undefined || self === null) {
      throw new TypeError(`${what}: a method-mode function must be called as a method (this is ${self})`);
    }
    if (typeof self.cacheKey === 'function') return self.cacheKey();
    if (typeof self.toJSON === 'function' || Array.isArray(self)) return self;
    const proto = Object.getPrototypeOf(self);
    return proto === Object.prototype || proto === null ? self : { ...self };
  }

  function keyObject(self, args) {
    const key = { args: args.filter((_, i) => !ignore.has(i)), name };
    if (method) key.self = selfKey(self);
    return key;
  }

  function keyBytes(self, args) {
    return Buffer.from(toJsonText(keyObject(self, args), 'memoized call key'), 'utf8');
  }

  function onHit(k, args, value) {
    if (!o.onHit) return;
    o.onHit({ name, args, value, expires: bucket.expiry(jsonKey(k)) });
  }

  // Calls fn and overwrites the stored result (BucketCache's nocache): a Promise of the
  // value for memoizeAsync.
  function refresh(self, args) {
    const k = keyBytes(self, args);
    const store = (result) => {
      const bytes = bucket._codec.encode(result);
      bucket._setBytes(k, bytes);
      stats.misses++;
      return bucket._decode(Buffer.from(bytes));
    };
    if (what === 'memoizeAsync') return (async () => store(await fn.apply(self, args)))();
    const result = fn.apply(self, args);
    if (isThenable(result)) {
      result.then(undefined, () => {});
      throw new TypeError('the computed function returned a Promise; use memoizeAsync() for async functions');
    }
    return store(result);
  }

  function decorate(memoized) {
    Object.defineProperty(memoized, 'name', { value: fn.name });
    memoized.refresh = function (...args) {
      return refresh(this, args);
    };
    Object.defineProperty(memoized, 'stats', { value: stats, enumerable: true });
    memoized.key = function (...args) {
      return canonicalText(keyBytes(this, args));
    };
    memoized.delete = function (...args) {
      return bucket.delete(jsonKey(keyBytes(this, args)));
    };
    return memoized;
  }

  return { stats, keyBytes, onHit, decorate };
}

// ---- module functions ----------------------------------------------------------------

function canonicalText(bytes) {
  const out = {};
  check(c.canonical_key(out, bytes, bytes.length));
  return takeBuffer(out).toString('utf8');
}

// The canonical key form (docs/keys.md) of a key: a JS value or a jsonKey(text).
function canonicalKey(key) {
  return canonicalText(jsonKeyBytes(key));
}

const LOG_LEVELS = { trace: 0, debug: 1, info: 2, warn: 3, error: 4, critical: 5, off: 6 };

// Library log level ('trace' ... 'critical', 'off'); lines go to stderr.
function setLogLevel(level) {
  const n = typeof level === 'string' ? LOG_LEVELS[level] : level;
  if (n === undefined) throw new TypeError(`setLogLevel: unknown level ${JSON.stringify(level)}`);
  check(c.set_log_level(n));
}

function setLogFullKeys(on) {
  check(c.set_log_full_keys(on ? 1 : 0));
}

function version() {
  return {
    library: c.version_string(),
    number: c.version_number(),
    format: c.format_version(),
    path: libraryFile,
  };
}

module.exports = {
  Bucket,
  BucketCacheError,
  codes,
  JsonKey,
  jsonKey,
  canonicalKey,
  setLogLevel,
  setLogFullKeys,
  version,
  msgpack,
  disable,
  enable,
  isDisabled,
};
