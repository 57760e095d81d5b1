#include "bucketcache/deferred_writes.hpp"

#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "bucketcache/error.hpp"
#include "cache/reentry_guard.hpp"
#include "cache/store_access.hpp"
#include "support/clock.hpp"
#include "support/log_internal.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {

struct DigestLess {
  bool operator()(const Digest& a, const Digest& b) const { return a.bytes < b.bytes; }
};

struct Pending {
  std::shared_ptr<const std::string> value;
  std::int64_t created_us;
  std::int64_t expires_us;
  std::string key_bytes;  // kept in the entry when has_key
  bool has_key;
};

}  // namespace

struct DeferredWrites::Impl {
  explicit Impl(Store& s) : target(s) {}
  Store& target;
  mutable std::mutex mu;                          // guards pending, bytes and flights
  std::map<Digest, Pending, DigestLess> pending;  // ordered: sync writes shard by shard
  std::size_t bytes = 0;
  std::mutex sync_mu;  // one sync at a time; erase() waits for it

  // In-process single flight of get_or_compute(): one computation per key at a time.
  struct Flight {
    bool done = false;
  };
  std::map<Digest, std::shared_ptr<Flight>, DigestLess> flights;
  std::condition_variable flight_done;

  bool find(const Digest& key, Entry& out) const {
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(key);
    if (it == pending.end()) return false;
    if (past_expiry(it->second.expires_us, now_us())) return false;
    out.value = it->second.value;
    out.created_us = it->second.created_us;
    out.expires_us = it->second.expires_us;
    return true;
  }

  void put(const KeyRef& key, std::shared_ptr<const std::string> value, std::int64_t created,
           std::int64_t expires) {
    Pending p{std::move(value), created, expires, std::string(key.bytes), key.has_bytes};
    std::lock_guard<std::mutex> lock(mu);
    auto it = pending.find(key.digest);
    if (it != pending.end()) {
      bytes -= it->second.value->size();
      pending.erase(it);
    }
    bytes += p.value->size();
    pending.emplace(key.digest, std::move(p));
  }

  bool disabled() const { return target.option(OptionKey::disabled) != 0; }

  // A computed value as an entry with the bucket's lifetime from now, kept pending unless
  // it is over the entry size limit (then logged, as Store's computed values are).
  Entry keep_computed(const KeyRef& key, std::string&& computed) {
    auto value = std::make_shared<std::string>(std::move(computed));
    Entry e;
    e.created_us = now_us();
    e.expires_us = expiry_after(e.created_us, target.option(OptionKey::lifetime_us));
    const auto limit = static_cast<std::size_t>(target.option(OptionKey::entry_size_limit_bytes));
    if (limit == 0 || value->size() <= limit) {
      put(key, value, e.created_us, e.expires_us);
    } else {
      BC_LOG(LogLevel::info,
             "computed value of {} is {} bytes, over the entry size limit of {}: returned, "
             "not stored",
             key_label(key.digest), value->size(), limit);
    }
    e.value = std::move(value);
    return e;
  }

  // Ends a flight: removes it and wakes its waiters (also when the computation threw).
  void finish(const Digest& key, const std::shared_ptr<Flight>& flight) {
    {
      std::lock_guard<std::mutex> lock(mu);
      auto it = flights.find(key);
      if (it != flights.end() && it->second == flight) flights.erase(it);
      flight->done = true;
    }
    flight_done.notify_all();
  }

  // Ends the flight the caller leads, if any, on every way out of get_or_compute().
  struct FlightGuard {
    Impl* impl;
    const Digest& key;
    std::shared_ptr<Flight> flight;
    ~FlightGuard() {
      if (flight) impl->finish(key, flight);
    }
  };
};

DeferredWrites::DeferredWrites(Store& target) : impl_(std::make_unique<Impl>(target)) {}

DeferredWrites::~DeferredWrites() {
  if (pending_count() == 0) return;
  try {
    sync();
  } catch (const std::exception& e) {
    BC_LOG(LogLevel::error, "deferred writes to {} lost: {} entries not written: {}",
           impl_->target.path(), pending_count(), e.what());
  } catch (...) {
    BC_LOG(LogLevel::error, "deferred writes to {} lost: {} entries not written",
           impl_->target.path(), pending_count());
  }
}

void DeferredWrites::set(const KeyRef& key, std::string_view value) {
  if (impl_->disabled()) return;
  const std::int64_t created = now_us();
  impl_->put(key, std::make_shared<std::string>(value), created,
             expiry_after(created, impl_->target.option(OptionKey::lifetime_us)));
}

ReadStatus DeferredWrites::get(const Digest& key, Entry& out) {
  if (impl_->find(key, out)) return ReadStatus::found;
  return impl_->target.get(key, out);
}

ReadStatus DeferredWrites::get(const Digest& key, Entry& out, std::string& value) {
  if (impl_->find(key, out)) {
    value.assign(*out.value);
    out.value.reset();
    return ReadStatus::found;
  }
  return impl_->target.get(key, out, value);
}

bool DeferredWrites::contains(const Digest& key) {
  Entry e;
  if (impl_->find(key, e)) return true;
  return impl_->target.contains(key);
}

bool DeferredWrites::erase(const Digest& key) {
  // A sync in progress may be writing this key: let it finish, then erase the file too.
  std::lock_guard<std::mutex> sync_lock(impl_->sync_mu);
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

bool DeferredWrites::unload_key(const Digest& key) {
  sync();
  return impl_->target.unload_key(key);
}

Entry DeferredWrites::get_or_compute(const KeyRef& ref, const std::function<std::string()>& compute,
                                     bool* hit) {
  return get_or_compute(ref, compute, ComputeCall{}, hit);
}

Entry DeferredWrites::get_or_compute(const KeyRef& ref, const std::function<std::string()>& compute,
                                     const ComputeCall& call, bool* hit) {
  const Digest& key = ref.digest;
  if (hit != nullptr) *hit = false;
  Entry e;
  if (call.skip_cache || impl_->disabled()) {
    const ReentryGuard computing(&impl_->target, key);
    std::string value = compute();
    e.created_us = now_us();
    e.expires_us = expiry_after(e.created_us, impl_->target.option(OptionKey::lifetime_us));
    e.value = std::make_shared<std::string>(std::move(value));
    return e;
  }
  if (!call.refresh) {
    if (get(key, e) == ReadStatus::found && !older_than(e.created_us, call.max_age_us, now_us())) {
      if (hit != nullptr) *hit = true;
      return e;
    }
    if (StoreAccess::serve_stale(impl_->target, ref, call, e)) {
      if (hit != nullptr) *hit = true;
      return e;
    }
  }
  if (call.refresh || call.max_age_us > 0) {
    const ReentryGuard computing(&impl_->target, key);
    return impl_->keep_computed(ref, compute());
  }
  const ReentryGuard computing(&impl_->target, key);
  const auto deadline =
      deadline_after(std::chrono::milliseconds(impl_->target.option(OptionKey::lock_wait_ms)));
  Impl::FlightGuard guard{impl_.get(), key, nullptr};
  for (;;) {
    std::shared_ptr<Impl::Flight> theirs;
    {
      std::unique_lock<std::mutex> lock(impl_->mu);
      auto it = impl_->flights.find(key);
      if (it == impl_->flights.end()) {
        guard.flight = std::make_shared<Impl::Flight>();
        impl_->flights.emplace(key, guard.flight);
      } else {
        theirs = it->second;
        if (!impl_->flight_done.wait_until(lock, deadline, [&] { return theirs->done; })) {
          lock.unlock();
          BC_LOG(LogLevel::warn, "waited {} ms for another computation of {}; computing here",
                 impl_->target.option(OptionKey::lock_wait_ms), key_label(key));
          break;
        }
      }
    }
    // Leading now, or the flight we waited for ended: the value may be there already.
    if (get(key, e) == ReadStatus::found) {
      if (hit != nullptr) *hit = true;
      return e;  // the guard ends our flight, if we lead one
    }
    if (guard.flight) break;  // we lead: compute
    // The computation we waited for threw (or its value was discarded): try to lead.
  }
  // compute() may throw: the guard ends the flight. The value is pending (unless over the
  // entry size limit) before the guard wakes the waiters.
  return impl_->keep_computed(ref, compute());
}

void DeferredWrites::sync() {
  std::lock_guard<std::mutex> sync_lock(impl_->sync_mu);
  std::vector<Digest> keys;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    keys.reserve(impl_->pending.size());
    for (const auto& kv : impl_->pending) keys.push_back(kv.first);
  }
  std::size_t failed = 0;
  std::exception_ptr first_error;
  std::string first_message;
  int first_errno = 0;
  bool first_is_io = false;
  // Batches of entries go out through StoreAccess::set_entries: one round trip per batch
  // and server on Redis; entry by entry on files.
  constexpr std::size_t kBatch = 512;
  std::size_t next = 0;
  while (next < keys.size()) {
    std::vector<Digest> batch_keys;
    std::vector<Pending> batch;
    {
      std::lock_guard<std::mutex> lock(impl_->mu);
      const std::int64_t now = now_us();
      for (; next < keys.size() && batch.size() < kBatch; ++next) {
        auto it = impl_->pending.find(keys[next]);
        if (it == impl_->pending.end()) continue;  // discarded or erased meanwhile
        if (past_expiry(it->second.expires_us, now)) {
          impl_->bytes -= it->second.value->size();  // expired while pending: nothing to keep
          impl_->pending.erase(it);
          continue;
        }
        batch_keys.push_back(keys[next]);
        batch.push_back(it->second);
      }
    }
    if (batch.empty()) continue;
    std::vector<StoreAccess::EntryToSet> items;
    items.reserve(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Pending& p = batch[i];
      items.push_back({p.has_key ? KeyRef(batch_keys[i], p.key_bytes) : KeyRef(batch_keys[i]),
                       *p.value, p.created_us, p.expires_us});
    }
    std::vector<std::exception_ptr> errors;
    try {
      errors = StoreAccess::set_entries(impl_->target, items);
    } catch (...) {
      errors.assign(batch.size(), std::current_exception());
    }
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const Digest& key = batch_keys[i];
      if (errors[i]) {
        // Stays pending; the previous entry in the store (if any) is intact (atomic writes).
        try {
          std::rethrow_exception(errors[i]);
        } catch (const std::exception& e) {
          BC_LOG(LogLevel::error, "deferred write of {} to {} failed (kept pending): {}",
                 key_label(key), impl_->target.path(), e.what());
          if (failed++ == 0) {
            first_error = errors[i];
            first_message = e.what();
            if (const auto* io = dynamic_cast<const IoError*>(&e)) {
              first_is_io = true;
              first_errno = io->errno_value();
            }
          }
        } catch (...) {
          if (failed++ == 0) first_error = errors[i];
        }
        continue;
      }
      std::lock_guard<std::mutex> lock(impl_->mu);
      auto it = impl_->pending.find(key);
      // Remove it unless another thread set a newer value meanwhile (that one stays pending).
      if (it != impl_->pending.end() && it->second.value == batch[i].value) {
        impl_->bytes -= it->second.value->size();
        impl_->pending.erase(it);
      }
    }
  }
  if (failed == 0) return;
  if (first_is_io) {
    throw IoError(
        "deferred writes to " + impl_->target.path() + ": " + std::to_string(failed) + " of " +
            std::to_string(keys.size()) +
            " entries could not be written and stay pending; first error: " + first_message,
        first_errno);
  }
  std::rethrow_exception(first_error);
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
