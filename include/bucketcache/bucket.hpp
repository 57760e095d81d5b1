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

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "bucketcache/error.hpp"
#include "bucketcache/keys.hpp"
#include "bucketcache/store.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace detail {
// Logs (at warning level) a value that failed to deserialize; defined in the library.
BUCKETCACHE_API void log_unreadable_value(const Store& store, const Digest& key,
                                          const char* what) noexcept;
}  // namespace detail

template <class Backend, class KeyMaker = DefaultKeyMaker>
class Bucket {
 public:
  using backend_type = Backend;
  using keymaker_type = KeyMaker;
  using Config = typename Backend::Config;

  explicit Bucket(std::string path, Options options = {}, Config config = {},
                  KeyMaker keymaker = {})
      : store_(std::move(path), std::string(Backend::id), std::string(KeyMaker::id), options),
        config_(std::move(config)),
        keymaker_(std::move(keymaker)) {}

  // Stores value under key; throws InvalidArgument (bad key), SerializationError, IoError.
  template <class K, class V>
  void set(const K& key, const V& value) {
    Digest d = digest(key);
    std::string bytes;
    dump_value(value, bytes);
    store_.set(d, bytes);
  }

  // Returns the value for key; throws KeyError when there is no usable entry. A value the
  // backend cannot read as V counts as a miss.
  template <class V, class K>
  V get(const K& key) {
    std::optional<V> v = try_get<V>(key);
    if (!v) throw KeyError("no entry for key in bucket " + store_.path());
    return std::move(*v);
  }

  template <class V, class K>
  std::optional<V> try_get(const K& key) {
    Entry e;
    Digest d = digest(key);
    if (!store_.get(d, e)) return std::nullopt;
    return load_value<V>(d, *e.value);
  }

  // Like try_get, also giving the entry's expiry (0: never), in microseconds since epoch.
  template <class V, class K>
  std::optional<V> try_get(const K& key, std::int64_t& expires_us) {
    Entry e;
    Digest d = digest(key);
    if (!store_.get(d, e)) return std::nullopt;
    expires_us = e.expires_us;
    return load_value<V>(d, *e.value);
  }

  template <class K>
  bool contains(const K& key) {
    return store_.contains(digest(key));
  }
  template <class K>
  bool erase(const K& key) {
    return store_.erase(digest(key));
  }
  template <class K>
  bool unload_key(const K& key) {
    return store_.unload(digest(key));
  }

  PrunedFilesInfo prune_directory() { return store_.prune_directory(); }

  template <class K>
  Digest digest(const K& key) const {
    return keymaker_.make_digest(key, Backend::id);
  }

  const std::string& path() const { return store_.path(); }
  std::chrono::microseconds lifetime() const { return store_.options().lifetime; }
  const Config& config() const { return config_; }
  const KeyMaker& keymaker() const { return keymaker_; }
  Store& store() { return store_; }
  const Store& store() const { return store_; }

 protected:
  template <class V>
  void dump_value(const V& value, std::string& out) const {
    try {
      Backend::dump(value, out, config_);
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
      return Backend::template load<V>(bytes, config_);
    } catch (const std::exception& e) {
      detail::log_unreadable_value(store_, d, e.what());
      return std::nullopt;
    }
  }

 private:
  Store store_;
  Config config_;
  KeyMaker keymaker_;
};

BUCKETCACHE_NAMESPACE_END
