// Store: the cache policy over a Storage, once for every store: the memory layer
// (memory_cache.hpp), the lifetime rule (support/clock.hpp), single flight, and the
// deletion of expired entries.
#include "bucketcache/store.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bucketcache/error.hpp"
#include "bucketcache/logging.hpp"
#include "cache/memory_cache.hpp"
#include "cache/operations.hpp"
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
  if (o.eviction != Eviction::lrs && o.eviction != Eviction::lru) {
    throw InvalidArgument("eviction must be Eviction::lrs or Eviction::lru");
  }
  if (o.stale_ttl.count() < 0) throw InvalidArgument("stale_ttl must not be negative");
  // BUCKETCACHE_DISABLE=1 turns every bucket opened while it is set off.
  if (const char* env = std::getenv("BUCKETCACHE_DISABLE");
      env != nullptr && std::strcmp(env, "1") == 0) {
    o.disabled = true;
  }
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
      case OptionKey::size_limit_bytes:
        if (v.value < 0) throw InvalidArgument("size_limit_bytes must not be negative");
        o.size_limit_bytes = static_cast<std::uint64_t>(v.value);
        break;
      case OptionKey::eviction:
        if (v.value != static_cast<int>(Eviction::lrs) &&
            v.value != static_cast<int>(Eviction::lru))
          throw InvalidArgument("eviction must be 0 (lrs) or 1 (lru)");
        o.eviction = static_cast<Eviction>(v.value);
        break;
      case OptionKey::stale_ttl_us:
        o.stale_ttl = std::chrono::microseconds(v.value);
        break;
      case OptionKey::disabled:
        o.disabled = v.value != 0;
        break;
      case OptionKey::entry_size_limit_bytes:
        if (v.value < 0) throw InvalidArgument("entry_size_limit_bytes must not be negative");
        o.entry_size_limit_bytes = static_cast<std::size_t>(v.value);
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

// Pending statistics are persisted at most this often from the operation path (and at close).
constexpr std::int64_t kFlushIntervalMs = 1000;
// "lru": an entry's access time is refreshed at most this often per process (per slot).
constexpr std::int64_t kUseRefreshMs = 10000;
constexpr std::size_t kUseSlots = 4096;

std::uint64_t sat_add(std::uint64_t a, std::uint64_t b) {
  return a + b < a ? ~std::uint64_t{0} : a + b;
}

std::string hex_id(const std::string& id) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char c : id) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace

struct Store::Impl {
  Impl(std::unique_ptr<storage::Storage> s, std::string backend, std::string keymaker,
       const Options& o)
      : options(o),
        backend_id(std::move(backend)),
        keymaker_id(std::move(keymaker)),
        store(std::move(s)),
        memory(options.memory_limit_bytes),
        bucket_name(hex_id(backend_id) + "-" + hex_id(keymaker_id)),
        counting(std::getenv("BUCKETCACHE_NO_STATS") == nullptr ||
                 std::string(std::getenv("BUCKETCACHE_NO_STATS")) != "1"),
        next_flush_ms(coarse_monotonic_ms() + kFlushIntervalMs) {
    if (options.size_limit_bytes > 0 && options.eviction == Eviction::lru) {
      use_slots = std::make_unique<std::array<std::atomic<std::int64_t>, kUseSlots>>();
      for (auto& slot : *use_slots) slot.store(0, std::memory_order_relaxed);
    }
  }

  // Ends background refreshes (see Refresher), then persists the counts not yet persisted.
  ~Impl() {
    std::shared_ptr<Refresher> r;
    {
      const std::lock_guard<std::mutex> lock(refresher_mu);
      r = std::move(refresher);
    }
    if (r) r->close(options.lock_wait);
    try {
      const std::lock_guard<std::mutex> lock(flush_mu);
      if (persist && pending_any()) flush_locked(false);
    } catch (const std::exception& e) {
      try {
        BC_LOG(LogLevel::warn, "statistics of {} not saved at close: {}", store->describe(),
               e.what());
      } catch (...) {
      }
    } catch (...) {
    }
  }
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  // Judges a stored entry for this bucket: another backend's or keymaker's, another key's
  // (a file copied to this name), expired (past its own expiry: deleted, if still the one
  // judged), or of a longer lifetime than this bucket's (kept).
  ReadStatus judge(const Digest& key, const storage::StoredEntry& e) {
    const format::EntryHeader& h = e.header;
    if (h.backend_id != backend_id || h.keymaker_id != keymaker_id || h.key != key) {
      return ReadStatus::foreign;
    }
    // The clock is read only for an entry that expires.
    const std::int64_t now = h.expires_us != 0 ? now_us() : 0;
    if (past_expiry(h.expires_us, now)) {
      if (!within_stale_window(h.expires_us, now) && store->remove_if_same(key, e.version)) {
        count(pending.expired);
      }
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
  // With Overwrite::no, stores only if nothing is stored under the key; returns whether
  // the entry was stored.
  bool write(const KeyRef& key, std::string_view value, std::int64_t created, std::int64_t expires,
             std::uint32_t flags, storage::Overwrite overwrite = storage::Overwrite::yes) {
    if (options.disabled) return true;  // nothing is stored; callers see a stored value
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
    bool stored = false;
    try {
      stored = store->write(key.digest, entry, overwrite,
                            memory.enabled() && options.check_file ? &cv.version : nullptr);
    } catch (...) {
      memory.end_write(key.digest, ticket, nullptr);
      throw;
    }
    if (stored && memory.enabled()) {
      cv.value = std::make_shared<std::string>(value);
      cv.created_us = created;
      cv.expires_us = expires;
    }
    memory.end_write(key.digest, ticket, stored && memory.enabled() ? &cv : nullptr);
    if (stored) {
      count(pending.writes);
      if (options.size_limit_bytes > 0) {
        limit_size(format::kHeaderSize + entry.key_bytes.size() + value.size());
      }
    }
    return stored;
  }

  // ---- Statistics: this process's counts not yet persisted, relaxed atomics (no lock and
  // no system call on the hit path); persisted by the first counted operation a second or
  // more after the last flush, by stats(), and at close.
  struct Pending {
    std::atomic<std::uint64_t> hits{0}, misses{0}, writes{0}, evictions{0}, expired{0};
  };

  void count(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
    if (!counting) return;
    counter.fetch_add(n, std::memory_order_relaxed);
    if (coarse_monotonic_ms() >= next_flush_ms.load(std::memory_order_relaxed)) flush_due();
  }

  bool pending_any() const {
    return pending.hits.load(std::memory_order_relaxed) != 0 ||
           pending.misses.load(std::memory_order_relaxed) != 0 ||
           pending.writes.load(std::memory_order_relaxed) != 0 ||
           pending.evictions.load(std::memory_order_relaxed) != 0 ||
           pending.expired.load(std::memory_order_relaxed) != 0;
  }

  // One thread flushes; the others go on (their counts wait for the next flush).
  void flush_due() noexcept {
    std::unique_lock<std::mutex> lock(flush_mu, std::try_to_lock);
    if (!lock.owns_lock()) return;
    const std::int64_t now = coarse_monotonic_ms();
    if (now < next_flush_ms.load(std::memory_order_relaxed)) return;
    next_flush_ms.store(now + kFlushIntervalMs, std::memory_order_relaxed);
    if (!persist) return;
    try {
      flush_locked(false);
    } catch (const std::exception& e) {
      if (!logged_flush_failure.exchange(true, std::memory_order_relaxed)) {
        try {
          BC_LOG(LogLevel::warn, "cannot save the statistics of {}: {} (kept in memory)",
                 store->describe(), e.what());
        } catch (...) {
        }
      }
    } catch (...) {
    }
  }

  // Moves the pending counts into the store's persisted counters and returns the totals;
  // on failure the counts stay pending. A store that keeps no counters (Error unsupported)
  // turns persisting off: the counts then stay in this process. Caller holds flush_mu.
  storage::Counters flush_locked(bool reset) {
    storage::Counters d;
    d.hits = pending.hits.exchange(0, std::memory_order_relaxed);
    d.misses = pending.misses.exchange(0, std::memory_order_relaxed);
    d.writes = pending.writes.exchange(0, std::memory_order_relaxed);
    d.evictions = pending.evictions.exchange(0, std::memory_order_relaxed);
    d.expired = pending.expired.exchange(0, std::memory_order_relaxed);
    try {
      return store->merge_counters(bucket_name, reset ? storage::Counters{} : d, reset);
    } catch (const Error& e) {
      if (!reset) {
        pending.hits.fetch_add(d.hits, std::memory_order_relaxed);
        pending.misses.fetch_add(d.misses, std::memory_order_relaxed);
        pending.writes.fetch_add(d.writes, std::memory_order_relaxed);
        pending.evictions.fetch_add(d.evictions, std::memory_order_relaxed);
        pending.expired.fetch_add(d.expired, std::memory_order_relaxed);
      }
      if (e.code() != ErrorCode::unsupported) throw;
      persist = false;
      return local_counts();
    }
  }

  storage::Counters local_counts() const {
    storage::Counters c;
    c.hits = pending.hits.load(std::memory_order_relaxed);
    c.misses = pending.misses.load(std::memory_order_relaxed);
    c.writes = pending.writes.load(std::memory_order_relaxed);
    c.evictions = pending.evictions.load(std::memory_order_relaxed);
    c.expired = pending.expired.load(std::memory_order_relaxed);
    return c;
  }

  // "lru": refreshes the entry's access time in the store, at most once per kUseRefreshMs
  // per slot (keys share kUseSlots slots by digest: approximate by design).
  void note_use(const Digest& key) {
    std::atomic<std::int64_t>& slot = (*use_slots)[DigestHash{}(key) % kUseSlots];
    const std::int64_t now = coarse_monotonic_ms();
    std::int64_t last = slot.load(std::memory_order_relaxed);
    if (last != 0 && now - last < kUseRefreshMs) return;
    if (!slot.compare_exchange_strong(last, now, std::memory_order_relaxed)) return;
    store->note_use(key);
  }

  // ---- Size limit (docs/cache-management.md, "Size limit"). The store keeps an estimate
  // E of the bucket's bytes that is never below the truth: every write adds its entry's
  // size after publishing it; removals subtract nothing. A writer that sees E above the
  // limit takes the exclusive-scan lock, reads E0 = E, scans the bucket's entries (exact
  // total T), evicts in the policy's order down to 90% of the limit, and sets E to T plus
  // what writers added during the scan (E - E0): entries the scan missed were counted in
  // that difference, so E stays an upper bound. Failures are logged; the write stands.
  void limit_size(std::uint64_t added) noexcept {
    try {
      const std::uint64_t limit = options.size_limit_bytes;
      const std::uint64_t estimate = store->adjust_size_estimate(
          bucket_name, [&](std::uint64_t e) { return sat_add(e, added); });
      if (estimate <= limit) return;
      evict(limit);
    } catch (const std::exception& e) {
      try {
        BC_LOG(LogLevel::warn, "size limit of {} not enforced after a write: {}", store->describe(),
               e.what());
      } catch (...) {
      }
    }
  }

  void evict(std::uint64_t limit) {
    const std::unique_ptr<storage::KeyLock> held = store->lock_exclusive();
    const std::uint64_t e0 =
        store->adjust_size_estimate(bucket_name, [](std::uint64_t e) { return e; });
    if (e0 <= limit) return;  // another writer evicted meanwhile
    struct Candidate {
      std::int64_t order;
      Digest key;
      storage::EntryVersion version;
      std::uint64_t bytes;
    };
    std::vector<Candidate> ours;
    std::uint64_t total = 0;
    const bool lru = options.eviction == Eviction::lru;
    store->scan(
        [&](const storage::ScanItem& item) {
          const format::EntryHeader& h = item.entry.header;
          if (h.backend_id == backend_id && h.keymaker_id == keymaker_id) {
            const std::int64_t order =
                lru ? std::max(item.entry.used_us, h.created_us) : h.created_us;
            ours.push_back({order, item.key, item.entry.version, item.entry.stored_bytes});
            total += item.entry.stored_bytes;
          }
          return storage::ScanAction::keep;
        },
        /*exclusive=*/false, /*remove_damaged=*/false);
    std::uint64_t evicted = 0;
    std::uint64_t evicted_bytes = 0;
    if (total > limit) {
      const std::uint64_t target = limit - limit / 10;
      std::sort(ours.begin(), ours.end(), [](const Candidate& a, const Candidate& b) {
        return a.order != b.order ? a.order < b.order : a.key.bytes < b.key.bytes;
      });
      for (const Candidate& c : ours) {
        if (total <= target) break;
        const MemoryCache::Ticket ticket = memory.begin_write(c.key);
        bool removed = false;
        try {
          removed = store->remove_if_same(c.key, c.version);
        } catch (...) {
          memory.end_write(c.key, ticket, nullptr);
          throw;
        }
        memory.end_write(c.key, ticket, nullptr);
        // Not removed: replaced or removed since the scan; a replacement's bytes were
        // added to the estimate after e0 was read.
        total -= c.bytes;
        if (removed) {
          evicted += 1;
          evicted_bytes += c.bytes;
        }
      }
    }
    store->adjust_size_estimate(
        bucket_name, [&](std::uint64_t e) { return sat_add(total, e >= e0 ? e - e0 : 0); });
    if (evicted > 0) {
      count(pending.evictions, evicted);
      BC_LOG(LogLevel::info,
             "evicted {} entries ({} bytes, {}) from {}: size limit {} bytes, {} bytes left",
             evicted, evicted_bytes, lru ? "lru" : "lrs", store->describe(), limit, total);
    }
  }

  // write() of many entries (Overwrite::yes, flags 0) through Storage::write_many: one
  // round trip per server on Redis. One result per entry: null when stored.
  std::vector<std::exception_ptr> write_many(const std::vector<StoreAccess::EntryToSet>& items) {
    std::vector<storage::BatchWrite> writes(items.size());
    std::vector<CachedValue> cvs(items.size());
    std::vector<MemoryCache::Ticket> tickets(items.size());
    for (std::size_t i = 0; i < items.size(); ++i) {
      const StoreAccess::EntryToSet& it = items[i];
      storage::EntryToWrite& entry = writes[i].entry;
      writes[i].key = it.key.digest;
      entry.header.backend_id = backend_id;
      entry.header.keymaker_id = keymaker_id;
      entry.header.created_us = it.created_us;
      entry.header.expires_us = it.expires_us;
      if (options.store_keys && it.key.has_bytes && it.key.bytes.size() <= kMaxStoredKey) {
        entry.key_bytes = it.key.bytes;
      } else {
        entry.header.flags |= format::kKeyOmitted;
      }
      entry.value = it.value;
      if (memory.enabled() && options.check_file) writes[i].written = &cvs[i].version;
    }
    for (std::size_t i = 0; i < items.size(); ++i) tickets[i] = memory.begin_write(writes[i].key);
    std::vector<std::exception_ptr> errors;
    try {
      errors = store->write_many(writes);
    } catch (...) {
      for (std::size_t i = 0; i < items.size(); ++i) {
        memory.end_write(writes[i].key, tickets[i], nullptr);
      }
      throw;
    }
    for (std::size_t i = 0; i < items.size(); ++i) {
      const bool stored = !errors[i] && memory.enabled();
      if (stored) {
        cvs[i].value = std::make_shared<std::string>(items[i].value);
        cvs[i].created_us = items[i].created_us;
        cvs[i].expires_us = items[i].expires_us;
      }
      memory.end_write(writes[i].key, tickets[i], stored ? &cvs[i] : nullptr);
    }
    std::uint64_t written = 0;
    std::uint64_t added = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (errors[i]) continue;
      written += 1;
      added += format::kHeaderSize + writes[i].entry.key_bytes.size() + items[i].value.size();
    }
    if (written > 0) {
      count(pending.writes, written);
      if (options.size_limit_bytes > 0) limit_size(added);
    }
    return errors;
  }

  // Reads and judges the stored entry (never the memory layer).
  ReadStatus read_stored(const Digest& key, storage::StoredEntry& e) {
    const ReadStatus found = status_of(store->read(key, e));
    return found == ReadStatus::found ? judge(key, e) : found;
  }

  // Removes the key's entry if it is not usable here (expired, corrupt, foreign, of a longer
  // lifetime) and still the one judged. Returns false if a usable entry is stored.
  bool remove_unusable(const Digest& key) {
    storage::EntryVersion before;
    if (!store->version(key, before)) return true;
    storage::StoredEntry e;
    const ReadStatus found = status_of(store->peek(key, e));
    if (found == ReadStatus::absent) return true;
    if (found == ReadStatus::found) {
      const ReadStatus st = judge(key, e);  // removes an expired entry itself
      if (st == ReadStatus::found) return false;
      if (st == ReadStatus::expired) return true;
      if (!(e.version == before)) return true;  // replaced meanwhile: judge again
    } else {
      storage::EntryVersion after;  // corrupt or foreign: only if nothing replaced it
      if (!store->version(key, after) || !(after == before)) return true;
    }
    const MemoryCache::Ticket ticket = memory.begin_write(key);
    try {
      store->remove_if_same(key, before);
    } catch (...) {
      memory.end_write(key, ticket, nullptr);
      throw;
    }
    memory.end_write(key, ticket, nullptr);
    return true;
  }

  // Expiry and flags for an entry given lifetime_us (see kBucketLifetime).
  std::pair<std::int64_t, std::uint32_t> expiry_for(std::int64_t created,
                                                    std::int64_t lifetime_us) const {
    if (lifetime_us < 0) return {expiry_after(created, options.lifetime.count()), 0};
    return {expiry_after(created, lifetime_us), format::kExplicitLifetime};
  }

  // Store::read without counting: memory layer, then the store.
  ReadStatus read_entry(const Digest& key, Entry& out);
  // The same, with a found value put in `sink` (out.value may then be null): read into it
  // directly when no memory layer needs a copy, else copied.
  ReadStatus read_entry(const Digest& key, Entry& out, storage::ValueSink* sink);

  ReadStatus peek(const Digest& key) {
    storage::StoredEntry e;
    const ReadStatus found = status_of(store->peek(key, e));
    return found == ReadStatus::found ? judge(key, e) : found;
  }

  // Whether an entry that expired at expires_us (past) is still within the stale window.
  bool within_stale_window(std::int64_t expires_us, std::int64_t now) const {
    const std::int64_t ttl = options.stale_ttl.count();
    return ttl > 0 && expires_us != 0 && now < saturating_add(expires_us, ttl);
  }

  // The stored entry of key if it is this bucket's, past its expiry but within the stale
  // window, and not of a longer lifetime than the bucket's.
  bool stale_entry(const Digest& key, Entry& out) {
    storage::StoredEntry e;
    if (status_of(store->read(key, e)) != ReadStatus::found) return false;
    const format::EntryHeader& h = e.header;
    if (h.backend_id != backend_id || h.keymaker_id != keymaker_id || h.key != key) return false;
    const std::int64_t now = now_us();
    if (!past_expiry(h.expires_us, now) || !within_stale_window(h.expires_us, now)) return false;
    if ((h.flags & format::kExplicitLifetime) == 0 &&
        outlives_bucket(h.created_us, h.expires_us, options.lifetime.count())) {
      return false;
    }
    out.value = std::move(e.value);
    out.created_us = h.created_us;
    out.expires_us = h.expires_us;
    return true;
  }

  // Whether a computed value may be stored (Options::entry_size_limit_bytes); logs if not.
  bool storable(const Digest& key, std::size_t size) const {
    const std::size_t limit = options.entry_size_limit_bytes;
    if (limit == 0 || size <= limit) return true;
    BC_LOG(LogLevel::info,
           "computed value of {} is {} bytes, over the entry size limit of {}: "
           "returned, not stored",
           key_label(key), size, limit);
    return false;
  }

  // Stores a computed value with the bucket's lifetime from now (unless disabled or over
  // the entry size limit) and returns it as an entry.
  Entry store_computed(const KeyRef& key, std::string&& computed) {
    auto value = std::make_shared<std::string>(std::move(computed));
    Entry e;
    e.created_us = now_us();
    e.expires_us = expiry_after(e.created_us, options.lifetime.count());
    if (storable(key.digest, value->size())) write(key, *value, e.created_us, e.expires_us, 0);
    e.value = std::move(value);
    return e;
  }

  // Background refreshes of stale-while-revalidate: one worker thread per store, started by
  // the first refresh, and a queue of at most kMaxQueued keys; a key queued or running is
  // not queued again, and a refresh finding the queue full is skipped. Across processes
  // the worker takes the key's single-flight lock without waiting: if another caller holds
  // it (it is refreshing or computing the key), this refresh is skipped; if the entry is
  // usable again once the lock is held, nothing is computed.
  //
  // close() (the Store's destruction) drops the queued refreshes and waits for the running
  // one to end, at most Options::lock_wait for its compute; a compute still running then
  // is abandoned: its thread is detached, keeps the storage alive until the compute
  // returns, then drops the result and the key's lock. The state lives in a shared_ptr the
  // thread holds, so nothing it touches is freed under it.
  struct Refresher : std::enable_shared_from_this<Refresher> {
    static constexpr std::size_t kMaxQueued = 16;
    enum class Phase { idle, prepare, compute, write };
    struct Job {
      Digest digest;
      std::string key_bytes;
      bool has_bytes = false;
      std::function<std::string()> compute;
    };

    explicit Refresher(Impl* o) : owner(o), storage(o->store) {}

    // Queues a refresh; false if the key is queued or running already, or the queue is
    // full, or the store is closing.
    bool submit(const KeyRef& key, std::function<std::string()> compute) {
      const std::lock_guard<std::mutex> lock(mu);
      if (closing || active.count(key.digest) != 0) return false;
      if (queue.size() >= kMaxQueued) {
        BC_LOG(LogLevel::debug, "refresh of {} skipped: {} refreshes queued already",
               key_label(key.digest), queue.size());
        return false;
      }
      queue.push_back(Job{key.digest, std::string(key.bytes), key.has_bytes, std::move(compute)});
      active.insert(key.digest);
      if (!worker.joinable()) {
        worker = std::thread([self = shared_from_this()] { self->run(); });
      }
      cv.notify_one();
      return true;
    }

    void run() {
      for (;;) {
        Job job;
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return closing || !queue.empty(); });
          if (closing) break;
          job = std::move(queue.front());
          queue.pop_front();
          phase = Phase::prepare;
        }
        // Phases other than compute run with the owner alive: close() waits for them.
        storage::LockOutcome outcome = storage::LockOutcome::held;
        std::unique_ptr<storage::KeyLock> key_lock =
            storage->lock(job.digest, std::chrono::steady_clock::now(), {}, outcome);
        bool go = false;
        if (!key_lock) {
          BC_LOG(LogLevel::debug, "refresh of {} skipped: another caller holds its lock",
                 key_label(job.digest));
        } else if (owner->peek(job.digest) == ReadStatus::found) {
          BC_LOG(LogLevel::debug, "refresh of {} skipped: refreshed by another caller",
                 key_label(job.digest));
        } else {
          go = true;
        }
        if (go) {
          {
            const std::lock_guard<std::mutex> lock(mu);
            phase = Phase::compute;
          }
          std::string value;
          bool computed = false;
          try {
            value = job.compute();
            computed = true;
          } catch (const std::exception& e) {
            BC_LOG(LogLevel::warn, "background refresh of {} failed (the stale value stays): {}",
                   key_label(job.digest), e.what());
          } catch (...) {
            BC_LOG(LogLevel::warn, "background refresh of {} failed (the stale value stays)",
                   key_label(job.digest));
          }
          {
            const std::lock_guard<std::mutex> lock(mu);
            if (abandoned) return;  // the owner is gone; key_lock drops with the storage alive
            phase = Phase::write;
          }
          if (computed) {
            try {
              const KeyRef ref =
                  job.has_bytes ? KeyRef(job.digest, job.key_bytes) : KeyRef(job.digest);
              owner->store_computed(ref, std::move(value));
              BC_LOG(LogLevel::debug, "refreshed {} in the background", key_label(job.digest));
            } catch (const std::exception& e) {
              BC_LOG(LogLevel::warn, "background refresh of {} could not be stored: {}",
                     key_label(job.digest), e.what());
            }
          }
        }
        key_lock.reset();
        job.compute = nullptr;  // the caller's state goes before the key leaves `active`
        const std::lock_guard<std::mutex> lock(mu);
        active.erase(job.digest);
        phase = Phase::idle;
        idle_cv.notify_all();
      }
      const std::lock_guard<std::mutex> lock(mu);
      exited = true;
      idle_cv.notify_all();
    }

    void close(std::chrono::milliseconds wait) {
      std::unique_lock<std::mutex> lock(mu);
      closing = true;
      queue.clear();
      cv.notify_all();
      if (!worker.joinable()) return;
      const auto deadline = deadline_after(wait);
      for (;;) {
        if (idle_cv.wait_until(lock, deadline, [&] { return exited; })) break;
        if (phase == Phase::compute) {
          abandoned = true;
          BC_LOG(LogLevel::warn,
                 "closing {}: a background refresh still computing after {} ms is abandoned "
                 "(its result will be dropped)",
                 storage->describe(), wait.count());
          lock.unlock();
          worker.detach();
          return;
        }
        // prepare or write: bounded store work; wait for it without a deadline.
        idle_cv.wait(lock, [&] { return exited || phase == Phase::compute; });
        if (exited) break;
      }
      lock.unlock();
      worker.join();
    }

    std::mutex mu;
    std::condition_variable cv;       // work queued or closing
    std::condition_variable idle_cv;  // a job ended or the worker exited
    std::deque<Job> queue;
    std::unordered_set<Digest, DigestHash> active;  // queued or running
    Phase phase = Phase::idle;
    bool closing = false;
    bool abandoned = false;
    bool exited = false;
    Impl* owner;
    std::shared_ptr<storage::Storage> storage;
    std::thread worker;
  };

  // Queues a background refresh of key (see Refresher).
  void refresh_later(const KeyRef& key, std::function<std::string()> compute) {
    std::shared_ptr<Refresher> r;
    {
      const std::lock_guard<std::mutex> lock(refresher_mu);
      if (!refresher) refresher = std::make_shared<Refresher>(this);
      r = refresher;
    }
    if (r->submit(key, std::move(compute))) {
      BC_LOG(LogLevel::debug, "serving {} stale; refresh queued", key_label(key.digest));
    }
  }

  Options options;
  std::string backend_id;
  std::string keymaker_id;
  std::shared_ptr<storage::Storage> store;  // shared with an abandoned refresh (Refresher)
  MemoryCache memory;
  std::atomic<bool> logged_longer_lifetime{false};

  std::string bucket_name;  // hex(backend)-hex(keymaker): names its counters and estimate
  bool counting;            // false with BUCKETCACHE_NO_STATS=1 (overhead benchmark)
  Pending pending;
  std::atomic<std::int64_t> next_flush_ms;
  std::mutex flush_mu;
  bool persist = true;  // under flush_mu; false once the store says it keeps no counters
  std::atomic<bool> logged_flush_failure{false};
  std::unique_ptr<std::array<std::atomic<std::int64_t>, kUseSlots>> use_slots;  // lru only

  // Keys in Store::update in this process: its threads wait here for each other (without
  // polling the store's lock), and updates of other keys never wait.
  std::mutex updating_mu;
  std::condition_variable updating_cv;
  std::unordered_set<Digest, DigestHash> updating;

  std::mutex refresher_mu;
  std::shared_ptr<Refresher> refresher;  // made by the first refresh

  class Updating {
   public:
    Updating(Impl& impl, const Digest& key, std::chrono::steady_clock::time_point deadline)
        : impl_(impl), key_(key) {
      std::unique_lock<std::mutex> lock(impl.updating_mu);
      if (!impl.updating_cv.wait_until(lock, deadline,
                                       [&] { return impl.updating.count(key) == 0; })) {
        throw Error(ErrorCode::timeout, "waited " + std::to_string(impl.options.lock_wait.count()) +
                                            " ms for another update of key " + key.hex() +
                                            " in this process");
      }
      impl.updating.insert(key);
    }
    ~Updating() {
      {
        const std::lock_guard<std::mutex> lock(impl_.updating_mu);
        impl_.updating.erase(key_);
      }
      impl_.updating_cv.notify_all();
    }
    Updating(const Updating&) = delete;
    Updating& operator=(const Updating&) = delete;

   private:
    Impl& impl_;
    Digest key_;
  };
};

Store StoreAccess::make(std::unique_ptr<storage::Storage> storage, std::string backend_id,
                        std::string keymaker_id, const Options& options) {
  check_id(backend_id, "backend");
  check_id(keymaker_id, "keymaker");
  return Store(std::make_unique<Store::Impl>(std::move(storage), std::move(backend_id),
                                             std::move(keymaker_id), checked(options)));
}

storage::Storage& StoreAccess::storage_of(Store& store) { return *store.impl_->store; }

std::vector<std::exception_ptr> StoreAccess::set_entries(Store& store,
                                                         const std::vector<EntryToSet>& items) {
  return store.impl_->write_many(items);
}

bool StoreAccess::serve_stale(Store& store, const KeyRef& key, const ComputeCall& call,
                              Entry& out) {
  Store::Impl& impl = *store.impl_;
  if (!call.background || impl.options.stale_ttl.count() <= 0) return false;
  if (!impl.stale_entry(key.digest, out) || older_than(out.created_us, call.max_age_us, now_us())) {
    return false;
  }
  impl.refresh_later(key, call.background);
  impl.count(impl.pending.hits);
  return true;
}

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
namespace {

// A duration option in milliseconds given as text: 1 ms .. 1 day.
std::chrono::milliseconds millis_option(const std::string& text, const char* what) {
  std::size_t used = 0;
  long long ms = 0;
  try {
    ms = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size() || ms < 1 || ms > 24LL * 3600 * 1000) {
    throw InvalidArgument(std::string(what) + " must be 1 ms .. 1 day, not '" + text + "'");
  }
  return std::chrono::milliseconds(ms);
}

cache::StoreLocation location_from(const std::vector<TextOptionValue>& list) {
  cache::StoreLocation where;
  where.store.clear();
  for (const TextOptionValue& v : list) {
    switch (v.key) {
      case 11:
        where.store = v.value;
        break;
      case 12:
        where.near_cache_dir = v.value;
        break;
      case 13:
        where.timeout = millis_option(v.value, "RemoteStore::timeout");
        break;
      case 20:
        where.near_cache_max_age = millis_option(v.value, "RemoteStore::near_cache_ttl");
        break;
      default:
        throw InvalidArgument("unknown remote store option " + std::to_string(v.key));
    }
  }
  if (where.store.empty() || where.store == "file") {
    throw InvalidArgument(
        "RemoteStore::url must be a redis:// or redis-cluster:// URL (a directory is opened "
        "by path)");
  }
  cache::check_store(where.store);
  return where;
}

}  // namespace

Store::Store(const std::vector<TextOptionValue>& where, std::string name, std::string backend_id,
             std::string keymaker_id, const std::vector<OptionValue>& list)
    : Store(cache::open_remote(location_from(where), std::move(name), std::move(backend_id),
                               std::move(keymaker_id), checked(options_from(list)))) {}

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

ReadStatus Store::get(const Digest& key, Entry& out) {
  if (impl_->options.disabled) return ReadStatus::absent;
  const ReadStatus status = impl_->read_entry(key, out);
  impl_->count(status == ReadStatus::found ? impl_->pending.hits : impl_->pending.misses);
  return status;
}

namespace {
// Resizes the caller's string: only growth is zero-filled; its capacity is reused.
class StringSink final : public storage::ValueSink {
 public:
  explicit StringSink(std::string& s) : s_(s) {}
  char* allocate(std::size_t n) override {
    s_.resize(n);
    return s_.data();
  }

 private:
  std::string& s_;
};
}  // namespace

ReadStatus Store::get(const Digest& key, Entry& out, std::string& value) {
  StringSink sink(value);
  return StoreAccess::get_into(*this, key, out, sink);
}

ReadStatus Store::Impl::read_entry(const Digest& key, Entry& out) {
  return read_entry(key, out, nullptr);
}

ReadStatus Store::Impl::read_entry(const Digest& key, Entry& out, storage::ValueSink* sink) {
  CachedValue cv;
  if (memory_hit(key, cv)) {
    BC_LOG(LogLevel::trace, "memory hit {}", key_label(key));
  } else {
    const MemoryCache::Ticket ticket = memory.read_ticket(key);
    storage::StoredEntry e;
    if (!memory.enabled()) e.sink = sink;  // nothing to fill: straight into the sink
    e.want_version = memory.enabled() && options.check_file;  // else only to remove it
    ReadStatus status = Impl::status_of(store->read(key, e));
    if (status == ReadStatus::found) status = judge(key, e);
    if (status != ReadStatus::found) {
      if (status == ReadStatus::corrupt || status == ReadStatus::foreign) {
        BC_LOG(LogLevel::warn, "entry {} in {} is {}; treated as a miss", key_label(key),
               store->describe(), status == ReadStatus::corrupt ? "corrupt" : "foreign");
      } else if (status != ReadStatus::longer_lifetime) {
        BC_LOG(LogLevel::debug, "miss {} ({})", key_label(key),
               status == ReadStatus::absent ? "absent" : "expired");
      }
      return status;
    }
    BC_LOG(LogLevel::debug, "file hit {}", key_label(key));
    if (e.value == nullptr) {  // read into the sink
      if (use_slots) note_use(key);
      out.value = nullptr;
      out.created_us = e.header.created_us;
      out.expires_us = e.header.expires_us;
      return ReadStatus::found;
    }
    cv.value = std::move(e.value);
    cv.created_us = e.header.created_us;
    cv.expires_us = e.header.expires_us;
    cv.version = e.version;
    memory.fill(key, cv, ticket);
  }
  if (use_slots) note_use(key);
  if (sink != nullptr && !cv.value->empty()) {
    std::memcpy(sink->allocate(cv.value->size()), cv.value->data(), cv.value->size());
  } else if (sink != nullptr) {
    sink->allocate(0);
  }
  out.value = std::move(cv.value);
  out.created_us = cv.created_us;
  out.expires_us = cv.expires_us;
  return ReadStatus::found;
}

ReadStatus StoreAccess::get_into(Store& store, const Digest& key, Entry& out,
                                 storage::ValueSink& sink) {
  Store::Impl& impl = *store.impl_;
  if (impl.options.disabled) return ReadStatus::absent;
  const ReadStatus status = impl.read_entry(key, out, &sink);
  impl.count(status == ReadStatus::found ? impl.pending.hits : impl.pending.misses);
  return status;
}

Entry Store::get_or_compute(const KeyRef& key, const std::function<std::string()>& compute,
                            bool* hit) {
  return get_or_compute(key, compute, ComputeCall{}, hit);
}

Entry Store::get_or_compute(const KeyRef& key, const std::function<std::string()>& compute,
                            const ComputeCall& call, bool* hit) {
  const Digest& d = key.digest;
  if (hit != nullptr) *hit = false;
  if (impl_->options.disabled || call.skip_cache) {
    const ReentryGuard computing(this, d);
    std::string value = compute();
    Entry e;
    e.created_us = now_us();
    e.expires_us = expiry_after(e.created_us, impl_->options.lifetime.count());
    e.value = std::make_shared<std::string>(std::move(value));
    return e;
  }
  // A usable entry, unless the call wants a fresh one (refresh) or a younger one (max age).
  // The clock is read only for a max age (a hit is otherwise a memory lookup).
  auto usable = [&](Entry& e) {
    return impl_->read_entry(d, e) == ReadStatus::found &&
           (call.max_age_us <= 0 || !older_than(e.created_us, call.max_age_us, now_us()));
  };
  Entry e;
  if (!call.refresh) {
    if (usable(e)) {
      impl_->count(impl_->pending.hits);
      if (hit != nullptr) *hit = true;
      return e;
    }
    if (call.background && impl_->options.stale_ttl.count() > 0 && impl_->stale_entry(d, e) &&
        !older_than(e.created_us, call.max_age_us, now_us())) {
      impl_->refresh_later(key, call.background);
      impl_->count(impl_->pending.hits);
      if (hit != nullptr) *hit = true;
      return e;
    }
  }
  const ReentryGuard computing(this, d);
  const auto deadline = deadline_after(impl_->options.lock_wait);
  storage::LockOutcome outcome = storage::LockOutcome::held;
  std::unique_ptr<storage::KeyLock> lock;
  if (call.refresh) {
    lock = impl_->store->lock(d, deadline, {}, outcome);
  } else {
    lock = impl_->store->lock(
        d, deadline, [&] { return impl_->peek(d) == ReadStatus::found; }, outcome);
    if (outcome == storage::LockOutcome::held || outcome == storage::LockOutcome::done) {
      // Whoever held the lock before us may have stored the value meanwhile.
      if (usable(e)) {
        impl_->count(impl_->pending.hits);
        if (hit != nullptr) *hit = true;
        return e;
      }
      if (!lock) {
        // It was there a moment ago but is gone (erased, expired): wait for the lock again.
        lock = impl_->store->lock(d, deadline, {}, outcome);
      }
    }
  }
  if (outcome == storage::LockOutcome::timed_out) {
    BC_LOG(LogLevel::warn, "waited {} ms for another computation of {}; computing here",
           impl_->options.lock_wait.count(), key_label(d));
  } else if (outcome == storage::LockOutcome::unavailable) {
    BC_LOG(LogLevel::warn, "no lock can be taken for {} in {}; computing without single flight",
           key_label(d), impl_->store->describe());
  }
  impl_->count(impl_->pending.misses);
  return impl_->store_computed(key, compute());
}

void Store::set_ex(const KeyRef& key, std::string_view value, std::int64_t lifetime_us) {
  const std::int64_t created = now_us();
  const auto [expires, flags] = impl_->expiry_for(created, lifetime_us);
  impl_->write(key, value, created, expires, flags);
}

bool Store::add(const KeyRef& key, std::string_view value, std::int64_t lifetime_us) {
  // Each round either stores, finds a usable entry, or removes an unusable one; another
  // process replacing entries all the while could keep us going, so the rounds are bounded.
  for (int attempt = 0; attempt < 64; ++attempt) {
    const std::int64_t created = now_us();
    const auto [expires, flags] = impl_->expiry_for(created, lifetime_us);
    if (impl_->write(key, value, created, expires, flags, storage::Overwrite::no)) {
      BC_LOG(LogLevel::debug, "add {}: stored", key_label(key.digest));
      return true;
    }
    if (!impl_->remove_unusable(key.digest)) {
      BC_LOG(LogLevel::debug, "add {}: a usable entry exists", key_label(key.digest));
      return false;
    }
  }
  throw IoError("add: the entry of key " + key.digest.hex() + " in " + impl_->store->describe() +
                    " kept changing; gave up after 64 attempts",
                EAGAIN);
}

bool Store::touch(const Digest& key, std::int64_t lifetime_us) {
  storage::StoredEntry e;
  const ReadStatus found = Impl::status_of(impl_->store->peek(key, e));
  if (found != ReadStatus::found || impl_->judge(key, e) != ReadStatus::found) return false;
  const std::int64_t expires =
      expiry_after(now_us(), lifetime_us < 0 ? impl_->options.lifetime.count() : lifetime_us);
  // Always an explicit lifetime: counted from creation, the new one is longer than the
  // bucket's, and the lifetime rule would make the touched entry a miss.
  const std::uint32_t flags = (e.header.flags & format::kKeyOmitted) | format::kExplicitLifetime;
  const MemoryCache::Ticket ticket = impl_->memory.begin_write(key);
  bool touched = false;
  try {
    touched = impl_->store->touch(key, expires, flags);
  } catch (...) {
    impl_->memory.end_write(key, ticket, nullptr);
    throw;
  }
  impl_->memory.end_write(key, ticket, nullptr);  // the next read loads the new expiry
  BC_LOG(LogLevel::debug, "touch {} ({})", key_label(key), touched ? "new expiry" : "absent");
  return touched;
}

Entry Store::update(const KeyRef& key, const std::function<std::string(const Entry* current)>& f) {
  const Digest& d = key.digest;
  const ReentryGuard computing(this, d);
  // Threads of this process queue here, so that one at a time polls the store's lock.
  const auto deadline = deadline_after(impl_->options.lock_wait);
  const Impl::Updating in_process(*impl_, d, deadline);
  storage::LockOutcome outcome = storage::LockOutcome::held;
  std::unique_ptr<storage::KeyLock> lock = impl_->store->lock(d, deadline, {}, outcome);
  if (!lock) {
    if (outcome == storage::LockOutcome::unavailable) {
      throw Error(ErrorCode::unsupported, "no lock can be taken for key " + d.hex() + " in " +
                                              impl_->store->describe() +
                                              ": an atomic update is impossible");
    }
    throw Error(ErrorCode::timeout, "waited " + std::to_string(impl_->options.lock_wait.count()) +
                                        " ms for the lock of key " + d.hex() + " in " +
                                        impl_->store->describe());
  }
  storage::StoredEntry e;
  const ReadStatus status = impl_->read_stored(d, e);
  Entry current;
  bool explicit_lifetime = false;
  if (status == ReadStatus::found) {
    current.value = std::move(e.value);
    current.created_us = e.header.created_us;
    current.expires_us = e.header.expires_us;
    explicit_lifetime = (e.header.flags & format::kExplicitLifetime) != 0;
  }
  auto value = std::make_shared<std::string>(f(status == ReadStatus::found ? &current : nullptr));
  const std::int64_t created = now_us();
  std::int64_t expires = expiry_after(created, impl_->options.lifetime.count());
  std::uint32_t flags = 0;
  if (explicit_lifetime) {
    expires = current.expires_us;
    flags = format::kExplicitLifetime;
  }
  impl_->write(key, *value, created, expires, flags);
  Entry out;
  out.value = std::move(value);
  out.created_us = created;
  out.expires_us = expires;
  return out;
}

bool Store::pop(const Digest& key, Entry& out) {
  for (int attempt = 0; attempt < 64; ++attempt) {
    storage::StoredEntry e;
    if (impl_->read_stored(key, e) != ReadStatus::found) return false;
    const MemoryCache::Ticket ticket = impl_->memory.begin_write(key);
    bool removed = false;
    try {
      removed = impl_->store->remove_if_same(key, e.version);
    } catch (...) {
      impl_->memory.end_write(key, ticket, nullptr);
      throw;
    }
    impl_->memory.end_write(key, ticket, nullptr);
    if (removed) {
      out.value = std::move(e.value);
      out.created_us = e.header.created_us;
      out.expires_us = e.header.expires_us;
      return true;
    }
    // Replaced or removed since it was read: read again.
  }
  return false;
}

std::uint64_t Store::clear() {
  const storage::ScanResult r = impl_->store->scan(
      [&](const storage::ScanItem& item) {
        const format::EntryHeader& h = item.entry.header;
        const bool ours = h.backend_id == impl_->backend_id && h.keymaker_id == impl_->keymaker_id;
        return ours ? storage::ScanAction::remove : storage::ScanAction::keep;
      },
      /*exclusive=*/true, /*remove_damaged=*/false);
  impl_->memory.clear();  // also voids fills of reads that began before
  BC_LOG(LogLevel::info, "cleared {} entries ({} bytes) from {}", r.removed_files, r.removed_bytes,
         impl_->store->describe());
  return r.removed_files;
}

bool Store::for_each(const std::function<bool(const EntryInfo&)>& fn) {
  bool stopped = false;
  const std::int64_t lifetime = impl_->options.lifetime.count();
  impl_->store->scan(
      [&](const storage::ScanItem& item) {
        const format::EntryHeader& h = item.entry.header;
        if (h.backend_id != impl_->backend_id || h.keymaker_id != impl_->keymaker_id ||
            h.key != item.key || past_expiry(h.expires_us, now_us())) {
          return storage::ScanAction::keep;
        }
        if ((h.flags & format::kExplicitLifetime) == 0 &&
            outlives_bucket(h.created_us, h.expires_us, lifetime)) {
          return storage::ScanAction::keep;
        }
        EntryInfo info;
        info.key_bytes = item.entry.key_bytes;
        info.digest = item.key;
        info.size = h.value_length;
        info.created_us = h.created_us;
        info.expires_us = h.expires_us;
        if (fn(info)) return storage::ScanAction::keep;
        stopped = true;
        return storage::ScanAction::stop;
      },
      /*exclusive=*/false, /*remove_damaged=*/false);
  return !stopped;
}

std::uint64_t Store::count() {
  std::uint64_t n = 0;
  for_each([&](const EntryInfo&) {
    ++n;
    return true;
  });
  return n;
}

Stats Store::stats(bool scan_store) {
  storage::Counters c;
  {
    const std::lock_guard<std::mutex> lock(impl_->flush_mu);
    c = impl_->persist ? impl_->flush_locked(false) : impl_->local_counts();
  }
  Stats s;
  s.hits = c.hits;
  s.misses = c.misses;
  s.writes = c.writes;
  s.evictions = c.evictions;
  s.expired = c.expired;
  if (scan_store) {
    impl_->store->scan(
        [&](const storage::ScanItem& item) {
          const format::EntryHeader& h = item.entry.header;
          if (h.backend_id == impl_->backend_id && h.keymaker_id == impl_->keymaker_id) {
            s.entries += 1;
            s.bytes += item.entry.stored_bytes;
          }
          return storage::ScanAction::keep;
        },
        /*exclusive=*/false, /*remove_damaged=*/false);
  }
  return s;
}

void Store::reset_stats() {
  const std::lock_guard<std::mutex> lock(impl_->flush_mu);
  if (impl_->persist) {
    impl_->flush_locked(true);
  } else {
    impl_->pending.hits.store(0, std::memory_order_relaxed);
    impl_->pending.misses.store(0, std::memory_order_relaxed);
    impl_->pending.writes.store(0, std::memory_order_relaxed);
    impl_->pending.evictions.store(0, std::memory_order_relaxed);
    impl_->pending.expired.store(0, std::memory_order_relaxed);
  }
  BC_LOG(LogLevel::info, "statistics of {} reset", impl_->store->describe());
}

bool Store::contains(const Digest& key) {
  if (impl_->options.disabled) return false;
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

bool Store::unload_key(const Digest& key) { return impl_->memory.erase(key); }

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
  impl_->count(impl_->pending.expired, r.removed_files - r.damaged_removed);
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
    case OptionKey::size_limit_bytes:
      return o.size_limit_bytes >
                     static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())
                 ? std::numeric_limits<std::int64_t>::max()
                 : static_cast<std::int64_t>(o.size_limit_bytes);
    case OptionKey::eviction:
      return static_cast<std::int64_t>(o.eviction);
    case OptionKey::stale_ttl_us:
      return o.stale_ttl.count();
    case OptionKey::disabled:
      return o.disabled ? 1 : 0;
    case OptionKey::entry_size_limit_bytes:
      return static_cast<std::int64_t>(o.entry_size_limit_bytes);
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
