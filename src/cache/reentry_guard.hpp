// Detects a compute function that asks, on the same thread, for the key it is computing.
//
// Such a call would wait for its own single-flight lock until lock_wait runs out; instead
// it fails at once. A ReentryGuard marks (owner, key) as being computed on this thread for
// its lifetime; constructing a second one for the same pair throws InvalidArgument.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "bucketcache/digest.hpp"
#include "bucketcache/error.hpp"

namespace bucketcache {
inline namespace v1 {

class ReentryGuard {
 public:
  ReentryGuard(const void* owner, const Digest& key) : entry_(owner, key) {
    auto& active = computing();
    if (std::find(active.begin(), active.end(), entry_) != active.end()) {
      throw InvalidArgument(
          "get_or_compute or update (incr) called for the key it is computing or updating, "
          "from its own compute or update function (it would wait for itself): key " +
          key.hex());
    }
    active.push_back(entry_);
  }
  ~ReentryGuard() {
    auto& active = computing();
    auto it = std::find(active.begin(), active.end(), entry_);
    if (it != active.end()) active.erase(it);
  }
  ReentryGuard(const ReentryGuard&) = delete;
  ReentryGuard& operator=(const ReentryGuard&) = delete;

 private:
  using Entry = std::pair<const void*, Digest>;
  static std::vector<Entry>& computing() {
    thread_local std::vector<Entry> active;
    return active;
  }
  Entry entry_;
};

}  // namespace v1
}  // namespace bucketcache
