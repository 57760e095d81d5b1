#include "cache/operations.hpp"

#include <cstdlib>
#include <cstring>

#include "bucketcache/canonical.hpp"
#include "bucketcache/error.hpp"
#include "cache/store_access.hpp"
#include "storage/file/file_storage.hpp"
#include "storage/near_cache_storage.hpp"
#include "storage/redis/redis_router.hpp"
#include "storage/redis/redis_storage.hpp"
#include "storage/redis/redis_url.hpp"
#include "support/clock.hpp"
#include "support/log_internal.hpp"

namespace bucketcache {
inline namespace v1 {
namespace cache {

ReadStatus Operations::get_into(const Digest& key, Entry& out, storage::ValueSink& sink) {
  const ReadStatus status = get(key, out);
  if (status == ReadStatus::found) {
    char* into = sink.allocate(out.value->size());
    if (!out.value->empty()) std::memcpy(into, out.value->data(), out.value->size());
  }
  return status;
}

namespace {

class DirectOperations final : public Operations {
 public:
  explicit DirectOperations(Store& s) : s_(s) {}
  void set(const Key& key, std::string_view value) override { s_.set(key.ref(), value); }
  ReadStatus get(const Digest& key, Entry& out) override { return s_.get(key, out); }
  ReadStatus get_into(const Digest& key, Entry& out, storage::ValueSink& sink) override {
    return StoreAccess::get_into(s_, key, out, sink);
  }
  bool contains(const Digest& key) override { return s_.contains(key); }
  bool erase(const Digest& key) override { return s_.erase(key); }
  void unload_key(const Digest& key) override { s_.unload_key(key); }
  Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                       bool* hit) override {
    return s_.get_or_compute(key.ref(), compute, hit);
  }
  Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                       const ComputeCall& call, bool* hit) override {
    return s_.get_or_compute(key.ref(), compute, call, hit);
  }
  Store& write_through() override { return s_; }
  void sync() override {}
  std::size_t discard() override { return 0; }
  std::size_t pending_count() const override { return 0; }

 private:
  Store& s_;
};

class DeferredOperations final : public Operations {
 public:
  explicit DeferredOperations(DeferredWrites& d) : d_(d) {}
  // BC_OPT_DISABLED: nothing becomes pending, nothing is read.
  void set(const Key& key, std::string_view value) override {
    if (!disabled()) d_.set(key.ref(), value);
  }
  ReadStatus get(const Digest& key, Entry& out) override {
    return disabled() ? ReadStatus::absent : d_.get(key, out);
  }
  bool disabled() const { return d_.target().option(OptionKey::disabled) != 0; }
  bool contains(const Digest& key) override { return d_.contains(key); }
  bool erase(const Digest& key) override { return d_.erase(key); }
  void unload_key(const Digest& key) override { d_.unload_key(key); }
  Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                       bool* hit) override {
    return d_.get_or_compute(key.ref(), compute, hit);
  }
  // Disabled, skip cache, refresh, max age, the entry size limit and stale values as
  // DeferredWrites::get_or_compute: a refreshed stale value goes to the store at once.
  Entry get_or_compute(const Key& key, const std::function<std::string()>& compute,
                       const ComputeCall& call, bool* hit) override {
    return d_.get_or_compute(key.ref(), compute, call, hit);
  }
  Store& write_through() override {
    d_.sync();
    return d_.target();
  }
  void sync() override { d_.sync(); }
  std::size_t discard() override { return d_.discard(); }
  std::size_t pending_count() const override { return d_.pending_count(); }

 private:
  DeferredWrites& d_;
};

const char* key_format_id(KeyFormat f) { return f == KeyFormat::json ? "json" : "raw"; }

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

Store open_store(const std::string& path, const std::string& backend, KeyFormat key_format,
                 const Options& options, const StoreLocation& where) {
  check_store(where.store);
  const bool file = where.store.empty() || where.store == "file";
  if (file && !where.near_cache_dir.empty()) {
    throw InvalidArgument(
        "BC_OPT_NEAR_CACHE_DIR needs a remote store (BC_OPT_STORE redis:// or redis-cluster://)");
  }
  if (file) return Store(path, backend, key_format_id(key_format), options);
  return open_remote(where, path, backend, key_format_id(key_format), options);
}

}  // namespace

Store open_remote(const StoreLocation& where, std::string name, std::string backend_id,
                  std::string keymaker_id, const Options& options) {
  if (options.size_limit_bytes > 0) {
    throw InvalidArgument(
        "BC_OPT_SIZE_LIMIT_BYTES is not supported on a Redis store: bound the server's memory "
        "with its own maxmemory and maxmemory-policy instead (docs/cache-management.md)");
  }
  storage::RedisStorageOptions ro;
  ro.timeout = where.timeout;
  // A testing knob: a short lock TTL shows the lock refresh without 30-second computes.
  if (const char* ttl = std::getenv("BUCKETCACHE_REDIS_LOCK_TTL_MS")) {
    char* end = nullptr;
    const long ms = std::strtol(ttl, &end, 10);
    if (end == ttl || *end != '\0' || ms < 3 || ms > 86400000) {
      throw InvalidArgument(
          "BUCKETCACHE_REDIS_LOCK_TTL_MS must be a number of ms in [3, 86400000]");
    }
    ro.lock_ttl = std::chrono::milliseconds(ms);
  }
  std::unique_ptr<storage::Storage> remote =
      std::make_unique<storage::RedisStorage>(where.store, std::move(name), ro);
  if (!where.near_cache_dir.empty()) {
    storage::FileStorageOptions fo;
    fo.directory_mode = options.directory_mode;
    fo.file_mode = options.file_mode;
    fo.fsync = options.fsync;
    remote = std::make_unique<storage::NearCacheStorage>(
        std::move(remote), std::make_unique<storage::FileStorage>(where.near_cache_dir, fo),
        where.near_cache_max_age);
  }
  return StoreAccess::make(std::move(remote), std::move(backend_id), std::move(keymaker_id),
                           options);
}

void check_store(const std::string& store) {
  if (store.empty() || store == "file") return;
  if (starts_with(store, "redis://")) {
    storage::parse_redis_url(store);
    return;
  }
  if (starts_with(store, "redis-cluster://")) {
    storage::parse_cluster_url(store);
    return;
  }
  throw InvalidArgument(
      "unknown store: expected \"file\", a redis:// URL or a redis-cluster:// URL");
}

BucketHandle::BucketHandle(const std::string& path, const std::string& backend,
                           KeyFormat key_format, const Options& options, bool deferred,
                           const StoreLocation& location)
    : store_(open_store(path, backend, key_format, options, location)),
      key_format_(key_format),
      backend_(backend) {
  if (deferred) {
    deferred_ = std::make_unique<DeferredWrites>(store_);
    ops_ = std::make_unique<DeferredOperations>(*deferred_);
  } else {
    ops_ = std::make_unique<DirectOperations>(store_);
  }
}

BucketHandle::~BucketHandle() = default;

Key BucketHandle::key(std::string_view bytes) const {
  Key k;
  k.bytes = key_format_ == KeyFormat::json ? canonicalize_json(bytes) : std::string(bytes);
  k.digest = store_.digest(k.bytes);
  return k;
}

Digest BucketHandle::digest(std::string_view bytes) const {
  if (key_format_ == KeyFormat::json) return store_.digest(canonicalize_json(bytes));
  return store_.digest(bytes);
}

}  // namespace cache
}  // namespace v1
}  // namespace bucketcache
