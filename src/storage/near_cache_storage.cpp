#include "storage/near_cache_storage.hpp"

#include "support/clock.hpp"
#include "support/log_internal.hpp"

namespace bucketcache {
inline namespace v1 {
namespace storage {

NearCacheStorage::NearCacheStorage(std::unique_ptr<Storage> remote,
                                   std::unique_ptr<FileStorage> local,
                                   std::chrono::milliseconds max_age)
    : remote_(std::move(remote)), local_(std::move(local)), max_age_(max_age) {
  description_ = remote_->describe() + " (near-cache " + local_->describe() + ")";
}

bool NearCacheStorage::fresh(const EntryVersion& local_version) const {
  const std::int64_t stored_us = local_version.d / 1000;
  const std::int64_t age_us = now_us() - stored_us;
  return age_us >= 0 && age_us < static_cast<std::int64_t>(max_age_.count()) * 1000;
}

void NearCacheStorage::store_local(const Digest& key, const StoredEntry& e) noexcept {
  try {
    EntryToWrite w;
    w.header = e.header;
    w.key_bytes = e.key_bytes;
    w.value = e.value ? std::string_view(*e.value) : std::string_view();
    local_->write(key, w, Overwrite::yes, nullptr);
  } catch (const std::exception& ex) {
    try {
      BC_LOG(LogLevel::warn, "near-cache {}: cannot store {}: {}", local_->describe(),
             key_label(key), ex.what());
    } catch (...) {
    }
    drop_local(key);
  }
}

void NearCacheStorage::drop_local(const Digest& key) noexcept {
  try {
    local_->remove(key);
  } catch (const std::exception& ex) {
    try {
      BC_LOG(LogLevel::warn, "near-cache {}: cannot remove {}: {}", local_->describe(),
             key_label(key), ex.what());
    } catch (...) {
    }
  }
}

Found NearCacheStorage::read(const Digest& key, StoredEntry& out) {
  try {
    StoredEntry e;
    if (local_->read(key, e) == Found::yes && fresh(e.version)) {
      out = std::move(e);
      return Found::yes;
    }
  } catch (const std::exception& ex) {
    BC_LOG(LogLevel::debug, "near-cache {}: read of {} failed ({}); asking the server",
           local_->describe(), key_label(key), ex.what());
  }
  const Found found = remote_->read(key, out);
  if (found == Found::yes) {
    store_local(key, out);
  } else {
    drop_local(key);
  }
  return found;
}

Found NearCacheStorage::peek(const Digest& key, StoredEntry& out) {
  try {
    StoredEntry e;
    if (local_->peek(key, e) == Found::yes && fresh(e.version)) {
      out = std::move(e);
      return Found::yes;
    }
  } catch (const std::exception&) {
  }
  const Found found = remote_->peek(key, out);
  if (found != Found::yes) drop_local(key);
  return found;
}

bool NearCacheStorage::write(const Digest& key, const EntryToWrite& entry, Overwrite overwrite,
                             EntryVersion* written) {
  bool stored = false;
  try {
    stored = remote_->write(key, entry, overwrite, written);
  } catch (...) {
    drop_local(key);  // the remote entry is unknown now
    throw;
  }
  if (!stored) {
    drop_local(key);
    return false;
  }
  try {
    local_->write(key, entry, Overwrite::yes, nullptr);
  } catch (const std::exception& ex) {
    BC_LOG(LogLevel::warn, "near-cache {}: cannot store {}: {}", local_->describe(), key_label(key),
           ex.what());
    drop_local(key);
  }
  return true;
}

std::vector<std::exception_ptr> NearCacheStorage::write_many(
    const std::vector<BatchWrite>& writes) {
  const std::vector<std::exception_ptr> errors = remote_->write_many(writes);
  for (std::size_t i = 0; i < writes.size(); ++i) {
    if (errors[i]) {
      drop_local(writes[i].key);
      continue;
    }
    try {
      local_->write(writes[i].key, writes[i].entry, Overwrite::yes, nullptr);
    } catch (const std::exception& ex) {
      BC_LOG(LogLevel::warn, "near-cache {}: cannot store {}: {}", local_->describe(),
             key_label(writes[i].key), ex.what());
      drop_local(writes[i].key);
    }
  }
  return errors;
}

bool NearCacheStorage::remove(const Digest& key) {
  drop_local(key);
  const bool removed = remote_->remove(key);
  drop_local(key);  // a read between the two may have filled it again
  return removed;
}

bool NearCacheStorage::remove_if_same(const Digest& key, const EntryVersion& judged) {
  // `judged` may be a local copy's version, which the server never matches: the server
  // drops expired entries itself (PX), and the local copy goes in any case.
  drop_local(key);
  return remote_->remove_if_same(key, judged);
}

bool NearCacheStorage::version(const Digest& key, EntryVersion& out) {
  try {
    EntryVersion v;
    if (local_->version(key, v) && fresh(v)) {
      out = v;
      return true;
    }
  } catch (const std::exception&) {
  }
  return remote_->version(key, out);
}

bool NearCacheStorage::touch(const Digest& key, std::int64_t expires_us, std::uint32_t flags) {
  const bool touched = remote_->touch(key, expires_us, flags);
  drop_local(key);  // refilled with the new expiry on the next read
  return touched;
}

ScanResult NearCacheStorage::scan(const std::function<ScanAction(const ScanItem&)>& fn,
                                  bool exclusive, bool remove_damaged) {
  return remote_->scan(
      [&](const ScanItem& item) {
        const ScanAction action = fn(item);
        if (action == ScanAction::remove) drop_local(item.key);
        return action;
      },
      exclusive, remove_damaged);
}

SweepResult NearCacheStorage::sweep() {
  SweepResult r = remote_->sweep();
  const SweepResult l = local_->sweep();
  r.files += l.files;
  r.bytes += l.bytes;
  return r;
}

std::unique_ptr<KeyLock> NearCacheStorage::lock(const Digest& key,
                                                std::chrono::steady_clock::time_point deadline,
                                                const std::function<bool()>& done,
                                                LockOutcome& outcome) {
  return remote_->lock(key, deadline, done, outcome);
}

}  // namespace storage
}  // namespace v1
}  // namespace bucketcache
