// The memory layer: a thread-safe LRU of entry values bounded by bytes, coherent with the
// store under it.
//
// Invariants: the layer never holds a value older than a completed set or erase of the same
// key in this process, nor older than a value any reader of this process already saw.
// Writers bracket the store write with begin_write()/end_write(); readers take a
// read_ticket() before reading the store and fill() with it afterwards. A fill lands only
// if no write or other fill of a key in the same stripe happened since the ticket was taken
// and no write was in progress then; otherwise it is dropped (the next read goes to the
// store).
// end_write() installs the writer's own value only if no other write of the stripe began
// meanwhile, else it drops the key, so that memory never disagrees with the store's final
// state. Writes by other processes are not seen by these versions: they become visible when
// the key is unloaded or evicted (or always, with Options::check_file).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "bucketcache/digest.hpp"
#include "storage/storage.hpp"

namespace bucketcache {
inline namespace v1 {

struct CachedValue {
  std::shared_ptr<const std::string> value;
  std::int64_t created_us = 0;
  std::int64_t expires_us = 0;
  storage::EntryVersion version;  // for Options::check_file
};

struct DigestHash {
  std::size_t operator()(const Digest& d) const noexcept {
    std::size_t h;
    std::memcpy(&h, d.bytes.data(), sizeof(h));  // already uniformly distributed
    return h;
  }
};

class MemoryCache {
 public:
  // Bytes charged per entry on top of its value, for the map and list nodes.
  static constexpr std::size_t kOverhead = 160;

  explicit MemoryCache(std::size_t limit_bytes) : limit_(limit_bytes) {}

  bool enabled() const { return limit_ > 0; }

  // 0 means "do not fill" (a write is in progress); versions start at 1.
  using Ticket = std::uint64_t;

  Ticket read_ticket(const Digest& key) {
    if (!enabled()) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    const Stripe& s = stripes_[stripe_of(key)];
    return s.writers > 0 ? 0 : s.version;
  }

  // Inserts a value read from the store, unless a write of its stripe began or another
  // fill was attempted since `ticket`, or the layer already holds an entry for the key
  // created no earlier. A held entry created before the value read is stale (another
  // process wrote since): it is replaced, or dropped when the fill itself may not land.
  // Every attempt advances the stripe's version, so a fill from a read that began earlier
  // can never land over (or after the unload or eviction of) what a later read saw: reads
  // of other processes' writes stay monotonic.
  void fill(const Digest& key, const CachedValue& value, Ticket ticket) {
    if (!enabled()) return;
    std::lock_guard<std::mutex> lock(mu_);
    Stripe& s = stripes_[stripe_of(key)];
    const bool may_land = ticket != 0 && s.writers == 0 && s.version == ticket;
    ++s.version;
    auto it = map_.find(key);
    if (it != map_.end()) {
      if (it->second->value.created_us >= value.created_us) return;
      if (!may_land) {
        erase_locked(key);
        return;
      }
    }
    if (may_land) insert_locked(key, value);
  }

  // Call before writing or removing the key in the store; pass the result to end_write().
  Ticket begin_write(const Digest& key) {
    if (!enabled()) return 0;
    std::lock_guard<std::mutex> lock(mu_);
    Stripe& s = stripes_[stripe_of(key)];
    ++s.writers;
    return ++s.version;
  }

  // Call after the store write (or removal) finished or failed. `value` is what the store
  // now holds for the key by this writer, or null (erase, failure).
  void end_write(const Digest& key, Ticket ticket, const CachedValue* value) {
    if (!enabled()) return;
    std::lock_guard<std::mutex> lock(mu_);
    Stripe& s = stripes_[stripe_of(key)];
    if (value != nullptr && s.version == ticket) {
      insert_locked(key, *value);
    } else {
      erase_locked(key);
    }
    --s.writers;
    ++s.version;
  }

  bool lookup(const Digest& key, CachedValue& out) {
    if (!enabled()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    lru_.splice(lru_.begin(), lru_, it->second);
    out = it->second->value;
    return true;
  }

  bool erase(const Digest& key) {
    if (!enabled()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    return erase_locked(key);
  }

  // Empties the layer; fills of reads that took their ticket before are dropped.
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    for (Stripe& s : stripes_) ++s.version;
    map_.clear();
    lru_.clear();
    used_ = 0;
  }

  std::size_t used_bytes() const {
    std::lock_guard<std::mutex> lock(mu_);
    return used_;
  }

 private:
  struct Node {
    Digest key;
    CachedValue value;
    std::size_t charge;
  };
  struct Stripe {
    std::uint64_t version = 1;
    std::uint32_t writers = 0;
  };
  static constexpr std::size_t kStripes = 256;
  static std::size_t stripe_of(const Digest& key) { return key.bytes[31]; }

  // Inserts or replaces; evicts least recently used entries beyond the limit. A value
  // larger than the whole limit is not kept (and any older value for the key is dropped).
  void insert_locked(const Digest& key, const CachedValue& value) {
    const std::size_t charge = value.value->size() + kOverhead;
    erase_locked(key);
    if (charge > limit_) return;
    lru_.push_front(Node{key, value, charge});
    map_.emplace(key, lru_.begin());
    used_ += charge;
    while (used_ > limit_) {
      Node& last = lru_.back();
      used_ -= last.charge;
      map_.erase(last.key);
      lru_.pop_back();
    }
  }

  bool erase_locked(const Digest& key) {
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    used_ -= it->second->charge;
    lru_.erase(it->second);
    map_.erase(it);
    return true;
  }

  const std::size_t limit_;
  mutable std::mutex mu_;
  std::list<Node> lru_;
  std::unordered_map<Digest, std::list<Node>::iterator, DigestHash> map_;
  std::size_t used_ = 0;
  Stripe stripes_[kStripes];
};

}  // namespace v1
}  // namespace bucketcache
