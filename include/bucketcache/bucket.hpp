// Bucket<Backend, KeyMaker>: the typed, header-only front over Store.
//
//   bucketcache::Bucket<bucketcache::JsonBackend> b("/tmp/cache", opts);
//   b.set(std::vector<int>{1, 2}, std::string("value"));
//   std::string v = b.get<std::string>(std::vector<int>{1, 2});   // throws KeyError
//
// Backend (compile-time policy) turns values into bytes:
//   static constexpr std::string_view id;           // recorded in entries, <= 15 chars
//   struct Config { ... };                          // backend options
//   template <class T> static void dump(const T&, std::string& out, const Config&);
//   template <class T> static T load(std::string_view bytes, const Config&);  // throws
// KeyMaker turns keys into digests (keys.hpp: DefaultKeyMaker, StreamingDefaultKeyMaker,
// RawKeyMaker):
//   static constexpr std::string_view id;
//   template <class K> Digest make_digest(const K&, std::string_view backend_id) const;
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "bucketcache/error.hpp"
#include "bucketcache/keys.hpp"
#include "bucketcache/store.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

class DeferredWrites;

// BucketOperations: the typed operations of Bucket, DeferredWriteBucket and
// deferred_write() scopes (each derives from it): set, get, try_get, contains, erase,
// unload_key, get_or_compute, digest. Keys go through KeyMaker, values through Backend.
// Derived provides storage() (a Store or DeferredWrites), store(), config(), keymaker().
template <class Derived, class Backend, class KeyMaker>
class BucketOperations {
 public:
  using backend_type = Backend;
  using keymaker_type = KeyMaker;
  using Config = typename Backend::Config;

  // Stores value under key; throws InvalidArgument (bad key), SerializationError, IoError.
  template <class K, class V>
  void set(const K& key, const V& value) {
    with_key(key, [&](const KeyRef& k) {
      std::string bytes;
      dump_value(value, bytes);
      self().storage().set(k, bytes);
    });
  }

  // Returns the value for key; throws KeyError when there is no usable entry. A value the
  // backend cannot read as V counts as a miss (the entry is kept).
  template <class V, class K>
  V get(const K& key) {
    std::optional<V> v = try_get<V>(key);
    if (!v) throw KeyError("no entry for key in bucket " + self().store().path());
    return std::move(*v);
  }

  // Like get(), with std::nullopt for a miss.
  template <class V, class K>
  std::optional<V> try_get(const K& key) {
    std::int64_t expires_us = 0;
    return try_get<V>(key, expires_us);
  }

  // Like try_get(), also giving the entry's expiry (microseconds since the epoch; 0: never).
  template <class V, class K>
  std::optional<V> try_get(const K& key, std::int64_t& expires_us) {
    Entry e;
    const Digest d = digest(key);
    if (self().storage().get(d, e) != ReadStatus::found) return std::nullopt;
    expires_us = e.expires_us;
    return load_entry<V>(d, e);
  }

  // RawBackend buckets: the value of key into `value`, reusing its capacity (see
  // Store::get(key, out, value): no zero-fill of a string reused across gets). False for a
  // miss (value's contents then unspecified).
  template <class K>
  bool try_get_into(const K& key, std::string& value) {
    static_assert(Backend::id == std::string_view("raw"),
                  "try_get_into: the stored bytes are the value only with RawBackend");
    Entry e;
    return self().storage().get(digest(key), e, value) == ReadStatus::found;
  }

  // Whether a usable entry exists (reads the entry's header only).
  template <class K>
  bool contains(const K& key) {
    return self().storage().contains(digest(key));
  }

  // Deletes the entry (memory and disk). Returns whether there was one.
  template <class K>
  bool erase(const K& key) {
    return self().storage().erase(digest(key));
  }

  // Drops the key from the memory layer; the file stays. Returns whether it was loaded.
  template <class K>
  bool unload_key(const K& key) {
    return self().storage().unload_key(digest(key));
  }

  // ---- Cache management (docs/cache-management.md). On a deferred bucket or scope these
  // first write the pending deferred writes (clear() drops them instead).

  // set() with the entry's own lifetime: > 0 that long, 0 never expires, negative the
  // bucket's. An entry of its own lifetime is honoured as recorded (no lifetime rule).
  template <class K, class V>
  void set(const K& key, const V& value, std::chrono::microseconds lifetime) {
    with_key(key, [&](const KeyRef& k) {
      std::string bytes;
      dump_value(value, bytes);
      through().set_ex(k, bytes, lifetime.count());
    });
  }

  // Stores value only if key has no usable entry, atomically across processes (Store::add).
  // Returns false, changing nothing, if one exists.
  template <class K, class V>
  bool add(const K& key, const V& value,
           std::chrono::microseconds lifetime = std::chrono::microseconds(kBucketLifetime)) {
    return with_key(key, [&](const KeyRef& k) {
      std::string bytes;
      dump_value(value, bytes);
      return through().add(k, bytes, lifetime.count());
    });
  }

  // New expiry for key's usable entry: now + lifetime (0 never; negative the bucket's).
  // Returns false if there is none.
  template <class K>
  bool touch(const K& key,
             std::chrono::microseconds lifetime = std::chrono::microseconds(kBucketLifetime)) {
    return through().touch(digest(key), lifetime.count());
  }

  // Adds delta to key's std::int64_t value (absent: starts at initial) and returns the new
  // value; atomic against every other incr/decr of the key in any process (Store::update).
  // Throws InvalidArgument if the stored value is not an integer Backend can read, or the sum
  // overflows (the value is unchanged).
  template <class K>
  std::int64_t incr(const K& key, std::int64_t delta = 1, std::int64_t initial = 0) {
    return with_key(key, [&](const KeyRef& k) {
      std::int64_t result = 0;
      through().update(k, [&](const Entry* current) {
        std::int64_t base = initial;
        if (current != nullptr) {
          try {
            base = Backend::template load<std::int64_t>(*current->value, self().config());
          } catch (const std::exception& e) {
            throw InvalidArgument(std::string("incr: the stored value is not an integer: ") +
                                  e.what());
          }
        }
        if (__builtin_add_overflow(base, delta, &result)) {
          throw InvalidArgument("incr: " + std::to_string(base) + " + " + std::to_string(delta) +
                                " overflows int64; the value is unchanged");
        }
        std::string bytes;
        dump_value(result, bytes);
        return bytes;
      });
      return result;
    });
  }
  template <class K>
  std::int64_t decr(const K& key, std::int64_t delta = 1, std::int64_t initial = 0) {
    if (delta == std::numeric_limits<std::int64_t>::min()) {
      throw InvalidArgument("decr: delta overflows int64");
    }
    return incr(key, -delta, initial);
  }

  // Removes key's usable entry and returns its value (std::nullopt: none). Of concurrent
  // pops of one entry, in any processes, exactly one gets it. A value Backend cannot read as
  // V is still removed, and std::nullopt returned.
  template <class V, class K>
  std::optional<V> pop(const K& key) {
    Entry e;
    const Digest d = digest(key);
    if (!through().pop(d, e)) return std::nullopt;
    return load_entry<V>(d, e);
  }

  // try_get() where an entry created longer ago than max_age (> 0) is a miss (not deleted).
  template <class V, class K>
  std::optional<V> try_get_within(const K& key, std::chrono::microseconds max_age) {
    Entry e;
    const Digest d = digest(key);
    if (self().storage().get(d, e) != ReadStatus::found) return std::nullopt;
    const auto now = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::system_clock::now().time_since_epoch());
    if (older_than(e.created_us, max_age.count(), now.count())) return std::nullopt;
    return load_entry<V>(d, e);
  }

  // try_get() of each key, in order.
  template <class V, class K>
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) {
    std::vector<std::optional<V>> out;
    out.reserve(keys.size());
    for (const K& k : keys) out.push_back(try_get<V>(k));
    return out;
  }

  // set() of each (key, value) pair, in order; each entry is atomic, the batch is not.
  template <class K, class V>
  void set_many(const std::vector<std::pair<K, V>>& items) {
    for (const auto& [k, v] : items) set(k, v);
  }

  // Removes every entry of this bucket (its backend and keymaker) from the store; other
  // buckets' entries in the directory stay. Returns how many were removed.
  std::uint64_t clear() {
    if constexpr (std::is_same_v<std::decay_t<decltype(self().storage())>, DeferredWrites>) {
      self().storage().discard();
    }
    return self().store().clear();
  }

  // Calls fn(const EntryInfo&) for every usable entry of this bucket until it returns false
  // (Store::for_each); returns false if fn stopped it.
  template <class F>
  bool for_each(F&& fn) {
    return through().for_each(std::forward<F>(fn));
  }

  // Usable entries of this bucket in the store.
  std::uint64_t size() { return through().count(); }

  // Statistics of the bucket (Store::stats: every process's counters, the store's entries
  // and bytes now) and their reset (Store::reset_stats).
  Stats stats() { return self().store().stats(); }
  void reset_stats() { self().store().reset_stats(); }

  // Single-flight read-through (Store::get_or_compute): returns the cached V for key, or
  // calls compute() (returning V), stores the result and returns it. *hit (optional) says
  // which; *expires_us (optional) gets the entry's expiry. A cached value that cannot be
  // read as V is recomputed and overwritten.
  template <class V, class K, class F>
  V get_or_compute(const K& key, F&& compute, bool* hit = nullptr,
                   std::int64_t* expires_us = nullptr) {
    return with_key(key, [&](const KeyRef& k) {
      return get_or_compute_as<V>(k, std::forward<F>(compute), hit, expires_us);
    });
  }

  // get_or_compute() with stale-while-revalidate (Options::stale_ttl): background() is a
  // self-contained, thread-safe callable returning V that a library thread may call after
  // this returns, to refresh an entry served stale (a hit whose *expires_us is past). On a
  // deferred bucket the entry served stale is the store's (a pending value is never
  // stale), and the refresh is written to the store directly, not kept pending
  // (DeferredWrites::get_or_compute).
  template <class V, class K, class F, class B>
  V get_or_compute_stale(const K& key, F&& compute, B background, bool* hit = nullptr,
                         std::int64_t* expires_us = nullptr) {
    std::function<std::string()> bg = [background = std::move(background),
                                       config = self().config()]() mutable {
      std::string bytes;
      Backend::dump(V(background()), bytes, config);
      return bytes;
    };
    return with_key(key, [&](const KeyRef& k) {
      return get_or_compute_as<V>(k, std::forward<F>(compute), hit, expires_us, std::move(bg));
    });
  }

 private:
  // Calls f with key's KeyRef: with the key's bytes for the built-in keymakers that have
  // them at hand (DefaultKeyMaker's canonical form, RawKeyMaker's bytes), so the entry
  // keeps its key; the digest alone otherwise (a streaming or user keymaker).
  // The Store, after writing the pending writes of a deferred bucket.
  Store& through() {
    if constexpr (std::is_same_v<std::decay_t<decltype(self().storage())>, DeferredWrites>) {
      self().storage().sync();
    }
    return self().store();
  }

  template <class K, class F>
  decltype(auto) with_key(const K& key, F&& f) const {
    if constexpr (std::is_same_v<KeyMaker, DefaultKeyMaker>) {
      return with_canonical_key(key, [&](std::string_view bytes) -> decltype(auto) {
        return f(KeyRef(digest_key(Backend::id, KeyMaker::id, bytes), bytes));
      });
    } else if constexpr (std::is_same_v<KeyMaker, RawKeyMaker>) {
      const std::string_view bytes = RawKeyMaker::bytes(key);
      return f(KeyRef(digest_key(Backend::id, KeyMaker::id, bytes), bytes));
    } else {
      return f(KeyRef(digest(key)));
    }
  }

  template <class V, class F>
  V get_or_compute_as(const KeyRef& k, F&& compute, bool* hit, std::int64_t* expires_us,
                      std::function<std::string()> background = {}) {
    const Digest& d = k.digest;
    std::optional<V> computed;
    auto produce = [&]() {
      computed.emplace(compute());
      std::string bytes;
      dump_value(*computed, bytes);
      return bytes;
    };
    bool was_hit = false;
    ComputeCall call;
    call.background = std::move(background);
    // Through a reference: the std::function holds it without allocating.
    const Entry e = self().storage().get_or_compute(k, std::ref(produce), call, &was_hit);
    if (!was_hit) {
      if (hit != nullptr) *hit = false;
      if (expires_us != nullptr) *expires_us = e.expires_us;
      return std::move(*computed);
    }
    if (std::optional<V> v = load_value<V>(d, *e.value)) {
      if (hit != nullptr) *hit = true;
      if (expires_us != nullptr) *expires_us = e.expires_us;
      return std::move(*v);
    }
    // Unreadable as V: replace it.
    V fresh = compute();
    std::string bytes;
    dump_value(fresh, bytes);
    self().storage().set(k, bytes);
    if (hit != nullptr) *hit = false;
    if (expires_us != nullptr) {
      Entry again;
      *expires_us = self().storage().get(d, again) == ReadStatus::found ? again.expires_us : 0;
    }
    return fresh;
  }

 public:
  // The digest that names key's entry in this bucket.
  template <class K>
  Digest digest(const K& key) const {
    return self().keymaker().make_digest(key, Backend::id);
  }

  const std::string& path() const { return self().store().path(); }
  std::chrono::microseconds lifetime() const {
    return std::chrono::microseconds(self().store().option(OptionKey::lifetime_us));
  }

 protected:
  template <class V>
  void dump_value(const V& value, std::string& out) const {
    try {
      Backend::dump(value, out, self().config());
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw SerializationError(std::string("backend ") + std::string(Backend::id) +
                               " cannot serialize value: " + e.what());
    }
  }

  template <class V>
  std::optional<V> load_value(const Digest& d, const std::string& bytes) const {
    try {
      return Backend::template load<V>(bytes, self().config());
    } catch (const std::exception& e) {
      self().store().log_unreadable_value(d, e.what());
      return std::nullopt;
    }
  }

  // load_value() of an entry's value; a value only `e` refers to is handed to the backend
  // as an rvalue (RawBackend then moves it into a std::string instead of copying it). The
  // library never allocates a value as a const object (see Entry).
  template <class V>
  std::optional<V> load_entry(const Digest& d, Entry& e) const {
    if (e.value.use_count() != 1) return load_value<V>(d, *e.value);
    try {
      return Backend::template load<V>(std::move(const_cast<std::string&>(*e.value)),
                                       self().config());
    } catch (const std::exception& ex) {
      self().store().log_unreadable_value(d, ex.what());
      return std::nullopt;
    }
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  const Derived& self() const { return static_cast<const Derived&>(*this); }
};

// A bucket: a directory of entries, values through Backend, keys through KeyMaker.
// Thread-safe. Movable, not copyable.
template <class Backend, class KeyMaker = DefaultKeyMaker>
class Bucket : public BucketOperations<Bucket<Backend, KeyMaker>, Backend, KeyMaker> {
 public:
  using Config = typename Backend::Config;

  // Opens (creating with parents) the bucket directory. Throws InvalidArgument (negative
  // lifetime, bad options) or IoError (the directory cannot be created).
  explicit Bucket(std::string path, Options options = {}, Config config = {},
                  KeyMaker keymaker = {})
      : store_(std::move(path), std::string(Backend::id), std::string(KeyMaker::id), options),
        config_(std::move(config)),
        keymaker_(std::move(keymaker)) {}
  // Opens bucket `name` on a Redis server or cluster (docs/redis.md): the same operations,
  // entries shared with every language using that server. Throws InvalidArgument (bad URL,
  // name or options) or IoError (the server cannot be reached or refuses the credentials).
  Bucket(const RemoteStore& where, std::string name, Options options = {}, Config config = {},
         KeyMaker keymaker = {})
      : store_(where, std::move(name), std::string(Backend::id), std::string(KeyMaker::id),
               options),
        config_(std::move(config)),
        keymaker_(std::move(keymaker)) {}

  // Deletes this bucket's expired entries and stale temp files (docs/on-disk-format.md).
  PrunedFilesInfo prune_directory() { return store_.prune_directory(); }

  const Config& config() const { return config_; }
  const KeyMaker& keymaker() const { return keymaker_; }
  Store& store() { return store_; }
  const Store& store() const { return store_; }

 private:
  friend class BucketOperations<Bucket, Backend, KeyMaker>;
  Store& storage() { return store_; }

  Store store_;
  Config config_;
  KeyMaker keymaker_;
};

BUCKETCACHE_NAMESPACE_END
