#include "bucketcache/deferred_writes.hpp"

#include <map>
#include <mutex>

#include "bucketcache/error.hpp"
#include "file_store.hpp"
#include "log_internal.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {

struct DigestLess {
  bool operator()(const Digest& a, const Digest& b) const { return a.bytes < b.bytes; }
};

struct Pending {
  std::shared_ptr<const std::string> value;
  std::int64_t created_us;
  std::int64_t expires_us;
};

}  // namespace

struct DeferredWrites::Impl {
  explicit Impl(Store& s) : target(s) {}
  Store& target;
  mutable std::mutex mu;
  std::map<Digest, Pending, DigestLess> pending;  // ordered: sync writes shard by shard
  std::size_t bytes = 0;
  std::mutex sync_mu;  // one sync at a time

  bool find(const Digest& key, Entry& out) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(key);
    if (it == pending.end()) return false;
    if (is_expired(it->second.expires_us, now_us(), target.options().lifetime.count())) {
      return false;
    }
    out.value = it->second.value;
    out.created_us = it->second.created_us;
    out.expires_us = it->second.expires_us;
    return true;
  }

  void put(const Digest& key, std::shared_ptr<const std::string> value, std::int64_t created,
           std::int64_t expires) {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(key);
    if (it != pending.end()) {
      bytes -= it->second.value->size();
      pending.erase(it);
    }
    bytes += value->size();
    pending.emplace(key, Pending{std::move(value), created, expires});
  }
};

DeferredWrites::DeferredWrites(Store& target) : impl_(std::make_unique<Impl>(target)) {}

DeferredWrites::~DeferredWrites() {
  try {
    sync();
  } catch (const std::exception& e) {
    const std::size_t lost = pending_count();
    BC_LOG(LogLevel::error, "deferred writes to {} lost: {} entries not written: {}",
           impl_->target.path(), lost, e.what());
  } catch (...) {
    BC_LOG(LogLevel::error, "deferred writes to {} lost: {} entries not written",
           impl_->target.path(), pending_count());
  }
}

void DeferredWrites::set(const Digest& key, std::string_view value) {
  const std::int64_t created = now_us();
  const std::int64_t lifetime = impl_->target.options().lifetime.count();
  impl_->put(key, std::make_shared<const std::string>(value), created,
             lifetime > 0 ? created + lifetime : 0);
}

ReadStatus DeferredWrites::read(const Digest& key, Entry& out) {
  if (impl_->find(key, out)) return ReadStatus::found;
  return impl_->target.read(key, out);
}

bool DeferredWrites::get(const Digest& key, Entry& out) {
  return read(key, out) == ReadStatus::found;
}

bool DeferredWrites::contains(const Digest& key) {
  Entry e;
  if (impl_->find(key, e)) return true;
  return impl_->target.contains(key);
}

bool DeferredWrites::erase(const Digest& key) {
  bool was_pending = false;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->pending.find(key);
    if (it != impl_->pending.end()) {
      impl_->bytes -= it->second.value->size();
      impl_->pending.erase(it);
      was_pending = true;
    }
  }
  return impl_->target.erase(key) || was_pending;
}

bool DeferredWrites::unload(const Digest& key) {
  sync();
  return impl_->target.unload(key);
}

Entry DeferredWrites::get_or_compute(const Digest& key,
                                     const std::function<std::string()>& compute, bool* hit) {
  Entry e;
  if (read(key, e) == ReadStatus::found) {
    if (hit != nullptr) *hit = true;
    return e;
  }
  auto value = std::make_shared<const std::string>(compute());
  const std::int64_t created = now_us();
  const std::int64_t lifetime = impl_->target.options().lifetime.count();
  const std::int64_t expires = lifetime > 0 ? created + lifetime : 0;
  impl_->put(key, value, created, expires);
  if (hit != nullptr) *hit = false;
  e.value = std::move(value);
  e.created_us = created;
  e.expires_us = expires;
  return e;
}

void DeferredWrites::sync() {
  std::lock_guard<std::mutex> sync_lock(impl_->sync_mu);
  for (;;) {
    Digest key;
    Pending p;
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      if (impl_->pending.empty()) break;
      key = impl_->pending.begin()->first;
      p = impl_->pending.begin()->second;
    }
    impl_->target.set_entry(key, *p.value, p.created_us, p.expires_us);  // may throw
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->pending.find(key);
    // Remove it unless another thread set a newer value meanwhile.
    if (it != impl_->pending.end() && it->second.value == p.value) {
      impl_->bytes -= it->second.value->size();
      impl_->pending.erase(it);
    }
  }
}

std::size_t DeferredWrites::discard() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  const std::size_t n = impl_->pending.size();
  impl_->pending.clear();
  impl_->bytes = 0;
  return n;
}

std::size_t DeferredWrites::pending_count() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->pending.size();
}

std::size_t DeferredWrites::pending_bytes() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->bytes;
}

Store& DeferredWrites::target() { return impl_->target; }

BUCKETCACHE_NAMESPACE_END
