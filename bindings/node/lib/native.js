'use strict';

// The C API (include/bucketcache/bucketcache.h) through koffi. Everything here is a thin
// declaration; the Bucket class in index.js holds the logic.

const fs = require('node:fs');
const path = require('node:path');
const koffi = requireKoffi();

function requireKoffi() {
  try {
    return require('koffi');
  } catch (e) {
    if (e.code !== 'MODULE_NOT_FOUND') throw e;
    throw new Error(
      `bucketcache: the npm package koffi is missing: run \`npm ci\` in ${path.resolve(__dirname, '..')} ` +
        `(or install this package with npm). ${e.message.split('\n')[0]}`,
    );
  }
}
const { BucketCacheError } = require('./errors');

const SONAME = 'libbucketcache.so.0';

// Markers of a sanitizer runtime in a library: a sanitizer build cannot be loaded into an
// uninstrumented node ("ASan runtime does not come first").
const SANITIZER_MARKERS = ['__asan_init', '__tsan_init', '__msan_init', '__ubsan_handle_'].map((m) =>
  Buffer.from(m),
);

// Whether a build tree is a sanitizer build: its CMakeCache.txt sets BUCKETCACHE_SANITIZE
// to a non-empty value or passes -fsanitize in the compiler or linker flags, or the library
// itself references a sanitizer runtime (bindings/README.md, "Library discovery").
function isSanitizerBuild(treeDir, file) {
  let cache = '';
  try {
    cache = fs.readFileSync(path.join(treeDir, 'CMakeCache.txt'), 'utf8');
  } catch {
    // not configured by CMake (or a copy): the library check below still applies
  }
  for (const line of cache.split('\n')) {
    const m = /^([A-Za-z0-9_]+)(?::[A-Z]+)?=(.*)$/.exec(line.trim());
    if (!m) continue;
    const [, name, value] = m;
    if (name === 'BUCKETCACHE_SANITIZE' && value.trim() !== '') return true;
    if (/^CMAKE_(C|CXX)_FLAGS|^CMAKE_(SHARED|EXE|MODULE)_LINKER_FLAGS/.test(name) && value.includes('-fsanitize')) {
      return true;
    }
  }
  let bytes;
  try {
    bytes = fs.readFileSync(file);
  } catch {
    return false;
  }
  return SANITIZER_MARKERS.some((m) => bytes.includes(m));
}

// The build trees of the repository this package sits in: <root>/build*/libbucketcache.so.0,
// the most recently built first, sanitizer builds left out (isSanitizerBuild). Returns
// { files, skipped }.
function buildTreeCandidates() {
  const root = path.resolve(__dirname, '..', '..', '..');
  let entries;
  try {
    entries = fs.readdirSync(root, { withFileTypes: true });
  } catch {
    return { files: [], skipped: [] };
  }
  const found = [];
  const skipped = [];
  for (const e of entries) {
    if (!e.isDirectory() || !e.name.startsWith('build')) continue;
    const tree = path.join(root, e.name);
    const file = path.join(tree, SONAME);
    let mtime;
    try {
      mtime = fs.statSync(file).mtimeMs;
    } catch {
      continue; // no library in this build tree
    }
    if (isSanitizerBuild(tree, file)) skipped.push(file);
    else found.push({ file, mtime });
  }
  return { files: found.sort((a, b) => b.mtime - a.mtime).map((c) => c.file), skipped };
}

// Loads the library: $BUCKETCACHE_LIBRARY if set (and only that), else the system loader's
// libbucketcache.so.0, else the repository's build trees.
function loadLibrary() {
  const fromEnv = process.env.BUCKETCACHE_LIBRARY;
  if (fromEnv) {
    try {
      return { lib: koffi.load(fromEnv), file: fromEnv };
    } catch (e) {
      throw new Error(
        `bucketcache: cannot load the library named by BUCKETCACHE_LIBRARY (${fromEnv}): ${e.message}`,
      );
    }
  }
  const tried = [];
  const { files: builds, skipped } = buildTreeCandidates();
  for (const file of [SONAME, ...builds]) {
    try {
      return { lib: koffi.load(file), file };
    } catch (e) {
      tried.push(`  ${file}: ${e.message}`);
    }
  }
  for (const file of skipped) tried.push(`  ${file}: skipped, a sanitizer build`);
  if (builds.length === 0 && skipped.length === 0) {
    tried.push(`  ${path.resolve(__dirname, '..', '..', '..', 'build*', SONAME)}: no such file`);
  }
  throw new Error(
    'bucketcache: cannot find the native library libbucketcache.so.0. Set BUCKETCACHE_LIBRARY ' +
      'to its path, install it where the system loader finds it, or build it in the ' +
      `repository (cmake -S . -B build && cmake --build build). Tried:\n${tried.join('\n')}`,
  );
}

const { lib, file: libraryFile } = loadLibrary();

koffi.opaque('bc_bucket');
koffi.opaque('bc_options');
const bc_buf = koffi.struct('bc_buf', { data: 'void *', size: 'size_t' });
koffi.struct('bc_prune_info', { bytes: 'uint64_t', files: 'uint64_t' });
koffi.proto('int bc_compute_fn(void *user, const void *key, size_t klen, bc_buf *out)');
// bc_compute_fn with user as an integer: the binding's one registered compute trampoline
// (index.js) gets a call id there. intptr_t and void * are passed alike on every ABI koffi
// supports.
koffi.proto('int bc_compute_id_fn(intptr_t user, const void *key, size_t klen, bc_buf *out)');
koffi.proto(
  'int bc_entry_fn(void *user, const void *key, size_t klen, uint64_t size, int64_t created_us, ' +
    'int64_t expires_us)',
);

const c = {
  options_new: lib.func('int bc_options_new(_Out_ bc_options **out)'),
  options_free: lib.func('void bc_options_free(bc_options *o)'),
  options_set_int: lib.func('int bc_options_set_int(bc_options *o, int option, int64_t value)'),
  options_set_str: lib.func('int bc_options_set_str(bc_options *o, int option, const char *value)'),
  bucket_open: lib.func('int bc_bucket_open(_Out_ bc_bucket **out, const char *path, const bc_options *o)'),
  bucket_close: lib.func('void bc_bucket_close(bc_bucket *b)'),
  set: lib.func('int bc_set(bc_bucket *b, const void *key, size_t klen, const void *val, size_t vlen)'),
  get: lib.func('int bc_get(bc_bucket *b, const void *key, size_t klen, _Out_ bc_buf *out)'),
  delete: lib.func('int bc_delete(bc_bucket *b, const void *key, size_t klen)'),
  contains: lib.func('int bc_contains(bc_bucket *b, const void *key, size_t klen)'),
  unload_key: lib.func('int bc_unload_key(bc_bucket *b, const void *key, size_t klen)'),
  sync: lib.func('int bc_sync(bc_bucket *b)'),
  prune_directory: lib.func('int bc_prune_directory(bc_bucket *b, _Out_ bc_prune_info *out)'),
  get_or_compute: lib.func(
    'int bc_get_or_compute(bc_bucket *b, const void *key, size_t klen, bc_compute_fn *fn, ' +
      'void *user, _Out_ bc_buf *out, _Out_ int *hit)',
  ),
  get_or_compute_ex: lib.func(
    'int bc_get_or_compute_ex(bc_bucket *b, const void *key, size_t klen, bc_compute_fn *fn, ' +
      'void *user, int64_t max_age_us, int flags, _Out_ bc_buf *out, _Out_ int *hit, _Out_ int64_t *expires_us)',
  ),
  get_or_compute_id: lib.func(
    'int bc_get_or_compute_ex(bc_bucket *b, const void *key, size_t klen, bc_compute_id_fn *fn, ' +
      'intptr_t user, int64_t max_age_us, int flags, _Out_ bc_buf *out, _Out_ int *hit, _Out_ int64_t *expires_us)',
  ),
  get_expiry: lib.func('int bc_get_expiry(bc_bucket *b, const void *key, size_t klen, _Out_ int64_t *expires_us)'),
  set_ex: lib.func(
    'int bc_set_ex(bc_bucket *b, const void *key, size_t klen, const void *val, size_t vlen, int64_t lifetime_us)',
  ),
  add: lib.func(
    'int bc_add(bc_bucket *b, const void *key, size_t klen, const void *val, size_t vlen, int64_t lifetime_us)',
  ),
  touch: lib.func('int bc_touch(bc_bucket *b, const void *key, size_t klen, int64_t lifetime_us)'),
  incr: lib.func(
    'int bc_incr(bc_bucket *b, const void *key, size_t klen, int64_t delta, int64_t initial, _Out_ int64_t *out)',
  ),
  get_ex: lib.func(
    'int bc_get_ex(bc_bucket *b, const void *key, size_t klen, int64_t max_age_us, _Out_ bc_buf *out, ' +
      '_Out_ int64_t *expires_us)',
  ),
  clear: lib.func('int bc_clear(bc_bucket *b, _Out_ uint64_t *removed)'),
  pop: lib.func('int bc_pop(bc_bucket *b, const void *key, size_t klen, _Out_ bc_buf *out)'),
  foreach: lib.func('int bc_foreach(bc_bucket *b, bc_entry_fn *fn, void *user)'),
  stat: lib.func('int bc_stat(bc_bucket *b, int which, _Out_ uint64_t *out)'),
  stat_reset: lib.func('int bc_stat_reset(bc_bucket *b)'),
  buf_dispose: lib.func('void bc_buf_dispose(_Inout_ bc_buf *buf)'),
  strerror: lib.func('const char *bc_strerror(int code)'),
  last_error_message: lib.func('const char *bc_last_error_message(void)'),
  version_string: lib.func('const char *bc_version_string(void)'),
  version_number: lib.func('unsigned int bc_version_number(void)'),
  format_version: lib.func('unsigned int bc_format_version(void)'),
  canonical_key: lib.func('int bc_canonical_key(_Out_ bc_buf *out, const void *json, size_t len)'),
  set_log_level: lib.func('int bc_set_log_level(int level)'),
  set_log_full_keys: lib.func('int bc_set_log_full_keys(int on)'),
};

// Option keys (BC_OPT_*).
const opt = Object.freeze({
  LIFETIME_US: 1,
  BACKEND: 2,
  KEY_FORMAT: 3,
  MEMORY_LIMIT_BYTES: 4,
  DEFERRED: 5,
  FSYNC: 6,
  CHECK_FILE: 7,
  LOCK_WAIT_MS: 8,
  DIRECTORY_MODE: 9,
  FILE_MODE: 10,
  STORE: 11,
  NEAR_CACHE_DIR: 12,
  TIMEOUT_MS: 13,
  SIZE_LIMIT_BYTES: 14,
  EVICTION: 15,
  STALE_TTL_US: 16,
  STORE_KEYS: 18,
  NEAR_CACHE_TTL_MS: 20,
  DISABLED: 17,
  ENTRY_SIZE_LIMIT_BYTES: 19,
});

// Flags of bc_get_or_compute_ex (BC_CALL_*).
const call = Object.freeze({ REFRESH: 1, SKIP_CACHE: 2 });

// The error for result code rc, with the calling thread's detail message. Call right
// after the failing call: the next library call replaces the detail.
function errorFor(rc) {
  return new BucketCacheError(rc, c.last_error_message(), c.strerror(rc));
}

function check(rc) {
  if (rc < 0) throw errorFor(rc);
  return rc;
}

// Copies the bytes of a bc_buf the library filled into a Buffer and disposes the bc_buf.
function takeBuffer(buf) {
  try {
    if (!buf.size) return Buffer.alloc(0);
    return Buffer.from(new Uint8Array(koffi.view(buf.data, buf.size)));
  } finally {
    c.buf_dispose(buf);
  }
}

module.exports = { koffi, c, opt, call, bc_buf, check, errorFor, takeBuffer, libraryFile };
