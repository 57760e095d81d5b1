// The byte-level core: one bucket directory of entries, a bounded memory layer and pruning.
//
// Store knows nothing of user types. Keys arrive as digests (see digest.hpp), values as
// bytes. The typed front (bucket.hpp) and the C API (bucketcache.h) are built on it.
// A Store may be used from many threads at once; many processes may share a directory.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bucketcache/digest.hpp"
#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// std::chrono has no days/weeks before C++20; these convert implicitly to microseconds.
using days = std::chrono::duration<std::int64_t, std::ratio<86400>>;
using weeks = std::chrono::duration<std::int64_t, std::ratio<604800>>;

// Result of prune_directory(): bytes and files removed (BucketCache's PrunedFilesInfo).
struct PrunedFilesInfo {
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};

// Which entries a size-limited bucket evicts first (Options::eviction, BC_OPT_EVICTION).
enum class Eviction : int {
  lrs = 0,  // least recently stored: the oldest creation time first
  lru = 1,  // least recently used, approximately (docs/cache-management.md, "Size limit")
};

struct Options {
  // How long an entry lives after it is set. Zero means forever; negative is rejected; an
  // expiry past the largest representable time saturates there. Any std::chrono duration
  // (hours, minutes, bucketcache::days...) converts to this. Entries whose recorded
  // lifetime is longer (other programs' entries, or written before the lifetime was
  // shortened) are misses for this bucket but are never deleted by it.
  std::chrono::microseconds lifetime{0};

  // Memory layer bound in bytes of cached values (LRU). 0 disables the memory layer.
  std::size_t memory_limit_bytes = std::size_t{64} << 20;
  // fsync each written file and its directory before set() returns (durable, slower).
  bool fsync = false;
  // On every memory hit, stat() the entry file and reload if another process replaced or
  // removed it. Off: other processes' writes become visible after unload or eviction.
  bool check_file = false;
  // Keep each key's bytes in its entry (format v2), so listings show keys. Off for secret
  // keys: entries then record only the key's digest. Keys longer than 64 KiB are never
  // kept (a streaming keymaker's keys may be any size).
  bool store_keys = true;
  // Mode for directories the store creates (bucket, parents, shards) and for entry files.
  unsigned directory_mode = 0700;
  unsigned file_mode = 0600;
  // get_or_compute(): how long a caller waits for another thread or process computing the
  // same key before it computes the value itself. Negative is rejected; huge values
  // saturate (about a century).
  std::chrono::milliseconds lock_wait{60000};
  // Soft bound on the bytes of this bucket's entries in its store (entry files: header, key
  // and value), across every process sharing it; 0 (the default) means none: data is never
  // dropped silently. Exceeding it evicts (docs/cache-management.md, "Size limit"). The
  // file store only; a Redis store rejects it (InvalidArgument).
  std::uint64_t size_limit_bytes = 0;
  Eviction eviction = Eviction::lrs;
  // Stale-while-revalidate (docs/memoize.md): get_or_compute() calls given a background
  // compute (ComputeCall::background) return an entry expired less than this long ago at
  // once while one caller - across threads and processes - recomputes it on a library
  // thread. Within the window reads do not delete the expired entry (prune_directory()
  // still may). Zero (default) turns it off; negative is rejected.
  std::chrono::microseconds stale_ttl{0};
  // Reads miss, writes store nothing, computes always run (also set for every bucket by
  // the environment variable BUCKETCACHE_DISABLE=1 when the store is opened).
  bool disabled = false;
  // get_or_compute(): a computed value longer than this many bytes is returned but not
  // stored (logged at info). 0 (default): no limit.
  std::size_t entry_size_limit_bytes = 0;
};

// How Options cross into the library: as (key, value) pairs, so that adding an option
// changes no exported signature and no struct the library reads (the zstd way). Keys are
// the C API's BC_OPT_* numbers; a key the library does not know is InvalidArgument, a key
// left out keeps its default.
enum class OptionKey : int {
  lifetime_us = 1,         // BC_OPT_LIFETIME_US
  memory_limit_bytes = 4,  // BC_OPT_MEMORY_LIMIT_BYTES
  fsync = 6,               // BC_OPT_FSYNC
  check_file = 7,          // BC_OPT_CHECK_FILE
  lock_wait_ms = 8,        // BC_OPT_LOCK_WAIT_MS
  directory_mode = 9,      // BC_OPT_DIRECTORY_MODE
  file_mode = 10,          // BC_OPT_FILE_MODE
  size_limit_bytes = 14,   // BC_OPT_SIZE_LIMIT_BYTES
  eviction = 15,           // BC_OPT_EVICTION (an Eviction value)
  store_keys = 18,         // BC_OPT_STORE_KEYS

  // Memoization (docs/memoize.md).
  stale_ttl_us = 16,            // BC_OPT_STALE_TTL_US
  disabled = 17,                // BC_OPT_DISABLED
  entry_size_limit_bytes = 19,  // BC_OPT_ENTRY_SIZE_LIMIT_BYTES
};
struct OptionValue {
  OptionKey key;
  std::int64_t value;
};
// Options as pairs (inline: compiled into the caller, whatever its Options holds).
inline std::vector<OptionValue> option_values(const Options& o) {
  auto sat = [](std::uint64_t v) {
    return v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(v);
  };
  return {{OptionKey::lifetime_us, o.lifetime.count()},
          {OptionKey::memory_limit_bytes, sat(o.memory_limit_bytes)},
          {OptionKey::fsync, o.fsync ? 1 : 0},
          {OptionKey::check_file, o.check_file ? 1 : 0},
          {OptionKey::lock_wait_ms, static_cast<std::int64_t>(o.lock_wait.count())},
          {OptionKey::directory_mode, static_cast<std::int64_t>(o.directory_mode)},
          {OptionKey::file_mode, static_cast<std::int64_t>(o.file_mode)},
          {OptionKey::store_keys, o.store_keys ? 1 : 0},
          {OptionKey::size_limit_bytes, sat(o.size_limit_bytes)},
          {OptionKey::eviction, static_cast<std::int64_t>(o.eviction)},
          {OptionKey::stale_ttl_us, o.stale_ttl.count()},
          {OptionKey::disabled, o.disabled ? 1 : 0},
          {OptionKey::entry_size_limit_bytes, sat(o.entry_size_limit_bytes)}};
}

// Where a bucket lives when it is not a local directory: a Redis server or a Redis Cluster
// (docs/redis.md). The bucket's name then names a key namespace on the server.
struct RemoteStore {
  // "redis://[user:password@]host:port[/db]" or "redis-cluster://host:port[,host:port...]"
  std::string url;
  // Connect and each command, 1 ms to 1 day (BC_OPT_TIMEOUT_MS).
  std::chrono::milliseconds timeout{2000};
  // A local file store in front of the server ("": none; BC_OPT_NEAR_CACHE_DIR).
  std::string near_cache_dir;
  // How long a near-cache copy is served before the server is asked again, 1 ms to 1 day
  // (BC_OPT_NEAR_CACHE_TTL_MS).
  std::chrono::milliseconds near_cache_ttl{5000};
};

// RemoteStore as it crosses the ABI: (key, text) pairs, keys the C API's BC_OPT_* numbers.
struct TextOptionValue {
  int key;
  std::string value;
};
inline std::vector<TextOptionValue> remote_values(const RemoteStore& r) {
  return {{11, r.url},                                      // BC_OPT_STORE
          {12, r.near_cache_dir},                           // BC_OPT_NEAR_CACHE_DIR
          {13, std::to_string(r.timeout.count())},          // BC_OPT_TIMEOUT_MS
          {20, std::to_string(r.near_cache_ttl.count())}};  // BC_OPT_NEAR_CACHE_TTL_MS
}

// A bucket's statistics (Store::stats, bc_stat). hits..expired are totals of every process
// using the bucket, as persisted by each at least once a second while it works and at
// close, plus this process's own counts not yet persisted; entries and bytes are the
// store's now (every entry of this bucket, expired ones not yet removed included).
struct Stats {
  std::uint64_t hits = 0;       // reads and get_or_compute calls that found a value
  std::uint64_t misses = 0;     // those that did not
  std::uint64_t writes = 0;     // entries stored
  std::uint64_t evictions = 0;  // entries removed by the size limit
  std::uint64_t expired = 0;    // entries found past their expiry and removed
  std::uint64_t entries = 0;
  std::uint64_t bytes = 0;  // entry sizes in the store (header, key and value)
};

// Per-call options of get_or_compute() (bc_get_or_compute_ex's max_age_us and flags).
struct ComputeCall {
  // > 0: an entry created longer ago than this is recomputed (and overwritten).
  std::int64_t max_age_us = 0;
  // Compute and overwrite, whatever is stored.
  bool refresh = false;
  // Compute only: the cache is neither read nor written.
  bool skip_cache = false;
  // With Options::stale_ttl: a self-contained copy of the compute (it must not refer to
  // the caller's stack) that a library thread may call after get_or_compute() returned,
  // to refresh an entry served stale. It must be thread-safe. Empty: a stale entry is
  // recomputed on the calling thread, as without stale_ttl.
  std::function<std::string()> background;
};

// A value read from the store, with its times (microseconds since the Unix epoch).
struct Entry {
  // Never null in a returned Entry. The library allocates every value as a non-const
  // std::string, so the holder of the only reference (use_count() == 1: e.g. a value read
  // from the store with the memory layer off) may move the bytes out (Bucket::get does).
  std::shared_ptr<const std::string> value;
  std::int64_t created_us = 0;
  std::int64_t expires_us = 0;  // 0: never expires
};

// The lifetime argument of Store::set_ex, add and touch (and their typed and C forms):
// > 0 that lifetime in microseconds, 0 never expires, < 0 (kBucketLifetime) the bucket's.
// An entry given its own lifetime (>= 0) records so in its header, and the lifetime rule
// (ReadStatus::longer_lifetime) does not apply to it: it lives as long as it was told.
inline constexpr std::int64_t kBucketLifetime = -1;

// One usable entry of a bucket, as Store::for_each reports it.
struct EntryInfo {
  std::string_view key_bytes;  // the key as stored (canonical JSON or raw); empty if omitted
  Digest digest;
  std::uint64_t size = 0;  // value bytes
  std::int64_t created_us = 0;
  std::int64_t expires_us = 0;  // 0: never
};

// Whether an entry created at created_us is older than max_age_us (> 0) at now_us; a
// max_age_us <= 0 means no bound.
inline bool older_than(std::int64_t created_us, std::int64_t max_age_us, std::int64_t now_us) {
  // now - max_age cannot overflow (now is positive); now - created could, for a forged time.
  return max_age_us > 0 && created_us < now_us - max_age_us;
}

// Why a read found nothing.
enum class ReadStatus {
  found,
  absent,   // no entry file (or removed from memory and disk)
  expired,  // past its own recorded expiry; the file was deleted
  corrupt,  // bad magic, checksum or length; replaced by the next set or get_or_compute,
            // removed by prune_directory() when its header is damaged or its length wrong
  foreign,  // another backend's or keymaker's entry, an unknown format version, or not a
            // regular file (a FIFO, a symlink...)
  // Recorded lifetime (expires - created, or never) longer than this bucket's lifetime:
  // a miss for this bucket, but not deleted, since another program sharing the directory
  // may have written it with its own lifetime (a deliberate difference from BucketCache).
  longer_lifetime,
};

class BUCKETCACHE_API Store {
 public:
  // Opens (creating with parents, mode options.directory_mode) the bucket directory.
  // backend_id and keymaker_id (1..15 printable ASCII characters) are recorded in every
  // entry and hashed into its name. Throws InvalidArgument (bad ids, negative lifetime)
  // or IoError (the directory cannot be created or is not a directory).
  Store(std::string path, std::string backend_id, std::string keymaker_id,
        const Options& options = {})
      : Store(std::move(path), std::move(backend_id), std::move(keymaker_id),
              option_values(options)) {}
  // The same with options as pairs (what crosses the ABI).
  Store(std::string path, std::string backend_id, std::string keymaker_id,
        const std::vector<OptionValue>& options);
  // Opens bucket `name` (not empty, no control characters) on a remote store
  // (docs/redis.md); everything else as above. Throws InvalidArgument (bad URL, name or
  // options; size_limit_bytes is refused: bound the server's memory with its maxmemory) or
  // IoError (the server cannot be reached or refuses the credentials).
  Store(const RemoteStore& where, std::string name, std::string backend_id, std::string keymaker_id,
        const Options& options = {})
      : Store(remote_values(where), std::move(name), std::move(backend_id), std::move(keymaker_id),
              option_values(options)) {}
  // The same with the location and options as pairs (what crosses the ABI).
  Store(const std::vector<TextOptionValue>& where, std::string name, std::string backend_id,
        std::string keymaker_id, const std::vector<OptionValue>& options);
  ~Store();
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;

  // Writes the entry atomically (temp file + rename), expiring at now + lifetime, and puts
  // the value in the memory layer. Throws IoError; on failure the previous entry is intact.
  // The entry keeps key.bytes when given (Options::store_keys permitting).
  void set(const KeyRef& key, std::string_view value);

  // Memory layer first, then the file; fills out when it returns ReadStatus::found. Throws
  // IoError for errors other than "absent".
  ReadStatus get(const Digest& key, Entry& out);
  // Like get(), with the value's bytes written into `value` (out.value may then be null):
  // value is resized to the value's length, reusing its capacity, and with the memory layer
  // off the bytes are read from the file straight into it. Only the growth of a resize is
  // zero-filled, so a string reused across gets of similar values is not cleared first (a
  // new std::string, as get() returns, always is). Unless found, value's contents are
  // unspecified.
  ReadStatus get(const Digest& key, Entry& out, std::string& value);

  // Like set(), with explicit times (microseconds since the epoch; expires 0 = never).
  // Used to land deferred writes with the expiry they were given when set.
  void set_entry(const KeyRef& key, std::string_view value, std::int64_t created_us,
                 std::int64_t expires_us);

  // Single-flight read-through: returns the entry for key, or on a miss calls compute(),
  // stores its bytes and returns them. Concurrent callers of one key - threads of this
  // process and other processes sharing the directory - compute once: the others wait (up
  // to options().lock_wait, then compute themselves) and read the stored entry. The wait
  // uses a lock file <shard>/<digest>.lock held with flock(), which the kernel releases if
  // the holder dies. An exception from compute() propagates and nothing is stored. A
  // compute() that calls get_or_compute() for its own key on the same thread gets
  // InvalidArgument at once (it would otherwise wait for itself).
  // *hit (optional) tells whether the value came from the cache.
  Entry get_or_compute(const KeyRef& key, const std::function<std::string()>& compute,
                       bool* hit = nullptr);
  // The same with per-call options (see ComputeCall). Served stale (within
  // Options::stale_ttl after expiry, call.background given), *hit is true and the entry's
  // expires_us is in the past. A value longer than Options::entry_size_limit_bytes is
  // returned but not stored. With Options::disabled, compute() always runs and nothing is
  // stored.
  Entry get_or_compute(const KeyRef& key, const std::function<std::string()>& compute,
                       const ComputeCall& call, bool* hit = nullptr);

  // Like set(), with the entry's own lifetime (kBucketLifetime: the bucket's).
  void set_ex(const KeyRef& key, std::string_view value, std::int64_t lifetime_us);

  // Stores the value only if the key has no usable entry, atomically against other
  // processes and machines sharing the store (exactly one of concurrent adds succeeds).
  // An entry that is not usable here (expired, corrupt, foreign, of a longer lifetime) is
  // replaced. Returns false, changing nothing, if a usable entry exists.
  bool add(const KeyRef& key, std::string_view value, std::int64_t lifetime_us = kBucketLifetime);

  // Gives the key's usable entry a new expiry: now + lifetime_us (0: never; kBucketLifetime:
  // the bucket's lifetime from now). The entry is then one of explicit lifetime (the
  // lifetime rule no longer applies to it). Returns false if there is no usable entry.
  bool touch(const Digest& key, std::int64_t lifetime_us = kBucketLifetime);

  // Atomic read-modify-write of one key, against every other update() of the key in any
  // process sharing the store (it holds the key's single-flight lock; plain set() does not
  // take it, so a concurrent set lands wholly before or after). f gets the usable entry or
  // null and returns the new value (an exception from f propagates; nothing is written).
  // The new entry expires as the old one did if it had its own lifetime, else after the
  // bucket's lifetime from now. Throws Error(timeout) if the lock is not had within
  // Options::lock_wait, InvalidArgument if called from a compute of the same key.
  Entry update(const KeyRef& key, const std::function<std::string(const Entry* current)>& f);

  // Removes the key's usable entry and returns it (false: none). Of concurrent pops of one
  // entry, in any processes, exactly one gets it.
  bool pop(const Digest& key, Entry& out);

  // Removes every entry of this bucket (its backend and keymaker ids) from the store, usable
  // or not, and empties the memory layer; other buckets' entries stay. Returns how many.
  std::uint64_t clear();

  // Calls fn for every usable entry of this bucket in the store (not expired, not of a
  // longer lifetime, this backend and keymaker), in no particular order, until fn returns
  // false. Reads headers and keys only; deletes nothing. Returns false if fn stopped it.
  bool for_each(const std::function<bool(const EntryInfo&)>& fn);

  // How many usable entries for_each() would report.
  std::uint64_t count();

  // Statistics (see Stats); persists this process's pending counts first. With
  // scan_store false, entries and bytes are left 0 (no scan of the store). Throws IoError.
  Stats stats(bool scan_store = true);
  // Zeroes the persisted counters of the bucket (every process's) and this process's
  // pending counts.
  void reset_stats();

  // Whether get() would find the key (header only). Deletes an entry past its expiry, as
  // get() does.
  bool contains(const Digest& key);
  // Removes the entry from disk, then from memory. Returns whether a file was removed.
  bool erase(const Digest& key);
  // Drops the key from the memory layer only; the file stays. Returns whether it was loaded.
  bool unload_key(const Digest& key);
  // Empties the memory layer.
  void unload_all();

  // Deletes this bucket's entries past their own expiry (its backend and keymaker only),
  // entries whose header is damaged or whose length disagrees with it, stale temp and lock
  // files, and empty shard directories, reading only headers. Entries of a longer lifetime
  // than this bucket's stay (see ReadStatus::longer_lifetime). One pruner at a time per
  // directory (others wait).
  PrunedFilesInfo prune_directory();

  // Key digest for this store's backend and keymaker.
  Digest digest(std::string_view key_bytes) const;
  // A hasher preloaded with this store's ids, for streaming keys.
  std::unique_ptr<KeyHasher> hasher() const;

  const std::string& path() const;
  const std::string& backend_id() const;
  const std::string& keymaker_id() const;
  // The options in force (built from option(), inline, so it never depends on the
  // library's idea of the Options struct).
  Options options() const {
    Options o;
    o.lifetime = std::chrono::microseconds(option(OptionKey::lifetime_us));
    o.memory_limit_bytes = static_cast<std::size_t>(option(OptionKey::memory_limit_bytes));
    o.fsync = option(OptionKey::fsync) != 0;
    o.check_file = option(OptionKey::check_file) != 0;
    o.lock_wait = std::chrono::milliseconds(option(OptionKey::lock_wait_ms));
    o.directory_mode = static_cast<unsigned>(option(OptionKey::directory_mode));
    o.file_mode = static_cast<unsigned>(option(OptionKey::file_mode));
    o.store_keys = option(OptionKey::store_keys) != 0;
    o.size_limit_bytes = static_cast<std::uint64_t>(option(OptionKey::size_limit_bytes));
    o.eviction = static_cast<Eviction>(option(OptionKey::eviction));
    o.stale_ttl = std::chrono::microseconds(option(OptionKey::stale_ttl_us));
    o.disabled = option(OptionKey::disabled) != 0;
    o.entry_size_limit_bytes = static_cast<std::size_t>(option(OptionKey::entry_size_limit_bytes));
    return o;
  }
  // One option's value; InvalidArgument for a key the library does not know.
  std::int64_t option(OptionKey key) const;
  // Path of the entry file a key maps to (whether or not it exists).
  std::string entry_path(const Digest& key) const;
  // Bytes currently held by the memory layer.
  std::size_t memory_bytes() const;

  // Logs (at warning level) a value the typed front could not deserialize.
  void log_unreadable_value(const Digest& key, const char* what) const noexcept;

 private:
  struct Impl;  // the cache policy (src/cache/)
  explicit Store(std::unique_ptr<Impl> impl);
  friend struct StoreAccess;  // builds a Store over another storage (src/cache/, tests)
  std::unique_ptr<Impl> impl_;
};

BUCKETCACHE_NAMESPACE_END
