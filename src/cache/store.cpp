// Store: the cache policy over a Storage, once for every store: the memory layer
// (memory_cache.hpp), the lifetime rule (support/clock.hpp), single flight, and the
// deletion of expired entries.
#include "bucketcache/store.hpp"

#include <atomic>

#include "bucketcache/error.hpp"
#include "bucketcache/logging.hpp"
#include "cache/memory_cache.hpp"
#include "cache/reentry_guard.hpp"
#include "cache/store_access.hpp"
#include "storage/file/file_storage.hpp"
#include "support/clock.hpp"
#include "support/log_internal.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {

// Keys longer than this are not kept in entries (a streaming keymaker's may be huge).
constexpr std::size_t kMaxStoredKey = 64 * 1024;

Options checked(Options o) {
  if (o.lifetime.count() < 0) {
    throw InvalidArgument("lifetime must not be negative (got " +
                          std::to_string(o.lifetime.count()) + " us)");
  }
  if (o.lock_wait.count() < 0) throw InvalidArgument("lock_wait must not be negative");
  if ((o.directory_mode & ~07777u) != 0 || (o.file_mode & ~07777u) != 0) {
    throw InvalidArgument("directory_mode and file_mode must be permission bits (<= 07777)");
  }
  return o;
}

// Options from (key, value) pairs; keys left out keep their defaults.
Options options_from(const std::vector<OptionValue>& list) {
  Options o;
  for (const OptionValue& v : list) {
    switch (v.key) {
      case OptionKey::lifetime_us:
        o.lifetime = std::chrono::microseconds(v.value);
        break;
      case OptionKey::memory_limit_bytes:
        if (v.value < 0) throw InvalidArgument("memory_limit_bytes must not be negative");
        o.memory_limit_bytes = static_cast<std::size_t>(v.value);
        break;
      case OptionKey::fsync:
        o.fsync = v.value != 0;
        break;
      case OptionKey::check_file:
        o.check_file = v.value != 0;
        break;
      case OptionKey::lock_wait_ms:
        o.lock_wait = std::chrono::milliseconds(v.value);
        break;
      case OptionKey::directory_mode:
        if (v.value < 0 || v.value > 07777)
          throw InvalidArgument("directory_mode must be 0..07777");
        o.directory_mode = static_cast<unsigned>(v.value);
        break;
      case OptionKey::file_mode:
        if (v.value < 0 || v.value > 07777) throw InvalidArgument("file_mode must be 0..07777");
        o.file_mode = static_cast<unsigned>(v.value);
        break;
      case OptionKey::store_keys:
        o.store_keys = v.value != 0;
        break;
      default:
        throw InvalidArgument("unknown option " + std::to_string(static_cast<int>(v.key)));
    }
  }
  return o;
}

void check_id(const std::string& id, const char* what) {
  if (!format::valid_id(id)) {
    throw InvalidArgument(std::string(what) + " id must be 1-15 printable ASCII characters: '" +
                          id + "'");
  }
}

std::unique_ptr<storage::Storage> file_storage(std::string path, const Options& o) {
  if (path.empty()) throw InvalidArgument("bucket path is empty");
  storage::FileStorageOptions fo;
  fo.directory_mode = o.directory_mode;
  fo.file_mode = o.file_mode;
  fo.fsync = o.fsync;
  return std::make_unique<storage::FileStorage>(std::move(path), fo);
}

}  // namespace

struct Store::Impl {
  Impl(std::unique_ptr<storage::Storage> s, std::string backend, std::string keymaker,
       const Options& o)
      : options(o),
        backend_id(std::move(backend)),
        keymaker_id(std::move(keymaker)),
        store(std::move(s)),
        memory(options.memory_limit_bytes) {}

  // Judges a stored entry for this bucket: another backend's or keymaker's, another key's
  // (a file copied to this name), expired (past its own expiry: deleted, if still the one
  // judged), or of a longer lifetime than this bucket's (kept).
  ReadStatus judge(const Digest& key, const storage::StoredEntry& e) {
    const format::EntryHeader& h = e.header;
    if (h.backend_id != backend_id || h.keymaker_id != keymaker_id || h.key != key) {
      return ReadStatus::foreign;
    }
    if (past_expiry(h.expires_us, now_us())) {
      store->remove_if_same(key, e.version);
      return ReadStatus::expired;
    }
    if ((h.flags & format::kExplicitLifetime) == 0 &&
        outlives_bucket(h.created_us, h.expires_us, options.lifetime.count())) {
      note_longer_lifetime(key);
      return ReadStatus::longer_lifetime;
    }
    return ReadStatus::found;
  }

  static ReadStatus status_of(storage::Found f) {
    switch (f) {
      case storage::Found::yes:
        return ReadStatus::found;
      case storage::Found::absent:
        return ReadStatus::absent;
      case storage::Found::corrupt:
        return ReadStatus::corrupt;
      case storage::Found::foreign:
        break;
    }
    return ReadStatus::foreign;
  }

  // A memory hit, unless the entry is past its expiry (the memory layer holds only
  // entries that passed the lifetime rule, which does not change with time) or, with
  // check_file, the stored entry was replaced or removed.
  bool memory_hit(const Digest& key, CachedValue& out) {
    if (!memory.lookup(key, out)) return false;
    if (out.expires_us != 0 && past_expiry(out.expires_us, now_us())) {
      memory.erase(key);
      return false;
    }
    if (options.check_file) {
      storage::EntryVersion now;
      if (!store->version(key, now) || !(now == out.version)) {
        memory.erase(key);
        return false;
      }
    }
    return true;
  }

  // Logs the first lifetime-rule miss of this bucket at info level.
  void note_longer_lifetime(const Digest& key) {
    if (logged_longer_lifetime.exchange(true, std::memory_order_relaxed)) return;
    BC_LOG(LogLevel::info,
           "entry {} in {} has a longer recorded lifetime than this bucket's ({} us): a miss "
           "here, left for the program that wrote it (further such misses are not logged)",
           key_label(key), store->describe(), options.lifetime.count());
  }

  // Writes through the store, keeping the memory layer coherent (memory_cache.hpp).
  void write(const KeyRef& key, std::string_view value, std::int64_t created, std::int64_t expires,
             std::uint32_t flags) {
    storage::EntryToWrite entry;
    entry.header.backend_id = backend_id;
    entry.header.keymaker_id = keymaker_id;
    entry.header.created_us = created;
    entry.header.expires_us = expires;
    entry.header.flags = flags;
    if (options.store_keys && key.has_bytes && key.bytes.size() <= kMaxStoredKey) {
      entry.key_bytes = key.bytes;
    } else {
      entry.header.flags |= format::kKeyOmitted;
    }
    entry.value = value;
    const MemoryCache::Ticket ticket = memory.begin_write(key.digest);
    CachedValue cv;
    try {
      store->write(key.digest, entry, storage::Overwrite::yes,
                   memory.enabled() && options.check_file ? &cv.version : nullptr);
    } catch (...) {
      memory.end_write(key.digest, ticket, nullptr);
      throw;
    }
    if (memory.enabled()) {
      cv.value = std::make_shared<const std::string>(value);
      cv.created_us = created;
      cv.expires_us = expires;
    }
    memory.end_write(key.digest, ticket, memory.enabled() ? &cv : nullptr);
  }

  ReadStatus peek(const Digest& key) {
    storage::StoredEntry e;
    const ReadStatus found = status_of(store->peek(key, e));
    return found == ReadStatus::found ? judge(key, e) : found;
  }

  Options options;
  std::string backend_id;
  std::string keymaker_id;
  std::unique_ptr<storage::Storage> store;
  MemoryCache memory;
  std::atomic<bool> logged_longer_lifetime{false};
};

Store StoreAccess::make(std::unique_ptr<storage::Storage> storage, std::string backend_id,
                        std::string keymaker_id, const Options& options) {
  check_id(backend_id, "backend");
  check_id(keymaker_id, "keymaker");
  return Store(std::make_unique<Store::Impl>(std::move(storage), std::move(backend_id),
                                             std::move(keymaker_id), checked(options)));
}

storage::Storage& StoreAccess::storage_of(Store& store) { return *store.impl_->store; }

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  BC_LOG(LogLevel::debug, "opened bucket {} (backend {}, keymaker {}, lifetime {} us)",
         impl_->store->describe(), impl_->backend_id, impl_->keymaker_id,
         impl_->options.lifetime.count());
}

Store::Store(std::string path, std::string backend_id, std::string keymaker_id,
             const std::vector<OptionValue>& list)
    : Store(StoreAccess::make(file_storage(std::move(path), checked(options_from(list))),
                              std::move(backend_id), std::move(keymaker_id), options_from(list))) {}

Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

void Store::set(const KeyRef& key, std::string_view value) {
  const std::int64_t created = now_us();
  impl_->write(key, value, created, expiry_after(created, impl_->options.lifetime.count()), 0);
}

void Store::set_entry(const KeyRef& key, std::string_view value, std::int64_t created,
                      std::int64_t expires) {
  impl_->write(key, value, created, expires, 0);
}

ReadStatus Store::read(const Digest& key, Entry& out) {
  CachedValue cv;
  if (impl_->memory_hit(key, cv)) {
    BC_LOG(LogLevel::trace, "memory hit {}", key_label(key));
  } else {
    const MemoryCache::Ticket ticket = impl_->memory.read_ticket(key);
    storage::StoredEntry e;
    ReadStatus status = Impl::status_of(impl_->store->read(key, e));
    if (status == ReadStatus::found) status = impl_->judge(key, e);
    if (status != ReadStatus::found) {
      if (status == ReadStatus::corrupt || status == ReadStatus::foreign) {
        BC_LOG(LogLevel::warn, "entry {} in {} is {}; treated as a miss", key_label(key),
               impl_->store->describe(), status == ReadStatus::corrupt ? "corrupt" : "foreign");
      } else if (status != ReadStatus::longer_lifetime) {
        BC_LOG(LogLevel::debug, "miss {} ({})", key_label(key),
               status == ReadStatus::absent ? "absent" : "expired");
      }
      return status;
    }
    BC_LOG(LogLevel::debug, "file hit {}", key_label(key));
    cv.value = std::move(e.value);
    cv.created_us = e.header.created_us;
    cv.expires_us = e.header.expires_us;
    cv.version = e.version;
    impl_->memory.fill(key, cv, ticket);
  }
  out.value = std::move(cv.value);
  out.created_us = cv.created_us;
  out.expires_us = cv.expires_us;
  return ReadStatus::found;
}

bool Store::get(const Digest& key, Entry& out) { return read(key, out) == ReadStatus::found; }

Entry Store::get_or_compute(const KeyRef& key, const std::function<std::string()>& compute,
                            bool* hit) {
  const Digest& d = key.digest;
  Entry e;
  if (read(d, e) == ReadStatus::found) {
    if (hit != nullptr) *hit = true;
    return e;
  }
  const ReentryGuard computing(this, d);
  const auto deadline = deadline_after(impl_->options.lock_wait);
  storage::LockOutcome outcome = storage::LockOutcome::held;
  std::unique_ptr<storage::KeyLock> lock = impl_->store->lock(
      d, deadline, [&] { return impl_->peek(d) == ReadStatus::found; }, outcome);
  if (outcome == storage::LockOutcome::held || outcome == storage::LockOutcome::done) {
    // Whoever held the lock before us may have stored the value meanwhile.
    if (read(d, e) == ReadStatus::found) {
      if (hit != nullptr) *hit = true;
      return e;
    }
    if (!lock) {
      // It was there a moment ago but is gone (erased, expired): wait for the lock again.
      lock = impl_->store->lock(d, deadline, {}, outcome);
    }
  }
  if (outcome == storage::LockOutcome::timed_out) {
    BC_LOG(LogLevel::warn, "waited {} ms for another computation of {}; computing here",
           impl_->options.lock_wait.count(), key_label(d));
  } else if (outcome == storage::LockOutcome::unavailable) {
    BC_LOG(LogLevel::warn, "no lock can be taken for {} in {}; computing without single flight",
           key_label(d), impl_->store->describe());
  }
  auto value = std::make_shared<const std::string>(compute());
  const std::int64_t created = now_us();
  const std::int64_t expires = expiry_after(created, impl_->options.lifetime.count());
  impl_->write(key, *value, created, expires, 0);
  if (hit != nullptr) *hit = false;
  e.value = std::move(value);
  e.created_us = created;
  e.expires_us = expires;
  return e;
}

bool Store::contains(const Digest& key) {
  CachedValue cv;
  if (impl_->memory_hit(key, cv)) return true;
  return impl_->peek(key) == ReadStatus::found;
}

bool Store::erase(const Digest& key) {
  const MemoryCache::Ticket ticket = impl_->memory.begin_write(key);
  bool removed = false;
  try {
    removed = impl_->store->remove(key);
  } catch (...) {
    impl_->memory.end_write(key, ticket, nullptr);
    throw;
  }
  impl_->memory.end_write(key, ticket, nullptr);
  BC_LOG(LogLevel::debug, "erase {} ({})", key_label(key), removed ? "removed" : "absent");
  return removed;
}

bool Store::unload(const Digest& key) { return impl_->memory.erase(key); }

void Store::unload_all() { impl_->memory.clear(); }

PrunedFilesInfo Store::prune_directory() {
  const storage::ScanResult r = impl_->store->scan(
      [&](const storage::ScanItem& item) {
        const format::EntryHeader& h = item.entry.header;
        const bool ours = h.backend_id == impl_->backend_id && h.keymaker_id == impl_->keymaker_id;
        return ours && past_expiry(h.expires_us, now_us()) ? storage::ScanAction::remove
                                                           : storage::ScanAction::keep;
      },
      /*exclusive=*/true, /*remove_damaged=*/true);
  const storage::SweepResult swept = impl_->store->sweep();
  PrunedFilesInfo info{r.removed_bytes + swept.bytes, r.removed_files + swept.files};
  BC_LOG(LogLevel::info, "pruned {} files ({} bytes) from {}", info.files, info.bytes,
         impl_->store->describe());
  return info;
}

Digest Store::digest(std::string_view key_bytes) const {
  return digest_key(impl_->backend_id, impl_->keymaker_id, key_bytes);
}

std::unique_ptr<KeyHasher> Store::hasher() const {
  return std::make_unique<KeyHasher>(impl_->backend_id, impl_->keymaker_id);
}

const std::string& Store::path() const { return impl_->store->describe(); }
const std::string& Store::backend_id() const { return impl_->backend_id; }
const std::string& Store::keymaker_id() const { return impl_->keymaker_id; }
std::int64_t Store::option(OptionKey key) const {
  const Options& o = impl_->options;
  switch (key) {
    case OptionKey::lifetime_us:
      return o.lifetime.count();
    case OptionKey::memory_limit_bytes:
      return static_cast<std::int64_t>(o.memory_limit_bytes);
    case OptionKey::fsync:
      return o.fsync ? 1 : 0;
    case OptionKey::check_file:
      return o.check_file ? 1 : 0;
    case OptionKey::lock_wait_ms:
      return static_cast<std::int64_t>(o.lock_wait.count());
    case OptionKey::directory_mode:
      return o.directory_mode;
    case OptionKey::file_mode:
      return o.file_mode;
    case OptionKey::store_keys:
      return o.store_keys ? 1 : 0;
  }
  throw InvalidArgument("unknown option " + std::to_string(static_cast<int>(key)));
}
std::string Store::entry_path(const Digest& key) const { return impl_->store->locate(key); }
std::size_t Store::memory_bytes() const { return impl_->memory.used_bytes(); }

void Store::log_unreadable_value(const Digest& key, const char* what) const noexcept {
  try {
    BC_LOG(LogLevel::warn, "value of entry {} in {} cannot be read by backend {}: {}",
           key_label(key), path(), backend_id(), what);
  } catch (...) {
  }
}

BUCKETCACHE_NAMESPACE_END
