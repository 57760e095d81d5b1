// Deferred writes: keep sets in memory until sync() (BucketCache's DeferredWriteBucket and
// deferred_write()). docs/deferred.md.
//
//   bucketcache::DeferredWriteBucket<bucketcache::JsonBackend> d("/tmp/cache");
//   d.set("a", 1);            // in memory only; d.get<int>("a") sees it
//   d.sync();                 // now on disk (throws on failure; nothing pending is lost)
//
//   bucketcache::Bucket<bucketcache::JsonBackend> b("/tmp/cache");
//   {
//     auto scope = bucketcache::deferred_write(b);
//     scope.set("a", 1);      // pending
//   }                         // written here; b.get<int>("a") == 1
#pragma once

#include <cstddef>
#include <string>
#include <utility>

#include "bucketcache/bucket.hpp"
#include "bucketcache/deferred_writes.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// A bucket whose sets stay in memory until sync(). Reads (get, try_get, contains,
// get_or_compute, memoized calls) see pending values first; other Bucket objects and other
// processes see them only after sync(). unload_key() syncs first. Destruction syncs; if
// that fails the loss is logged at error level (call sync() yourself to handle the error).
// Pending values use memory without bound until sync(): sync periodically in long batches.
// Thread-safe.
template <class Backend, class KeyMaker = DefaultKeyMaker>
class DeferredWriteBucket
    : public BucketOperations<DeferredWriteBucket<Backend, KeyMaker>, Backend, KeyMaker> {
 public:
  using Config = typename Backend::Config;

  explicit DeferredWriteBucket(std::string path, Options options = {}, Config config = {},
                               KeyMaker keymaker = {})
      : store_(std::move(path), std::string(Backend::id), std::string(KeyMaker::id), options),
        config_(std::move(config)),
        keymaker_(std::move(keymaker)),
        deferred_(store_) {}
  // Bucket `name` on a Redis server or cluster (docs/redis.md); sync() sends the pending
  // values as one pipeline per server.
  DeferredWriteBucket(const RemoteStore& where, std::string name, Options options = {},
                      Config config = {}, KeyMaker keymaker = {})
      : store_(where, std::move(name), std::string(Backend::id), std::string(KeyMaker::id),
               options),
        config_(std::move(config)),
        keymaker_(std::move(keymaker)),
        deferred_(store_) {}

  // Writes every pending value. Throws IoError on failure: values written so far are on
  // disk, the rest stay pending (call sync() again), nothing on disk is lost.
  void sync() { deferred_.sync(); }
  // Drops pending values without writing them; returns how many.
  std::size_t discard() { return deferred_.discard(); }
  std::size_t pending_count() const { return deferred_.pending_count(); }
  std::size_t pending_bytes() const { return deferred_.pending_bytes(); }

  PrunedFilesInfo prune_directory() { return store_.prune_directory(); }

  const Config& config() const { return config_; }
  const KeyMaker& keymaker() const { return keymaker_; }
  Store& store() { return store_; }
  const Store& store() const { return store_; }

 private:
  friend class BucketOperations<DeferredWriteBucket, Backend, KeyMaker>;
  DeferredWrites& storage() { return deferred_; }

  Store store_;  // declared first: destroyed after deferred_ has synced into it
  Config config_;
  KeyMaker keymaker_;
  DeferredWrites deferred_;
};

// The scope returned by deferred_write(bucket): the bucket's typed operations with sets
// held until the scope ends (or sync()). The original bucket sees the values afterwards
// (they land through its own store, memory layer included).
//
// When the scope ends by an exception, pending values are still written (each value is a
// valid cache entry on its own). To drop them instead, call discard() before the scope
// ends, e.g. in a handler inside it:
//   auto scope = bucketcache::deferred_write(bucket);
//   try { ...; } catch (...) { scope.discard(); throw; }
// The destructor cannot throw: a failed write at the end of the scope is logged at error
// level. Call sync() before the end of the scope to get the error as an exception.
// Reads through the scope see its pending values; reads through the bucket see them after
// the scope ends. Thread-safe; the bucket must outlive the scope.
template <class Backend, class KeyMaker>
class DeferredWriteScope
    : public BucketOperations<DeferredWriteScope<Backend, KeyMaker>, Backend, KeyMaker> {
 public:
  explicit DeferredWriteScope(Bucket<Backend, KeyMaker>& bucket)
      : bucket_(bucket), deferred_(bucket.store()) {}
  DeferredWriteScope(const DeferredWriteScope&) = delete;
  DeferredWriteScope& operator=(const DeferredWriteScope&) = delete;

  // As DeferredWriteBucket's.
  void sync() { deferred_.sync(); }
  std::size_t discard() { return deferred_.discard(); }
  std::size_t pending_count() const { return deferred_.pending_count(); }
  std::size_t pending_bytes() const { return deferred_.pending_bytes(); }
  Bucket<Backend, KeyMaker>& bucket() { return bucket_; }

  const typename Backend::Config& config() const { return bucket_.config(); }
  const KeyMaker& keymaker() const { return bucket_.keymaker(); }
  Store& store() { return bucket_.store(); }
  const Store& store() const { return bucket_.store(); }

 private:
  friend class BucketOperations<DeferredWriteScope, Backend, KeyMaker>;
  DeferredWrites& storage() { return deferred_; }

  Bucket<Backend, KeyMaker>& bucket_;
  DeferredWrites deferred_;
};

// Starts a deferred-write scope on bucket (BucketCache's `with deferred_write(bucket)`).
// The bucket must outlive the scope.
template <class Backend, class KeyMaker>
DeferredWriteScope<Backend, KeyMaker> deferred_write(Bucket<Backend, KeyMaker>& bucket) {
  return DeferredWriteScope<Backend, KeyMaker>(bucket);
}

BUCKETCACHE_NAMESPACE_END
