// One operation set for a bucket, direct or with deferred writes: what the C API (and so
// every binding) calls, so that no caller branches on the bucket's mode. Keys arrive as
// the caller's bytes and are turned into entry keys here (canonical JSON or raw).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "bucketcache/deferred_writes.hpp"
#include "bucketcache/store.hpp"
#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {
namespace cache {

// Key formats of the byte-level API.
enum class KeyFormat { raw, json };

// A key as given to the byte-level API, made ready for the store: the digest that names
// its entry and the bytes the entry keeps (the canonical form of a JSON key).
struct Key {
  Digest digest;
  std::string bytes;
  KeyRef ref() const { return KeyRef(digest, bytes); }
};

class Operations {
 public:
  virtual ~Operations() = default;
  virtual void set(const Key& key, std::string_view value) = 0;
  virtual ReadStatus get(const Digest& key, Entry& out) = 0;
  // get(), with the found value's bytes put in `sink` (out.value may be null). A direct
  // bucket without a memory layer reads a large value straight into the sink.
  virtual ReadStatus get_into(const Digest& key, Entry& out, storage::ValueSink& sink);
  virtual bool contains(const Digest& key) = 0;
  virtual bool erase(const Digest& key) = 0;
  virtual void unload_key(const Digest& key) = 0;
  virtual Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                               bool* hit) = 0;
  // With per-call options (Store::get_or_compute's ComputeCall). A deferred bucket honours
  // max age, refresh, skip cache, the entry size limit, BC_OPT_DISABLED and stale values
  // (a refresh goes to the store at once); its other computed values become pending writes.
  virtual Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                               const ComputeCall& call, bool* hit) = 0;
  // The store, for the operations that act on it directly (set_ex, add, touch, incr,
  // foreach: docs/cache-management.md). A deferred bucket syncs its pending writes first.
  virtual Store& write_through() = 0;
  // Deferred writes: write / drop the pending ones; no-ops (0) for a direct bucket.
  virtual void sync() = 0;
  virtual std::size_t discard() = 0;
  virtual std::size_t pending_count() const = 0;
};

// Where a bucket's entries live (BC_OPT_STORE, BC_OPT_NEAR_CACHE_DIR, BC_OPT_TIMEOUT_MS).
struct StoreLocation {
  std::string store = "file";  // "file" (the path is a directory) or a redis:// URL (the
                               // path names the bucket on the server)
  std::string near_cache_dir;  // remote stores: a local file store in front ("" = none)
  // How long a near-cache copy is served before the server is asked again.
  std::chrono::milliseconds near_cache_max_age{5000};
  std::chrono::milliseconds timeout{2000};  // remote stores: connect and each command
};

// Checks a BC_OPT_STORE value: throws InvalidArgument (bad URL or unknown store).
void check_store(const std::string& store);

// Opens bucket `name` on the remote store where.store (a redis:// or redis-cluster:// URL
// that check_store accepted), with a file near-cache in front when where.near_cache_dir is
// set. Throws InvalidArgument (a size limit: a Redis server bounds its memory itself, or a
// bad name) or IoError (unreachable, credentials refused).
Store open_remote(const StoreLocation& where, std::string name, std::string backend_id,
                  std::string keymaker_id, const Options& options);

// A bucket opened by path and options: its Store, its key format, and the operation set
// of its mode.
class BucketHandle {
 public:
  // Throws InvalidArgument (bad backend id, key format, options, store), IoError (the
  // directory cannot be made, the server cannot be reached or refuses AUTH) or
  // Error(unsupported).
  BucketHandle(const std::string& path, const std::string& backend, KeyFormat key_format,
               const Options& options, bool deferred, const StoreLocation& location = {});
  ~BucketHandle();  // a deferred bucket syncs (and logs a failure)

  // Turns the caller's key bytes into an entry key; throws InvalidArgument for JSON text
  // that is not a valid key.
  Key key(std::string_view bytes) const;
  // The digest alone (reads): no copy of a raw key.
  Digest digest(std::string_view bytes) const;
  Operations& ops() { return *ops_; }
  Store& store() { return store_; }
  const std::string& backend() const { return backend_; }

 private:
  Store store_;
  std::unique_ptr<DeferredWrites> deferred_;
  std::unique_ptr<Operations> ops_;
  KeyFormat key_format_;
  std::string backend_;
};

}  // namespace cache
}  // namespace v1
}  // namespace bucketcache
