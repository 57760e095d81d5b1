/* bucketcache C API, version 1.
 *
 * A stable C ABI over libbucketcache: opaque handles, int result codes, and no exception
 * ever crosses this boundary. C, C++, Python (ctypes), Node (koffi) and any other FFI share
 * the same bucket directories and entry files. Valid C89 and C99. See docs/c-api.md.
 *
 * Conventions
 * - Every fallible function returns int: BC_OK (0) on success, a negative BC_E* code on
 *   failure. Codes have fixed values; new ones are only ever appended.
 * - After a failure, bc_last_error_message() gives detail (path, errno text, the byte
 *   offset at which a JSON key failed to parse) for the calling thread.
 * - Output parameters come first, then the object, then inputs.
 * - Inputs are copied: the library keeps no pointer you pass after a call returns.
 * - Bytes the library hands out (bc_buf) belong to the caller until bc_buf_dispose().
 * - Every function that frees or closes accepts NULL.
 * - bc_bucket handles are thread-safe: one handle may be used from many threads at once.
 *   bc_options objects are not: configure one on one thread, then use it anywhere.
 */
#ifndef BUCKETCACHE_BUCKETCACHE_H
#define BUCKETCACHE_BUCKETCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "bucketcache/version.h"

#if defined(__GNUC__)
#define BC_API __attribute__((visibility("default")))
#else
#define BC_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Result codes ------------------------------------------------------------------ */

#define BC_OK 0
#define BC_ENOTFOUND (-1)    /* no usable entry: absent, expired or foreign */
#define BC_EINVAL (-2)       /* invalid argument: NULL, bad key, bad option value */
#define BC_EIO (-3)          /* the file system failed (permission, EIO, disk full) */
#define BC_ECORRUPT (-4)     /* the entry failed its checks (checksum, length) */
#define BC_ESERIALIZE (-5)   /* a value could not be serialized or deserialized */
#define BC_ENOMEM (-6)       /* out of memory */
#define BC_EUNSUPPORTED (-7) /* unknown option or unsupported feature */
#define BC_ETIMEOUT (-8)     /* a wait timed out */
#define BC_EUSER (-9)        /* a user callback returned non-zero */
#define BC_ERROR (-10)       /* any other error */
#define BC_EEXISTS (-11)     /* the key already has a usable entry (bc_add) */

/* ---- Types ------------------------------------------------------------------------- */

/* An open bucket (a cache directory). Opaque. */
typedef struct bc_bucket bc_bucket;
/* Options for bc_bucket_open. Opaque. */
typedef struct bc_options bc_options;

/* Bytes. From the library: malloc'ed, owned by the caller until bc_buf_dispose(). */
typedef struct bc_buf {
  void* data;
  size_t size;
} bc_buf;

/* What bc_prune_directory removed. */
typedef struct bc_prune_info {
  uint64_t bytes;
  uint64_t files;
} bc_prune_info;

/* ---- Options ----------------------------------------------------------------------- */

/* Option keys for bc_options_set_int (I) and bc_options_set_str (S). Fixed values. */
/* clang-format off */
#define BC_OPT_LIFETIME_US 1        /* I: entry lifetime in microseconds; 0 = never (default) */
#define BC_OPT_BACKEND 2            /* S: "raw" (default), "json", "msgpack", "pickle" */
#define BC_OPT_KEY_FORMAT 3         /* S: "raw" (default: keys are bytes) or "json" */
#define BC_OPT_MEMORY_LIMIT_BYTES 4 /* I: memory layer bound; 0 disables; default 64 MiB */
#define BC_OPT_DEFERRED 5           /* I: 1 = hold sets in memory until bc_sync/close */
#define BC_OPT_FSYNC 6              /* I: 1 = fsync entry and directory on every set */
#define BC_OPT_CHECK_FILE 7         /* I: 1 = stat the file on memory hits (see others' writes) */
#define BC_OPT_LOCK_WAIT_MS 8       /* I: bc_get_or_compute wait for another computer; 60000 */
#define BC_OPT_DIRECTORY_MODE 9     /* I: mode of created directories, default 0700 */
#define BC_OPT_FILE_MODE 10         /* I: mode of entry files, default 0600 */
#define BC_OPT_STORE 11             /* S: where entries live: "file" (default: the path is a
                                       directory) or "redis://[user:password@]host:port[/db]"
                                       (the path names the bucket, a key namespace on the
                                       server; docs/redis.md), or
                                       "redis-cluster://[user:password@]host:port[,host:port...]"
                                       (a Redis Cluster: keys routed by hash slot). */
#define BC_OPT_NEAR_CACHE_DIR 12    /* S: with a remote store, a local directory used as a file
                                       store in front of it (one directory per bucket): reads
                                       fill it, writes go through; docs/redis.md */
#define BC_OPT_TIMEOUT_MS 13        /* I: remote store connect and per-command timeout, >= 1;
                                       2000. A server that does not answer in time is BC_EIO. */
#define BC_OPT_STORE_KEYS 18        /* I: 1 (default) keep each key's bytes in its entry (format
                                       2: listings show keys); 0 for secret keys (entries then
                                       record only the digest) */
#define BC_OPT_SIZE_LIMIT_BYTES 14  /* I: soft bound on the bytes of this bucket's entries in its
                                       store, across processes; 0 = none (default: nothing is
                                       dropped silently). Exceeding it evicts (BC_OPT_EVICTION).
                                       File store only: BC_EINVAL at open on a Redis store. */
#define BC_OPT_EVICTION 15          /* S: "lrs" (least recently stored, default) or "lru" (least
                                       recently used, approximate: docs/cache-management.md) */
#define BC_OPT_NEAR_CACHE_TTL_MS 20 /* I: how long a near-cache copy is served before the
                                       server is asked again (its staleness bound), 1..86400000;
                                       5000 */

#define BC_STAT_HITS 1      /* bc_stat: reads (bc_get, bc_get_or_compute...) that found a value */
#define BC_STAT_MISSES 2    /* reads that found none */
#define BC_STAT_WRITES 3    /* entries stored */
#define BC_STAT_EVICTIONS 4 /* entries removed by the size limit */
#define BC_STAT_EXPIRED 5   /* entries found expired (deleted or pruned) */
#define BC_STAT_ENTRIES 6   /* entries of this bucket in its store now (a scan) */
#define BC_STAT_BYTES 7     /* bytes of those entries (header, key and value) */
#define BC_OPT_STALE_TTL_US 16      /* I: stale-while-revalidate: bc_get_or_compute(_ex) returns
                                       a value expired less than this long ago at once while
                                       one caller (across processes) recomputes it in the
                                       background; 0 = off (default). The compute callback may
                                       then run on a library thread: it must be thread-safe,
                                       and user must stay valid until the refresh ends
                                       (bc_bucket_close waits for it at most
                                       BC_OPT_LOCK_WAIT_MS; docs/memoize.md). */
#define BC_OPT_DISABLED 17          /* I: 1 = gets miss, nothing is stored, computes always
                                       run. The environment variable BUCKETCACHE_DISABLE=1
                                       sets it for every bucket opened while it is set. */
#define BC_OPT_ENTRY_SIZE_LIMIT_BYTES 19 /* I: bc_get_or_compute(_ex): a computed value longer
                                            than this is returned, not stored (logged at
                                            info); 0 = no limit (default) */
/* clang-format on */

/* Creates options with defaults in *out. Free with bc_options_free.
 * Errors: BC_EINVAL (out NULL), BC_ENOMEM. */
BC_API int bc_options_new(bc_options** out);

/* Frees options. NULL is a no-op. */
BC_API void bc_options_free(bc_options* o);

/* Sets an integer option. Errors: BC_EINVAL (o NULL, value out of range, or a string
 * option), BC_EUNSUPPORTED (unknown option). Booleans take 0 or 1. */
BC_API int bc_options_set_int(bc_options* o, int option, int64_t value);

/* Sets a string option (value NUL-terminated, copied). Errors: BC_EINVAL (NULL argument,
 * a value the option does not accept, or an integer option), BC_EUNSUPPORTED (unknown
 * option). */
BC_API int bc_options_set_str(bc_options* o, int option, const char* value);

/* ---- Buckets ----------------------------------------------------------------------- */

/* Opens the bucket directory at path (NUL-terminated), creating it and its parents with
 * the directory mode if missing, and stores the handle in *out. o may be NULL (defaults)
 * and may be freed right after. With BC_OPT_STORE a redis:// URL, path names the bucket on
 * the server, which is reached (and AUTH checked) now. Errors: BC_EINVAL (out or path
 * NULL, empty path), BC_EIO (the directory cannot be created or is not a directory; the
 * server is unreachable, times out or refuses AUTH: the message names host:port and the
 * reason), BC_ENOMEM. */
BC_API int bc_bucket_open(bc_bucket** out, const char* path, const bc_options* o);

/* Closes a bucket. Pending deferred writes are synced first; if that fails the loss is
 * logged (call bc_sync before closing to get the error). NULL is a no-op. No call on the
 * handle may be running or follow. */
BC_API void bc_bucket_close(bc_bucket* b);

/* Keys: with BC_OPT_KEY_FORMAT "raw", key/klen are any bytes (key may be NULL if klen is
 * 0). With "json", they are UTF-8 JSON text, turned into the canonical key form
 * (docs/keys.md); invalid JSON gives BC_EINVAL with the byte offset in the message.
 * Raw and JSON keys never name the same entry. */

/* Stores val/vlen under key, atomically on disk (or pending, with BC_OPT_DEFERRED).
 * With the "json" and "msgpack" backends, val must be one complete JSON text / MessagePack
 * object, else BC_EINVAL; "raw" and "pickle" (Python pickles, written by the Python
 * binding; opaque to the library) take any bytes. Errors: BC_EINVAL, BC_EIO (the previous value
 * stays readable), BC_ENOMEM. */
BC_API int bc_set(bc_bucket* b, const void* key, size_t klen, const void* val, size_t vlen);

/* Reads the value of key into *out (free with bc_buf_dispose; an empty value has size 0
 * and may have data NULL). On error *out is {NULL, 0}. Errors: BC_ENOTFOUND (absent,
 * expired — the file is deleted — or another backend's/format's entry), BC_ECORRUPT (the
 * entry failed its checksums; it is a miss), BC_EINVAL, BC_EIO (e.g. permission denied:
 * not a miss), BC_ENOMEM. */
BC_API int bc_get(bc_bucket* b, const void* key, size_t klen, bc_buf* out);

/* Deletes key's entry (memory and disk). Returns BC_OK if one was removed, BC_ENOTFOUND if
 * there was none; BC_EINVAL, BC_EIO. */
BC_API int bc_delete(bc_bucket* b, const void* key, size_t klen);

/* 1 if key has a usable entry (reads the entry's header only), 0 if not, or a negative
 * error code (BC_EINVAL, BC_EIO). */
BC_API int bc_contains(bc_bucket* b, const void* key, size_t klen);

/* Drops key from the memory layer; the file stays. With BC_OPT_DEFERRED, syncs all pending
 * writes first. BC_OK whether or not it was loaded; BC_EINVAL, BC_EIO (sync failed). */
BC_API int bc_unload_key(bc_bucket* b, const void* key, size_t klen);

/* Writes pending deferred writes (no-op without BC_OPT_DEFERRED). On failure (BC_EIO) the
 * entries not written stay pending and nothing on disk is lost. */
BC_API int bc_sync(bc_bucket* b);

/* Drops pending deferred writes without writing them; *dropped (may be NULL) receives
 * how many. No-op without BC_OPT_DEFERRED. Errors: BC_EINVAL. */
BC_API int bc_discard(bc_bucket* b, size_t* dropped);

/* Number of pending deferred writes into *out (0 without BC_OPT_DEFERRED).
 * Errors: BC_EINVAL. */
BC_API int bc_pending_count(bc_bucket* b, size_t* out);

/* Deletes this bucket's expired entries (its backend and key format) and stale temp and
 * lock files, reading headers only; one pruner at a time per directory. *out (may be NULL)
 * receives what was removed. Errors: BC_EINVAL, BC_EIO. */
BC_API int bc_prune_directory(bc_bucket* b, bc_prune_info* out);

/* Computes the value of a key. Set out->data/out->size to bytes that the callback keeps
 * owning (e.g. a static or a buffer in user; size 0 for an empty value); the library
 * copies them before bc_get_or_compute returns. Return 0 on success, non-zero to abort. A
 * return of 0 that leaves out->size unset is BC_EUSER too. */
typedef int (*bc_compute_fn)(void* user, const void* key, size_t klen, bc_buf* out);

/* Returns key's cached value in *out, or on a miss calls fn (on the calling thread; with
 * BC_OPT_STALE_TTL_US, for a refresh, also on a library thread) and stores and returns
 * its bytes. Concurrent callers of one key — threads and processes
 * sharing the directory — compute once; the others wait up to BC_OPT_LOCK_WAIT_MS, then
 * compute themselves. *hit (may be NULL) is set to 1 for a cached value, 0 if computed.
 * Errors: BC_EUSER (fn returned non-zero: nothing is cached), BC_EINVAL (NULL argument or
 * fn's bytes invalid for the backend), BC_EIO, BC_ENOMEM. */
BC_API int bc_get_or_compute(bc_bucket* b, const void* key, size_t klen, bc_compute_fn fn,
                             void* user, bc_buf* out, int* hit);

/* Flags of bc_get_or_compute_ex. */
#define BC_CALL_REFRESH 1    /* compute and overwrite, whatever is cached */
#define BC_CALL_SKIP_CACHE 2 /* compute; neither read nor write the cache */

/* bc_get_or_compute with per-call options: max_age_us > 0 makes an entry created longer
 * ago than that a miss (recomputed and overwritten; 0: no bound), flags 0,
 * BC_CALL_REFRESH or BC_CALL_SKIP_CACHE (not both). *expires_us (NULL ok) gets the
 * returned value's expiry (0: never; in the past for a value served stale, see
 * BC_OPT_STALE_TTL_US). Errors as bc_get_or_compute; BC_EINVAL for unknown flags, both
 * flags, or a negative max_age_us. */
BC_API int bc_get_or_compute_ex(bc_bucket* b, const void* key, size_t klen, bc_compute_fn fn,
                                void* user, int64_t max_age_us, int flags, bc_buf* out, int* hit,
                                int64_t* expires_us);

/* ---- Cache management (docs/cache-management.md) ---------------------------------- */

/* lifetime_us in the calls below: > 0 that lifetime, 0 never expires, < 0 the bucket's. An
 * entry given its own lifetime (>= 0) is honoured as recorded: the bucket's lifetime rule
 * (an entry of a longer lifetime is a miss) does not apply to it. With BC_OPT_DEFERRED these
 * calls (and bc_incr, bc_foreach) first write the pending deferred writes (BC_EIO if that
 * fails), then act on the store; bc_clear drops them instead. */

/* bc_set with the entry's own lifetime. Errors as bc_set. */
BC_API int bc_set_ex(bc_bucket* b, const void* key, size_t klen, const void* val, size_t vlen,
                     int64_t lifetime_us);

/* Stores val only if key has no usable entry (an expired, corrupt or foreign one is
 * replaced), atomically across processes and machines sharing the store: of concurrent
 * adds, exactly one succeeds. BC_EEXISTS if a usable entry exists (nothing changes);
 * errors as bc_set. */
BC_API int bc_add(bc_bucket* b, const void* key, size_t klen, const void* val, size_t vlen,
                  int64_t lifetime_us);

/* Gives key's usable entry a new expiry, now + lifetime_us (< 0: the bucket's lifetime;
 * 0: never); it is then an entry of its own lifetime. BC_ENOTFOUND if there is no usable
 * entry; BC_EINVAL, BC_EIO. */
BC_API int bc_touch(bc_bucket* b, const void* key, size_t klen, int64_t lifetime_us);

/* Adds delta to key's integer value (an absent or unusable entry starts at initial) and
 * stores the result in *out (NULL ok). The value is an integer in the bucket's backend:
 * "raw" ASCII decimal, "json" a JSON integer, "msgpack" an integer. Atomic against every
 * other bc_incr of the key in any process (it holds the key's lock; a concurrent bc_set
 * lands wholly before or after). The entry keeps its own lifetime if it had one, else gets
 * the bucket's from now. Errors: BC_EINVAL (not an integer, another backend, overflow: the
 * value is unchanged), BC_ETIMEOUT (the key's lock was held longer than
 * BC_OPT_LOCK_WAIT_MS), BC_EIO. */
BC_API int bc_incr(bc_bucket* b, const void* key, size_t klen, int64_t delta, int64_t initial,
                   int64_t* out);

/* bc_get, where max_age_us > 0 makes an entry created longer ago than that a miss
 * (BC_ENOTFOUND; the entry is not deleted). *expires_us (NULL ok) gets the expiry (0:
 * never). Errors as bc_get. */
BC_API int bc_get_ex(bc_bucket* b, const void* key, size_t klen, int64_t max_age_us, bc_buf* out,
                     int64_t* expires_us);

/* Removes key's usable entry and returns its value in *out (free with bc_buf_dispose):
 * get-and-delete, atomic across processes sharing the store (of concurrent pops of one
 * entry, exactly one gets it). With BC_OPT_DEFERRED, pending writes are written first.
 * Errors: BC_ENOTFOUND (no usable entry), BC_EINVAL, BC_EIO, BC_ENOMEM. */
BC_API int bc_pop(bc_bucket* b, const void* key, size_t klen, bc_buf* out);

/* Removes every entry of this bucket (its backend and key format) from the store, and
 * empties its memory layer; other backends' and key formats' entries stay. *removed (NULL
 * ok) gets how many. Errors: BC_EINVAL, BC_EIO. */
BC_API int bc_clear(bc_bucket* b, uint64_t* removed);

/* One usable entry: key bytes as stored (canonical JSON or raw; klen 0 when the entry
 * omits its key, see BC_OPT_STORE_KEYS), value size in bytes, times in microseconds since
 * the epoch (expires 0: never). Return 0 to go on, non-zero to stop. */
typedef int (*bc_entry_fn)(void* user, const void* key, size_t klen, uint64_t size,
                           int64_t created_us, int64_t expires_us);

/* Calls fn for every usable entry of this bucket in its store (not expired, not of a
 * longer lifetime than the bucket's, this backend and key format), in no particular order,
 * on the calling thread. Reads headers only and deletes nothing. Errors: BC_EUSER (fn
 * returned non-zero: stopped), BC_EINVAL, BC_EIO. */
BC_API int bc_foreach(bc_bucket* b, bc_entry_fn fn, void* user);

/* One statistic of the bucket (BC_STAT_*) in *out. HITS..EXPIRED are totals of every
 * process using the bucket: each process persists its counts (in the store, under a lock)
 * at most once a second from its operations and at close; this call persists the calling
 * process's counts first. ENTRIES and BYTES scan the store now. Errors: BC_EINVAL (b or out
 * NULL, unknown which), BC_EIO. See docs/cache-management.md, "Statistics". */
BC_API int bc_stat(bc_bucket* b, int which, uint64_t* out);

/* Zeroes the bucket's persisted counters (HITS..EXPIRED, for every process) and the calling
 * process's unsaved counts. Counts other processes have not saved yet are added later.
 * Errors: BC_EINVAL (b NULL), BC_EIO. */
BC_API int bc_stat_reset(bc_bucket* b);

/* bc_get_ex without expires_us, for callers that keep a reusable buffer (the Python
 * binding: one foreign call per get). When the value fits in cap bytes it is copied to
 * dst[0..out->size) and out->data is NULL; a larger value is handed out in *out as bc_get
 * does (out->data from the library, free with bc_buf_dispose). Either way out->size is the
 * value's size and bc_buf_dispose(out) is safe. max_age_us > 0: an entry created longer ago
 * is a miss (not deleted). dst may be NULL only when cap is 0. On error *out is {NULL, 0}
 * and dst is unchanged. Errors as bc_get_ex. */
BC_API int bc_get_into_buffer(bc_bucket* b, const void* key, size_t klen, int64_t max_age_us,
                              void* dst, size_t cap, bc_buf* out);

/* Frees data the library returned in buf and sets it to {NULL, 0}. NULL is a no-op. */
BC_API void bc_buf_dispose(bc_buf* buf);

/* ---- Errors, versions, keys, logging ----------------------------------------------- */

/* A static, never-NULL description of a result code ("not found", ...), for any int. */
BC_API const char* bc_strerror(int code);

/* Detail of the last failure on the calling thread (never NULL; "" if none yet). Valid
 * until the next bucketcache call on this thread. */
BC_API const char* bc_last_error_message(void);

/* The loaded library's version, "MAJOR.MINOR.PATCH" (may differ from BC_VERSION_STRING,
 * the headers' version). Static, never NULL. */
BC_API const char* bc_version_string(void);

/* The loaded library's version as MAJOR*10000 + MINOR*100 + PATCH. */
BC_API unsigned bc_version_number(void);

/* The loaded library's entry format version (BC_FORMAT_VERSION of the library). */
BC_API unsigned bc_format_version(void);

/* Canonical key form of JSON text json/len into *out (not NUL-terminated; free with
 * bc_buf_dispose). Errors: BC_EINVAL (invalid JSON key: message has the byte offset). */
BC_API int bc_canonical_key(bc_buf* out, const void* json, size_t len);

/* Expiry of key's entry in microseconds since the epoch (0: never) into *expires_us.
 * Errors as bc_get. */
BC_API int bc_get_expiry(bc_bucket* b, const void* key, size_t klen, int64_t* expires_us);

/* Log levels for bc_set_log_level and the log callback. */
#define BC_LOG_TRACE 0
#define BC_LOG_DEBUG 1
#define BC_LOG_INFO 2
#define BC_LOG_WARN 3
#define BC_LOG_ERROR 4
#define BC_LOG_CRITICAL 5
#define BC_LOG_OFF 6

/* Receives one log line (message/len, not NUL-terminated) at level. May be called from
 * any thread, several at once. A call's lines are delivered on its thread just before it
 * returns, with no library lock held: fn may call the library (docs/logging.md); lines of
 * fn's own calls are dropped. */
typedef void (*bc_log_fn)(void* user, int level, const char* message, size_t len);

/* Sets the global log level (default BC_LOG_OFF, or the BUCKETCACHE_LOG environment
 * variable). Errors: BC_EINVAL (unknown level). */
BC_API int bc_set_log_level(int level);

/* Sends log lines to fn(user, ...) instead of stderr; fn NULL restores stderr. */
BC_API int bc_set_log_callback(bc_log_fn fn, void* user);

/* 1: log whole key digests; 0 (default): abbreviated. */
BC_API int bc_set_log_full_keys(int on);

#ifdef __cplusplus
}
#endif

#endif /* BUCKETCACHE_BUCKETCACHE_H */
