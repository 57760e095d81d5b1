// Memoization: wrap a function so its results are served from a bucket (BucketCache's
// decorator), with single-flight across threads and processes.
//
//   bucketcache::Bucket<bucketcache::JsonBackend> bucket("/tmp/cache");
//   auto slow_square = bucketcache::memoize(bucket, "slow_square", [](int x) {
//     std::this_thread::sleep_for(std::chrono::seconds(1));
//     return x * x;
//   });
//   slow_square(4);          // computes, stores
//   slow_square(4);          // served from the bucket (also in the next process)
//   slow_square.refresh(4);  // calls again and overwrites (BucketCache's nocache)
//
// The key of a call is the canonical form of
//   {"args": [<arguments, ignored ones left out>], "name": <name>}
// plus "self": <object state> for methods (memoize_method). The bucket's keymaker hashes
// it, so the bucket must use a JSON keymaker (DefaultKeyMaker or StreamingDefaultKeyMaker)
// and every argument that is not ignored must be a key type (docs/keys.md). The result
// goes through the bucket's backend.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "bucketcache/keys.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// Argument positions (0-based, not counting the object of a method) left out of the key
// (BucketCache's ignore=[...]). Ignored arguments need not be key types.
//   memoize(bucket, "query", run_query, bucketcache::ignore_args<1>{})  // 2nd arg: a logger
template <std::size_t... I>
struct ignore_args {};

// What an on_hit callback receives (BucketCache's CachedCallInfo).
template <class R>
struct CachedCallInfo {
  std::string arguments;  // canonical JSON array of the key's arguments
  const R& value;         // the cached result being returned
  std::optional<std::chrono::system_clock::time_point> expires;  // nullopt: never
};

namespace detail {

template <class F>
struct callable_traits : callable_traits<decltype(&F::operator())> {};
template <class R, class... A>
struct callable_traits<R (*)(A...)> {
  using result = R;
  using args = std::tuple<A...>;
};
template <class R, class... A>
struct callable_traits<R (*)(A...) noexcept> : callable_traits<R (*)(A...)> {};
template <class R, class... A>
struct callable_traits<R(A...)> : callable_traits<R (*)(A...)> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...)> : callable_traits<R (*)(A...)> {
  using object = C;
};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const> : callable_traits<R (*)(A...)> {
  using object = const C;
};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) noexcept> : callable_traits<R (C::*)(A...)> {};
template <class C, class R, class... A>
struct callable_traits<R (C::*)(A...) const noexcept> : callable_traits<R (C::*)(A...) const> {};

template <std::size_t J, std::size_t... I>
constexpr bool is_ignored(ignore_args<I...>) {
  return ((J == I) || ... || false);
}

// The key of one call; a key type through its write_key member.
template <class Ignore, class Self, class... A>
struct CallKey {
  std::string_view name;
  const Self* self;  // null for plain functions
  std::tuple<const A&...> args;

  void write_args(KeyWriter& w) const { write_args(w, std::index_sequence_for<A...>{}); }

  void write_key(KeyWriter& w) const {
    w.begin_object();
    w.key("args");
    write_args(w);
    w.key("name");
    w.string(name);
    if constexpr (!std::is_void_v<Self>) {
      w.key("self");
      write_key_value(w, *self);
    }
    w.end_object();
  }

 private:
  template <std::size_t... J>
  void write_args(KeyWriter& w, std::index_sequence<J...>) const {
    w.begin_array();
    (write_arg<J>(w), ...);
    w.end_array();
  }
  template <std::size_t J>
  void write_arg(KeyWriter& w) const {
    if constexpr (!is_ignored<J>(Ignore{})) write_key_value(w, std::get<J>(args));
  }
};

// Canonical JSON of a call's arguments (for CachedCallInfo).
template <class Key>
std::string arguments_text(const Key& key) {
  std::string out;
  StringKeySink sink(out);
  KeyWriter w(sink);
  key.write_args(w);
  w.finish();
  return out;
}

template <class R>
std::optional<std::chrono::system_clock::time_point> expiry_time(std::int64_t expires_us) {
  if (expires_us == 0) return std::nullopt;
  return std::chrono::system_clock::time_point(std::chrono::microseconds(expires_us));
}

// Lookup, single-flight compute and hit callback, shared by functions and methods.
template <class BucketT, class R>
class MemoCore {
 public:
  using HitCallback = std::function<void(const CachedCallInfo<R>&)>;

  MemoCore(BucketT& bucket, std::string name) : bucket_(&bucket), name_(std::move(name)) {}

  template <class Key, class Call>
  R call(const Key& key, Call&& compute) {
    bool hit = false;
    std::int64_t expires_us = 0;
    R value = bucket_->template get_or_compute<R>(key, std::forward<Call>(compute), &hit,
                                                  &expires_us);
    if (hit && on_hit_) {
      on_hit_(CachedCallInfo<R>{arguments_text(key), value, expiry_time<R>(expires_us)});
    }
    return value;
  }

  template <class Key, class Call>
  R refresh(const Key& key, Call&& compute) {
    R value = compute();
    bucket_->set(key, value);
    return value;
  }

  BucketT& bucket() const { return *bucket_; }
  const std::string& name() const { return name_; }
  HitCallback on_hit_;

 private:
  BucketT* bucket_;
  std::string name_;
};

template <class BucketT, class F, class Ignore, class Traits = callable_traits<F>,
          class Args = typename Traits::args>
class MemoizedFunction;

template <class BucketT, class F, class Ignore, class Traits, class... A>
class MemoizedFunction<BucketT, F, Ignore, Traits, std::tuple<A...>> {
 public:
  using result_type = std::decay_t<typename Traits::result>;
  using Key = CallKey<Ignore, void, std::decay_t<A>...>;

  MemoizedFunction(BucketT& bucket, std::string name, F fn)
      : core_(bucket, std::move(name)), fn_(std::move(fn)) {}

  // Cached result for these arguments, computing (once across threads and processes) on
  // a miss. Exceptions from the function propagate and cache nothing.
  result_type operator()(A... args) {
    return core_.call(key(args...), [&] { return result_type(fn_(args...)); });
  }
  // Calls the function and overwrites the cached result (BucketCache's nocache).
  result_type refresh(A... args) {
    return core_.refresh(key(args...), [&] { return result_type(fn_(args...)); });
  }
  // Stores value as the result for these arguments without calling the function.
  void precache(const result_type& value, A... args) { core_.bucket().set(key(args...), value); }
  // Whether a result for these arguments is cached.
  bool cached(A... args) { return core_.bucket().contains(key(args...)); }
  // Removes the cached result for these arguments.
  bool forget(A... args) { return core_.bucket().erase(key(args...)); }
  // Called with CachedCallInfo on every cache hit (not when computing).
  MemoizedFunction& on_hit(typename MemoCore<BucketT, result_type>::HitCallback cb) {
    core_.on_hit_ = std::move(cb);
    return *this;
  }
  const std::string& name() const { return core_.name(); }

 private:
  Key key(const std::decay_t<A>&... args) const { return Key{core_.name(), nullptr, {args...}}; }

  MemoCore<BucketT, result_type> core_;
  F fn_;
};

template <class BucketT, class M, class Ignore, class Traits = callable_traits<M>,
          class Args = typename Traits::args>
class MemoizedMethod;

template <class BucketT, class M, class Ignore, class Traits, class... A>
class MemoizedMethod<BucketT, M, Ignore, Traits, std::tuple<A...>> {
 public:
  using object_type = typename Traits::object;  // const C for const methods
  using result_type = std::decay_t<typename Traits::result>;
  using Key = CallKey<Ignore, std::remove_const_t<object_type>, std::decay_t<A>...>;

  MemoizedMethod(BucketT& bucket, std::string name, M method)
      : core_(bucket, std::move(name)), method_(method) {}

  // The object's state (its key representation) is part of the key: two objects with
  // equal state share entries.
  result_type operator()(object_type& self, A... args) {
    return core_.call(key(self, args...),
                      [&] { return result_type((self.*method_)(args...)); });
  }
  result_type refresh(object_type& self, A... args) {
    return core_.refresh(key(self, args...),
                         [&] { return result_type((self.*method_)(args...)); });
  }
  void precache(const result_type& value, const object_type& self, A... args) {
    core_.bucket().set(key(self, args...), value);
  }
  bool cached(const object_type& self, A... args) {
    return core_.bucket().contains(key(self, args...));
  }
  bool forget(const object_type& self, A... args) {
    return core_.bucket().erase(key(self, args...));
  }
  MemoizedMethod& on_hit(typename MemoCore<BucketT, result_type>::HitCallback cb) {
    core_.on_hit_ = std::move(cb);
    return *this;
  }
  const std::string& name() const { return core_.name(); }

 private:
  Key key(const object_type& self, const std::decay_t<A>&... args) const {
    return Key{core_.name(), &self, {args...}};
  }

  MemoCore<BucketT, result_type> core_;
  M method_;
};

}  // namespace detail

// Wraps fn (function pointer, lambda, std::function or other callable with one
// non-template call operator) so calls go through bucket. `name` identifies the function
// in keys: give each memoized function its own. bucket must outlive the result.
template <class BucketT, class F, class Ignore = ignore_args<>>
auto memoize(BucketT& bucket, std::string name, F fn, Ignore = {}) {
  using Fn = std::decay_t<F>;
  return detail::MemoizedFunction<BucketT, Fn, Ignore>(bucket, std::move(name), std::move(fn));
}

// Wraps a member function (BucketCache's method=True): call it as m(object, args...). The
// object's state enters the key through its key customization point (a write_key member
// or free function, docs/keys.md).
template <class BucketT, class M, class Ignore = ignore_args<>,
          std::enable_if_t<std::is_member_function_pointer_v<M>, int> = 0>
auto memoize_method(BucketT& bucket, std::string name, M method, Ignore = {}) {
  return detail::MemoizedMethod<BucketT, M, Ignore>(bucket, std::move(name), method);
}

BUCKETCACHE_NAMESPACE_END
