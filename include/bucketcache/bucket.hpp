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
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "bucketcache/error.hpp"
#include "bucketcache/keys.hpp"
#include "bucketcache/store.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

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
    if (!self().storage().get(d, e)) return std::nullopt;
    expires_us = e.expires_us;
    return load_value<V>(d, *e.value);
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
    return self().storage().unload(digest(key));
  }

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

 private:
  // Calls f with key's KeyRef: with the key's bytes for the built-in keymakers that have
  // them at hand (DefaultKeyMaker's canonical form, RawKeyMaker's bytes), so the entry
  // keeps its key; the digest alone otherwise (a streaming or user keymaker).
  template <class K, class F>
  decltype(auto) with_key(const K& key, F&& f) const {
    if constexpr (std::is_same_v<KeyMaker, DefaultKeyMaker>) {
      const std::string bytes = self().keymaker().canonical(key);
      return f(KeyRef(digest_key(Backend::id, KeyMaker::id, bytes), bytes));
    } else if constexpr (std::is_same_v<KeyMaker, RawKeyMaker>) {
      const std::string_view bytes = RawKeyMaker::bytes(key);
      return f(KeyRef(digest_key(Backend::id, KeyMaker::id, bytes), bytes));
    } else {
      return f(KeyRef(digest(key)));
    }
  }

  template <class V, class F>
  V get_or_compute_as(const KeyRef& k, F&& compute, bool* hit, std::int64_t* expires_us) {
    const Digest& d = k.digest;
    std::optional<V> computed;
    auto produce = [&]() {
      computed.emplace(compute());
      std::string bytes;
      dump_value(*computed, bytes);
      return bytes;
    };
    bool was_hit = false;
    Entry e = self().storage().get_or_compute(k, produce, &was_hit);
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
      *expires_us = self().storage().get(d, again) ? again.expires_us : 0;
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
