// DeferredWrites: the byte-level deferred-write layer over a Store.
//
// Sets are held in memory until sync(); reads see them first. Used by
// DeferredWriteBucket, deferred_write() scopes and the C API's BC_OPT_DEFERRED.
// Thread-safe, like Store.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "bucketcache/export.hpp"
#include "bucketcache/store.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

class BUCKETCACHE_API DeferredWrites {
 public:
  // `target` must outlive this object.
  explicit DeferredWrites(Store& target);
  // Syncs pending writes. A failure cannot be thrown from here: it is logged at error
  // level, naming how many writes were lost. Call sync() first to handle errors.
  ~DeferredWrites();
  DeferredWrites(const DeferredWrites&) = delete;
  DeferredWrites& operator=(const DeferredWrites&) = delete;

  // Keeps the value in memory until sync(); its expiry is fixed now (now + lifetime).
  // With the target's Options::disabled, nothing is kept (as the store stores nothing).
  void set(const KeyRef& key, std::string_view value);
  // Pending value first, then the target store.
  ReadStatus get(const Digest& key, Entry& out);
  // Store::get(key, out, value): a pending value is copied into value.
  ReadStatus get(const Digest& key, Entry& out, std::string& value);
  bool contains(const Digest& key);
  // Drops a pending write of key and erases it from the target. Waits for a sync() in
  // progress, so the erased value cannot land afterwards.
  bool erase(const Digest& key);
  // Syncs (all pending writes) first, then unloads key from the target's memory layer,
  // as BucketCache's DeferredWriteBucket does. Throws what sync() throws.
  bool unload_key(const Digest& key);
  // Read-through like Store::get_or_compute, but the computed value becomes a pending
  // write. Threads of this process compute a key once (the others wait up to the target's
  // Options::lock_wait, then compute themselves); other processes cannot see pending
  // writes, so there is no cross-process single flight until sync(). An exception from
  // compute() propagates, nothing is stored, and one waiting thread computes instead.
  // Honours the target's options as Store::get_or_compute does: with Options::disabled
  // compute() always runs and nothing becomes pending; a value longer than
  // Options::entry_size_limit_bytes is returned, not kept pending (logged at info).
  Entry get_or_compute(const KeyRef& key, const std::function<std::string()>& compute,
                       bool* hit = nullptr);
  // With per-call options (Store::get_or_compute's ComputeCall): max age and refresh
  // compute on the calling thread (no single flight), skip cache computes only. With
  // Options::stale_ttl and call.background, an entry of the target store within the stale
  // window (and no pending value) is returned at once, a hit, and call.background refreshes
  // it on the store's refresh thread: the refreshed value goes into the store directly, as
  // another process's write would, not into the pending writes.
  Entry get_or_compute(const KeyRef& key, const std::function<std::string()>& compute,
                       const ComputeCall& call, bool* hit = nullptr);

  // Writes every pending entry to the target, each atomically, with the times it was
  // given when set. An entry that fails stays pending and the others are still written;
  // then the first error is thrown (IoError names how many failed; retry with sync()).
  // Nothing already on disk is lost: a failed write leaves the previous entry intact.
  void sync();
  // Forgets pending writes without writing them. Returns how many were dropped.
  std::size_t discard();

  std::size_t pending_count() const;
  // Bytes of pending values (unbounded until sync(): sync periodically in long batches).
  std::size_t pending_bytes() const;
  Store& target();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

BUCKETCACHE_NAMESPACE_END
