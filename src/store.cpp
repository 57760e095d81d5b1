#include "bucketcache/store.hpp"

#include <atomic>

#include "bucketcache/error.hpp"
#include "bucketcache/logging.hpp"
#include "entry_format.hpp"
#include "file_store.hpp"
#include "log_internal.hpp"
#include "memory_cache.hpp"
#include "reentry_guard.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {

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

}  // namespace

struct Store::Impl {
  Impl(std::string path, std::string backend, std::string keymaker, const Options& o)
      : options(checked(o)),
        backend_id(std::move(backend)),
        keymaker_id(std::move(keymaker)),
        files((validate_ids(backend_id, keymaker_id), std::move(path)), backend_id, keymaker_id,
              options),
        memory(options.memory_limit_bytes) {}

  static int validate_ids(const std::string& backend, const std::string& keymaker) {
    if (!format::valid_id(backend)) {
      throw InvalidArgument("backend id must be 1-15 printable ASCII characters: '" + backend +
                            "'");
    }
    if (!format::valid_id(keymaker)) {
      throw InvalidArgument("keymaker id must be 1-15 printable ASCII characters: '" + keymaker +
                            "'");
    }
    return 0;
  }

  // A memory hit, unless the entry is past its expiry (the memory layer holds only
  // entries that passed the lifetime rule, which does not change with time) or, with
  // check_file, the file was replaced or removed.
  bool memory_hit(const Digest& key, CachedValue& out) {
    if (!memory.lookup(key, out)) return false;
    if (out.expires_us != 0 && past_expiry(out.expires_us, now_us())) {
      memory.erase(key);
      return false;
    }
    if (options.check_file) {
      FileIdentity id;
      if (!files.identity(key, id) || !(id == out.file)) {
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
           key_label(key), files.root(), options.lifetime.count());
  }

  // Writes through the store, keeping the memory layer coherent (memory_cache.hpp).
  void write(const Digest& key, std::string_view value, std::int64_t created,
             std::int64_t expires) {
    const MemoryCache::Ticket ticket = memory.begin_write(key);
    CachedValue cv;
    try {
      files.write(key, value, created, expires,
                  memory.enabled() && options.check_file ? &cv.file : nullptr);
    } catch (...) {
      memory.end_write(key, ticket, nullptr);
      throw;
    }
    if (memory.enabled()) {
      cv.value = std::make_shared<const std::string>(value);
      cv.created_us = created;
      cv.expires_us = expires;
    }
    memory.end_write(key, ticket, memory.enabled() ? &cv : nullptr);
  }

  Options options;
  std::string backend_id;
  std::string keymaker_id;
  FileStore files;
  MemoryCache memory;
  std::atomic<bool> logged_longer_lifetime{false};
};

Store::Store(std::string path, std::string backend_id, std::string keymaker_id, Options options)
    : impl_(std::make_unique<Impl>(std::move(path), std::move(backend_id), std::move(keymaker_id),
                                   options)) {
  BC_LOG(LogLevel::debug, "opened bucket {} (backend {}, keymaker {}, lifetime {} us)",
         impl_->files.root(), impl_->backend_id, impl_->keymaker_id,
         impl_->options.lifetime.count());
}

Store::~Store() = default;
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;

void Store::set(const Digest& key, std::string_view value) {
  const std::int64_t created = now_us();
  impl_->write(key, value, created, expiry_after(created, impl_->options.lifetime.count()));
}

void Store::set_entry(const Digest& key, std::string_view value, std::int64_t created,
                      std::int64_t expires) {
  impl_->write(key, value, created, expires);
}

ReadStatus Store::read(const Digest& key, Entry& out) {
  CachedValue cv;
  if (impl_->memory_hit(key, cv)) {
    BC_LOG(LogLevel::trace, "memory hit {}", key_label(key));
  } else {
    const MemoryCache::Ticket ticket = impl_->memory.read_ticket(key);
    const ReadStatus status = impl_->files.read(key, cv);
    if (status != ReadStatus::found) {
      if (status == ReadStatus::corrupt || status == ReadStatus::foreign) {
        BC_LOG(LogLevel::warn, "entry {} in {} is {}; treated as a miss", key_label(key),
               impl_->files.root(), status == ReadStatus::corrupt ? "corrupt" : "foreign");
      } else if (status == ReadStatus::longer_lifetime) {
        impl_->note_longer_lifetime(key);
      } else {
        BC_LOG(LogLevel::debug, "miss {} ({})", key_label(key),
               status == ReadStatus::absent ? "absent" : "expired");
      }
      return status;
    }
    BC_LOG(LogLevel::debug, "file hit {}", key_label(key));
    impl_->memory.fill(key, cv, ticket);
  }
  out.value = std::move(cv.value);
  out.created_us = cv.created_us;
  out.expires_us = cv.expires_us;
  return ReadStatus::found;
}

bool Store::get(const Digest& key, Entry& out) { return read(key, out) == ReadStatus::found; }

Entry Store::get_or_compute(const Digest& key, const std::function<std::string()>& compute,
                            bool* hit) {
  Entry e;
  if (read(key, e) == ReadStatus::found) {
    if (hit != nullptr) *hit = true;
    return e;
  }
  const ReentryGuard computing(this, key);
  const auto deadline = deadline_after(impl_->options.lock_wait);
  FileStore::LockOutcome outcome;
  KeyLock lock = impl_->files.lock_key(
      key, deadline, [&] { return impl_->files.peek(key) == ReadStatus::found; }, &outcome);
  if (outcome == FileStore::LockOutcome::held || outcome == FileStore::LockOutcome::done) {
    // Whoever held the lock before us may have stored the value meanwhile.
    if (read(key, e) == ReadStatus::found) {
      if (hit != nullptr) *hit = true;
      return e;
    }
    if (!lock.held()) {
      // It was there a moment ago but is gone (erased, expired): wait for the lock again.
      lock = impl_->files.lock_key(key, deadline, {}, &outcome);
    }
  }
  if (outcome == FileStore::LockOutcome::timed_out) {
    BC_LOG(LogLevel::warn, "waited {} ms for another computation of {}; computing here",
           impl_->options.lock_wait.count(), key_label(key));
  } else if (outcome == FileStore::LockOutcome::unavailable) {
    BC_LOG(LogLevel::warn,
           "the lock file of {} in {} is not a regular file; computing without "
           "single flight",
           key_label(key), impl_->files.root());
  }
  auto value = std::make_shared<const std::string>(compute());
  const std::int64_t created = now_us();
  const std::int64_t expires = expiry_after(created, impl_->options.lifetime.count());
  impl_->write(key, *value, created, expires);
  if (hit != nullptr) *hit = false;
  e.value = std::move(value);
  e.created_us = created;
  e.expires_us = expires;
  return e;
}

bool Store::contains(const Digest& key) {
  CachedValue cv;
  if (impl_->memory_hit(key, cv)) return true;
  const ReadStatus status = impl_->files.peek(key);
  if (status == ReadStatus::longer_lifetime) impl_->note_longer_lifetime(key);
  return status == ReadStatus::found;
}

bool Store::erase(const Digest& key) {
  const MemoryCache::Ticket ticket = impl_->memory.begin_write(key);
  bool removed = false;
  try {
    removed = impl_->files.remove(key);
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

PrunedFilesInfo Store::prune_directory() { return impl_->files.prune(); }

Digest Store::digest(std::string_view key_bytes) const {
  return digest_key(impl_->backend_id, impl_->keymaker_id, key_bytes);
}

std::unique_ptr<KeyHasher> Store::hasher() const {
  return std::make_unique<KeyHasher>(impl_->backend_id, impl_->keymaker_id);
}

const std::string& Store::path() const { return impl_->files.root(); }
const std::string& Store::backend_id() const { return impl_->backend_id; }
const std::string& Store::keymaker_id() const { return impl_->keymaker_id; }
const Options& Store::options() const { return impl_->options; }
std::string Store::entry_path(const Digest& key) const { return impl_->files.entry_path(key); }
std::size_t Store::memory_bytes() const { return impl_->memory.used_bytes(); }

namespace detail {
void log_unreadable_value(const Store& store, const Digest& key, const char* what) noexcept {
  try {
    BC_LOG(LogLevel::warn, "value of entry {} in {} cannot be read by backend {}: {}",
           key_label(key), store.path(), store.backend_id(), what);
  } catch (...) {
  }
}
}  // namespace detail

BUCKETCACHE_NAMESPACE_END
