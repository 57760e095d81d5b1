// The memory layer: a thread-safe LRU of entry values bounded by bytes.
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

namespace bucketcache {
inline namespace v1 {

// Identity of the file an entry was read from or written to (for Options::check_file).
struct FileIdentity {
  std::uint64_t dev = 0, ino = 0, size = 0;
  std::int64_t mtime_ns = 0;
  friend bool operator==(const FileIdentity& a, const FileIdentity& b) {
    return a.dev == b.dev && a.ino == b.ino && a.size == b.size && a.mtime_ns == b.mtime_ns;
  }
};

struct CachedValue {
  std::shared_ptr<const std::string> value;
  std::int64_t created_us = 0;
  std::int64_t expires_us = 0;
  FileIdentity file;
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

  bool lookup(const Digest& key, CachedValue& out) {
    if (!enabled()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    lru_.splice(lru_.begin(), lru_, it->second);
    out = it->second->value;
    return true;
  }

  // Inserts or replaces; evicts least recently used entries beyond the limit. A value
  // larger than the whole limit is not kept (and any older value for the key is dropped).
  void insert(const Digest& key, CachedValue value) {
    if (!enabled()) return;
    const std::size_t charge = value.value->size() + kOverhead;
    std::lock_guard<std::mutex> lock(mu_);
    erase_locked(key);
    if (charge > limit_) return;
    lru_.push_front(Node{key, std::move(value), charge});
    map_.emplace(key, lru_.begin());
    used_ += charge;
    while (used_ > limit_) {
      Node& last = lru_.back();
      used_ -= last.charge;
      map_.erase(last.key);
      lru_.pop_back();
    }
  }

  bool erase(const Digest& key) {
    if (!enabled()) return false;
    std::lock_guard<std::mutex> lock(mu_);
    return erase_locked(key);
  }

  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
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
};

}  // namespace v1
}  // namespace bucketcache
