// Memoization: wrap a function so its results are served from a bucket (BucketCache's
// decorator), with single-flight across threads and processes. docs/memoize.md.
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
//   {"args":[<arguments, ignored ones left out>],"name":<name>}
// with "self":<object state> added for methods (memoize_method). The bucket's keymaker
// hashes it, so the bucket must use a JSON keymaker (DefaultKeyMaker or
// StreamingDefaultKeyMaker) and every argument that is not ignored must be a key type
// (keys.hpp). The result goes through the bucket's backend.
//
// The bucket may be any bucket with the typed operations: Bucket, DeferredWriteBucket or a
// deferred_write() scope. It must outlive the memoized function.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>

#include "bucketcache/bucket.hpp"
#include "bucketcache/keys.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// Argument positions (0-based, not counting the object of a method) left out of the key
// (BucketCache's ignore=[...]). Ignored arguments need not be key types.
//   memoize(bucket, "query", run_query, bucketcache::ignore_args<1>{})  // 2nd arg: a logger
template <std::size_t... I>
struct ignore_args {};

// Per-call options of a memoized call (call_with; cachier's bucketcache__ keywords, the C
// API's bc_get_or_compute_ex).
struct CallOptions {
  // > 0: a cached result created longer ago is recomputed and overwritten.
  std::chrono::microseconds max_age{0};
  // Call the function and overwrite the cached result (as refresh()).
  bool refresh = false;
  // Call the function only: the bucket is neither read nor written.
  bool skip_cache = false;
};

// What an on_hit callback receives (BucketCache's CachedCallInfo). The references are
// valid during the callback only.
template <class R>
struct CachedCallInfo {
  std::string arguments;  // canonical JSON array of the key's arguments (ignored ones left out)
  const R& value;         // the cached result being returned
  std::optional<std::chrono::system_clock::time_point> expires;  // nullopt: never expires
  const std::string& name;                                       // the memoized function's name
};

namespace detail {

// ---- The signature of a callable ----

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
template <class R, class... A>
struct callable_traits<R(A...) noexcept> : callable_traits<R (*)(A...)> {};

#define BUCKETCACHE_MEMBER_TRAITS_(QUALS, OBJECT)                                                 \
  template <class C, class R, class... A>                                                         \
  struct callable_traits<R (C::*)(A...) QUALS> : callable_traits<R (*)(A...)> {                   \
    using object = OBJECT;                                                                        \
  };                                                                                              \
  template <class C, class R, class... A>                                                         \
  struct callable_traits<R (C::*)(A...) QUALS noexcept> : callable_traits<R (C::*)(A...) QUALS> { \
  };
BUCKETCACHE_MEMBER_TRAITS_(, C)
BUCKETCACHE_MEMBER_TRAITS_(const, const C)
BUCKETCACHE_MEMBER_TRAITS_(&, C)
BUCKETCACHE_MEMBER_TRAITS_(const&, const C)
#undef BUCKETCACHE_MEMBER_TRAITS_

// Whether callable_traits<F> is usable: a function, a function pointer, a member function
// pointer, or a class with exactly one non-template operator() (lambdas with typed
// parameters, std::function). Generic lambdas (auto parameters) and overloaded call
// operators have no single signature.
template <class F, class = void>
struct has_call_signature : std::false_type {};
template <class F>
struct has_call_signature<F, std::void_t<decltype(&F::operator())>> : std::true_type {};
template <class F>
inline constexpr bool has_call_signature_v =
    std::is_function_v<std::remove_pointer_t<F>> || std::is_member_function_pointer_v<F> ||
    has_call_signature<F>::value;

template <class T>
struct is_ignore_args : std::false_type {};
template <std::size_t... I>
struct is_ignore_args<ignore_args<I...>> : std::true_type {};

template <std::size_t J, std::size_t... I>
constexpr bool is_ignored(ignore_args<I...>) {
  return ((J == I) || ... || false);
}

template <std::size_t N, std::size_t... I>
constexpr bool ignore_indexes_valid(ignore_args<I...>) {
  return ((I < N) && ... && true);
}

// Derived from BucketOperations (Bucket, DeferredWriteBucket, DeferredWriteScope)?
template <class B, class = void>
struct is_typed_bucket : std::false_type {};
template <class B>
struct is_typed_bucket<B, std::void_t<typename B::backend_type, typename B::keymaker_type>>
    : std::is_base_of<BucketOperations<B, typename B::backend_type, typename B::keymaker_type>, B> {
};

template <class BucketT>
constexpr void check_bucket() {
  static_assert(is_typed_bucket<BucketT>::value,
                "bucketcache::memoize: the first argument must be a Bucket, a "
                "DeferredWriteBucket or a deferred_write() scope");
  if constexpr (is_typed_bucket<BucketT>::value) {
    static_assert(BucketT::keymaker_type::id == std::string_view("json"),
                  "bucketcache::memoize: the bucket's keymaker must build JSON keys "
                  "(DefaultKeyMaker or StreamingDefaultKeyMaker), not RawKeyMaker");
  }
}

// ---- The key of one call: a key type through its write_key member ----

template <class Ignore, class Self, class... A>
struct CallKey {
  std::string_view name;
  const Self* self;  // unused (null) for plain functions
  std::tuple<const A&...> args;

  // The canonical JSON array of the arguments that are part of the key.
  void write_args(KeyWriter& w) const { write_args(w, std::index_sequence_for<A...>{}); }

  // write_key's text built directly, for the common call: no self, and every argument in
  // the key a std::string of printable ASCII without '"' or '\\' (as is the name). Appends
  // it to out (empty; a std::string or a detail::PlainTextBuffer) and returns true; false,
  // with out empty, for any other call or a text longer than the buffer.
  template <class Out>
  bool plain_text(Out& out) const {
    if constexpr (std::is_void_v<Self> && (... && std::is_same_v<A, std::string>)) {
      std::size_t size = 21 + name.size();  // {"args":[],"name":""}
      plain_sizes(size, std::index_sequence_for<A...>{});
      if (!detail::plain_reserve(out, size)) return false;
      detail::plain_append(out, std::string_view("{\"args\":["));
      bool first = true;
      const bool ok = plain_args(out, first, std::index_sequence_for<A...>{}) &&
                      (detail::plain_append(out, std::string_view("],\"name\":")),
                       detail::plain_string_key(name, out));
      if (!ok) {
        out.clear();
        return false;
      }
      detail::plain_append(out, '}');
      return true;
    } else {
      (void)out;
      return false;
    }
  }

  void write_key(KeyWriter& w) const {
    w.begin_object();  // members in byte order: args, name, self
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
  // Adds the bytes of each argument in the key (quotes and comma included).
  template <std::size_t... J>
  void plain_sizes(std::size_t& size, std::index_sequence<J...>) const {
    ((size += is_ignored<J>(Ignore{}) ? 0 : std::get<J>(args).size() + 3), ...);
  }
  template <class Out, std::size_t... J>
  bool plain_args(Out& out, bool& first, std::index_sequence<J...>) const {
    return (... && plain_arg<J>(out, first));
  }
  template <std::size_t J, class Out>
  bool plain_arg(Out& out, bool& first) const {
    if constexpr (is_ignored<J>(Ignore{})) {
      return true;
    } else {
      if (!first) detail::plain_append(out, ',');
      first = false;
      return detail::plain_string_key(std::get<J>(args), out);
    }
  }
};

template <class Key>
std::string arguments_text(const Key& key) {
  std::string out;
  StringKeySink sink(out);
  KeyWriter w(sink);
  key.write_args(w);
  w.finish();
  return out;
}

inline std::optional<std::chrono::system_clock::time_point> expiry_time(std::int64_t expires_us) {
  if (expires_us == 0) return std::nullopt;
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::microseconds(expires_us)));
}

// How argument J (declared type A) is handed to the wrapped function. The wrapper owns its
// parameters, so it may move them into the function - unless the key still has to be read
// after the call (refresh() stores after computing), where arguments that are part of the
// key are passed as lvalues (copied for rvalue-reference parameters).
template <class A, bool Move>
decltype(auto) pass_arg(std::remove_reference_t<A>& a) {
  if constexpr (Move || std::is_lvalue_reference_v<A>) {
    return static_cast<A&&>(a);
  } else if constexpr (std::is_rvalue_reference_v<A>) {
    return std::decay_t<A>(a);
  } else {
    return static_cast<const std::remove_reference_t<A>&>(a);
  }
}

// Lookup, single-flight compute and the hit callback, shared by functions and methods.
template <class BucketT, class R>
class MemoCore {
 public:
  using HitCallback = std::function<void(const CachedCallInfo<R>&)>;

  MemoCore(BucketT& bucket, std::string name) : bucket_(&bucket), name_(std::move(name)) {}

  template <class Key, class Call>
  R call(const Key& key, Call&& compute) const {
    return call(key, std::forward<Call>(compute), nullptr);
  }

  // background: a self-contained callable for a stale-while-revalidate refresh, or nullptr.
  template <class Key, class Call, class Background>
  R call(const Key& key, Call&& compute, Background background) const {
    bool hit = false;
    std::int64_t expires_us = 0;
    R value = [&] {
      if constexpr (std::is_same_v<Background, std::nullptr_t>) {
        return bucket_->template get_or_compute<R>(key, std::forward<Call>(compute), &hit,
                                                   &expires_us);
      } else {
        return bucket_->template get_or_compute_stale<R>(key, std::forward<Call>(compute),
                                                         std::move(background), &hit, &expires_us);
      }
    }();
    if (hit && on_hit_) {
      on_hit_(CachedCallInfo<R>{arguments_text(key), value, expiry_time(expires_us), name_});
    }
    return value;
  }

  template <class Key, class Call>
  R refresh(const Key& key, Call&& compute) const {
    R value = compute();
    bucket_->set(key, value);
    return value;
  }

  template <class Key, class Call, class Fresh>
  R call_with(const CallOptions& o, const Key& key, Call&& compute, Fresh&& fresh) const {
    if (o.skip_cache) return fresh();
    if (o.refresh) return refresh(key, std::forward<Fresh>(fresh));
    if (o.max_age.count() > 0) {
      if (std::optional<R> v = bucket_->template try_get_within<R>(key, o.max_age)) {
        if (on_hit_) {
          Entry e;
          const std::int64_t expires_us =
              bucket_->store().get(bucket_->digest(key), e) == ReadStatus::found ? e.expires_us : 0;
          on_hit_(CachedCallInfo<R>{arguments_text(key), *v, expiry_time(expires_us), name_});
        }
        return std::move(*v);
      }
      return refresh(key, std::forward<Fresh>(fresh));
    }
    return call(key, std::forward<Call>(compute));
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
  using bucket_type = BucketT;

  static_assert(!std::is_void_v<result_type>, "bucketcache::memoize: the function returns void");
  static_assert(ignore_indexes_valid<sizeof...(A)>(Ignore{}),
                "bucketcache::ignore_args: an index is not a parameter position of the function");

  MemoizedFunction(BucketT& bucket, std::string name, F fn)
      : core_(bucket, std::move(name)), fn_(std::move(fn)) {}

  // The cached result for these arguments; on a miss calls the function (once across the
  // threads and processes sharing the bucket) and stores the result. Exceptions from the
  // function propagate and cache nothing.
  // With Options::stale_ttl (direct or deferred bucket), a result expired less than
  // stale_ttl ago is returned at once while a library thread calls a copy of the function
  // with copies of the arguments (docs/memoize.md): only for a copyable function whose
  // parameters are copyable and not rvalue references; otherwise stale results are
  // recomputed here.
  result_type operator()(A... args) const {
    const Key k = key(args...);
    auto compute = [&] { return invoke<true>(std::index_sequence_for<A...>{}, args...); };
    if constexpr (std::is_copy_constructible_v<F> &&
                  std::is_copy_constructible_v<typename BucketT::backend_type::Config> &&
                  (... && (std::is_copy_constructible_v<std::decay_t<A>> &&
                           !std::is_rvalue_reference_v<A>))) {
      if (core_.bucket().store().option(OptionKey::stale_ttl_us) > 0) {
        return core_.call(k, compute,
                          [fn = fn_, copies = std::make_tuple(std::decay_t<A>(args)...)]() mutable {
                            return result_type(std::apply(fn, copies));
                          });
      }
    }
    return core_.call(k, compute);
  }
  // Calls the function and overwrites the cached result (BucketCache's nocache=True).
  result_type refresh(A... args) const {
    const Key k = key(args...);
    return core_.refresh(k,
                         [&] { return invoke<false>(std::index_sequence_for<A...>{}, args...); });
  }
  // A call with per-call options (CallOptions: max age, refresh, skip cache).
  result_type call_with(const CallOptions& options, A... args) const {
    const Key k = key(args...);
    return core_.call_with(
        options, k, [&] { return invoke<true>(std::index_sequence_for<A...>{}, args...); },
        [&] { return invoke<false>(std::index_sequence_for<A...>{}, args...); });
  }
  // Stores value as the result for these arguments without calling the function.
  void precache(const result_type& value, const std::decay_t<A>&... args) const {
    core_.bucket().set(key(args...), value);
  }
  // Whether a result for these arguments is cached.
  bool cached(const std::decay_t<A>&... args) const {
    return core_.bucket().contains(key(args...));
  }
  // Removes the cached result for these arguments; returns whether there was one.
  bool erase(const std::decay_t<A>&... args) const { return core_.bucket().erase(key(args...)); }
  // cb(const CachedCallInfo<result_type>&) is called on every cache hit (not when
  // computing), before the value is returned. Set it before sharing the object between
  // threads; an exception from cb propagates to the caller.
  MemoizedFunction& on_hit(typename MemoCore<BucketT, result_type>::HitCallback cb) {
    core_.on_hit_ = std::move(cb);
    return *this;
  }
  // The canonical key of a call (what the keymaker hashes), e.g. for logging or tests.
  std::string canonical_key(const std::decay_t<A>&... args) const {
    return bucketcache::canonical_key(key(args...));
  }
  const std::string& name() const { return core_.name(); }
  BucketT& bucket() const { return core_.bucket(); }

 private:
  Key key(const std::decay_t<A>&... args) const { return Key{core_.name(), nullptr, {args...}}; }

  template <bool Move, std::size_t... J>
  result_type invoke(std::index_sequence<J...>, std::remove_reference_t<A>&... args) const {
    return result_type(std::invoke(fn_, pass_arg < A, Move || is_ignored<J>(Ignore{}) > (args)...));
  }

  MemoCore<BucketT, result_type> core_;
  mutable F fn_;
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
  using bucket_type = BucketT;

  static_assert(!std::is_void_v<result_type>,
                "bucketcache::memoize_method: the method returns void");
  static_assert(ignore_indexes_valid<sizeof...(A)>(Ignore{}),
                "bucketcache::ignore_args: an index is not a parameter position of the method "
                "(positions do not count the object)");

  MemoizedMethod(BucketT& bucket, std::string name, M method)
      : core_(bucket, std::move(name)), method_(method) {}

  // The object's state (its key representation) is part of the key: two objects with
  // equal state share entries.
  result_type operator()(object_type& self, A... args) const {
    const Key k = key(self, args...);
    return core_.call(k,
                      [&] { return invoke<true>(self, std::index_sequence_for<A...>{}, args...); });
  }
  result_type refresh(object_type& self, A... args) const {
    const Key k = key(self, args...);
    return core_.refresh(
        k, [&] { return invoke<false>(self, std::index_sequence_for<A...>{}, args...); });
  }
  result_type call_with(const CallOptions& options, object_type& self, A... args) const {
    const Key k = key(self, args...);
    return core_.call_with(
        options, k, [&] { return invoke<true>(self, std::index_sequence_for<A...>{}, args...); },
        [&] { return invoke<false>(self, std::index_sequence_for<A...>{}, args...); });
  }
  void precache(const result_type& value, const object_type& self,
                const std::decay_t<A>&... args) const {
    core_.bucket().set(key(self, args...), value);
  }
  bool cached(const object_type& self, const std::decay_t<A>&... args) const {
    return core_.bucket().contains(key(self, args...));
  }
  bool erase(const object_type& self, const std::decay_t<A>&... args) const {
    return core_.bucket().erase(key(self, args...));
  }
  MemoizedMethod& on_hit(typename MemoCore<BucketT, result_type>::HitCallback cb) {
    core_.on_hit_ = std::move(cb);
    return *this;
  }
  std::string canonical_key(const object_type& self, const std::decay_t<A>&... args) const {
    return bucketcache::canonical_key(key(self, args...));
  }
  const std::string& name() const { return core_.name(); }
  BucketT& bucket() const { return core_.bucket(); }

 private:
  Key key(const object_type& self, const std::decay_t<A>&... args) const {
    return Key{core_.name(), &self, {args...}};
  }

  template <bool Move, std::size_t... J>
  result_type invoke(object_type& self, std::index_sequence<J...>,
                     std::remove_reference_t<A>&... args) const {
    return result_type((self.*method_)(pass_arg < A, Move || is_ignored<J>(Ignore{}) > (args)...));
  }

  MemoCore<BucketT, result_type> core_;
  M method_;
};

}  // namespace detail

// Wraps fn (function, function pointer, lambda with typed parameters, std::function, or
// any object with one non-template call operator) so calls go through bucket. `name`
// identifies the function in keys: give each memoized function its own. Generic lambdas
// (auto parameters) have no signature to take the key from: wrap them in
// std::function<R(Args...)> or give the parameters types. bucket must outlive the result.
template <class BucketT, class F, class Ignore = ignore_args<>>
auto memoize(BucketT& bucket, std::string name, F fn, Ignore = {}) {
  using Fn = std::decay_t<F>;
  detail::check_bucket<BucketT>();
  static_assert(detail::is_ignore_args<Ignore>::value,
                "bucketcache::memoize: the fourth argument must be bucketcache::ignore_args<...>");
  static_assert(!std::is_member_function_pointer_v<Fn>,
                "bucketcache::memoize: use memoize_method for member functions");
  static_assert(detail::has_call_signature_v<Fn>,
                "bucketcache::memoize: the callable has no single signature (a generic lambda "
                "or an overloaded operator()); wrap it in std::function<R(Args...)> or give "
                "its parameters types");
  if constexpr (detail::has_call_signature_v<Fn> && !std::is_member_function_pointer_v<Fn>) {
    return detail::MemoizedFunction<BucketT, Fn, Ignore>(bucket, std::move(name), std::move(fn));
  }
}

// Wraps a member function (BucketCache's method=True): call it as m(object, args...). The
// object's state enters the key through its key customization point (a write_key member
// or free function, keys.hpp).
template <class BucketT, class M, class Ignore = ignore_args<>>
auto memoize_method(BucketT& bucket, std::string name, M method, Ignore = {}) {
  detail::check_bucket<BucketT>();
  static_assert(detail::is_ignore_args<Ignore>::value,
                "bucketcache::memoize_method: the fourth argument must be "
                "bucketcache::ignore_args<...>");
  static_assert(std::is_member_function_pointer_v<M>,
                "bucketcache::memoize_method: the third argument must be a member function "
                "pointer (&Class::method)");
  if constexpr (std::is_member_function_pointer_v<M>) {
    return detail::MemoizedMethod<BucketT, M, Ignore>(bucket, std::move(name), method);
  }
}

BUCKETCACHE_NAMESPACE_END
