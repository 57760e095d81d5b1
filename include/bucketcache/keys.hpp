// Typed keys: C++ values -> canonical key bytes (DESIGN section 3) -> entry digests.
//
//   bucketcache::canonical_key(std::map<std::string, int>{{"b", 1}, {"a", 2}})
//       == R"({"a":2,"b":1})"
//
// A C++ value is written as one JSON value by write_key_value(), which uses, in order:
//   1. a member function      void write_key(bucketcache::KeyWriter&) const;
//   2. a free function        void write_key(bucketcache::KeyWriter&, const T&);
//      declared in T's namespace (found by argument-dependent lookup), or one of the
//      built-in overloads below.
// Built-in key types:
//   std::string, std::string_view, const char*, char arrays   -> string (UTF-8)
//   bool                                                      -> true / false
//   signed integers (not char)                                -> integer, exact
//   unsigned integers (unsigned char, uint8_t included)       -> integer, exact
//   float, double                                             -> number (finite only)
//   std::nullptr_t, std::nullopt_t, empty std::optional       -> null
//   std::optional<T> holding a value                          -> that value
//   std::vector, std::array, std::deque, std::list, std::set,
//   std::multiset, std::pair, std::tuple                      -> array, in iteration order
//   std::map, std::multimap, std::unordered_map with
//   std::string / std::string_view names                      -> object, members sorted
//                                                                (a repeated name throws)
// Plain char, wchar_t, char16_t and char32_t are rejected at compile time (a character or
// a small number? write std::string(1, c) or int(c)). long double is rejected too (it
// would have to be rounded to double).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bucketcache/canonical.hpp"
#include "bucketcache/digest.hpp"
#include "bucketcache/error.hpp"
#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// Writes value to w as one JSON value (see the list above). A type without a key
// representation fails to compile with a static_assert. Throws InvalidArgument for an
// invalid key (KeyWriter's rules: invalid UTF-8, NaN, infinities, depth, duplicate names).
template <class T>
void write_key_value(KeyWriter& w, const T& value);

namespace detail {

template <class T>
struct dependent_false : std::false_type {};

template <class T>
inline constexpr bool is_char_type_v = std::is_same_v<T, char> || std::is_same_v<T, wchar_t> ||
                                       std::is_same_v<T, char16_t> || std::is_same_v<T, char32_t>
#if defined(__cpp_char8_t)
                                       || std::is_same_v<T, char8_t>
#endif
    ;

template <class T>
inline constexpr bool is_key_integer_v =
    std::is_integral_v<T> && !std::is_same_v<T, bool> && !is_char_type_v<T>;

// Object member names: std::string (any allocator) or std::string_view.
template <class T>
struct is_member_name : std::false_type {};
template <class A>
struct is_member_name<std::basic_string<char, std::char_traits<char>, A>> : std::true_type {};
template <>
struct is_member_name<std::string_view> : std::true_type {};

// True if Compare orders std::string names by bytes (so iteration order is canonical).
template <class Compare, class Name>
inline constexpr bool is_byte_order_v =
    std::is_same_v<Compare, std::less<Name>> || std::is_same_v<Compare, std::less<>>;

template <class It>
void write_array(KeyWriter& w, It first, It last) {
  w.begin_array();
  for (; first != last; ++first) write_key_value(w, *first);
  w.end_array();
}

// Members in iteration order; KeyWriter rejects names that are not strictly increasing.
template <class Map>
void write_object_in_order(KeyWriter& w, const Map& m) {
  static_assert(is_member_name<typename Map::key_type>::value,
                "bucketcache: object member names must be std::string or std::string_view");
  w.begin_object();
  for (const auto& member : m) {
    w.key(std::string_view(member.first));
    write_key_value(w, member.second);
  }
  w.end_object();
}

// Members sorted by name first (unordered maps, maps with other comparators).
template <class Map>
void write_object_sorted(KeyWriter& w, const Map& m) {
  static_assert(is_member_name<typename Map::key_type>::value,
                "bucketcache: object member names must be std::string or std::string_view");
  std::vector<const typename Map::value_type*> members;
  members.reserve(m.size());
  for (const auto& member : m) members.push_back(&member);
  std::sort(members.begin(), members.end(), [](const auto* a, const auto* b) {
    return std::string_view(a->first) < std::string_view(b->first);
  });
  w.begin_object();
  for (const auto* member : members) {
    w.key(std::string_view(member->first));
    write_key_value(w, member->second);
  }
  w.end_object();
}

template <class Tuple, std::size_t... I>
void write_tuple(KeyWriter& w, [[maybe_unused]] const Tuple& t, std::index_sequence<I...>) {
  w.begin_array();
  (write_key_value(w, std::get<I>(t)), ...);
  w.end_array();
}

}  // namespace detail

// ---- Built-in key types. Scalars match exactly (no implicit conversions). ----

// UTF-8 strings.
template <class A>
void write_key(KeyWriter& w, const std::basic_string<char, std::char_traits<char>, A>& s) {
  w.string(std::string_view(s.data(), s.size()));
}
template <class T, std::enable_if_t<std::is_same_v<T, std::string_view>, int> = 0>
void write_key(KeyWriter& w, const T& s) {
  w.string(s);
}
// NUL-terminated; a null pointer throws InvalidArgument.
template <class T,
          std::enable_if_t<std::is_same_v<T, const char*> || std::is_same_v<T, char*>, int> = 0>
void write_key(KeyWriter& w, const T& s) {
  if (s == nullptr) throw InvalidArgument("invalid key: null const char* string");
  w.string(std::string_view(s));
}
// A char array (string literal) holds a string up to its first NUL (or all N bytes).
template <std::size_t N>
void write_key(KeyWriter& w, const char (&s)[N]) {
  std::size_t n = 0;
  while (n < N && s[n] != '\0') ++n;
  w.string(std::string_view(s, n));
}

template <class T, std::enable_if_t<std::is_same_v<T, bool>, int> = 0>
void write_key(KeyWriter& w, const T& v) {
  w.boolean(v);
}

template <class T, std::enable_if_t<detail::is_key_integer_v<T>, int> = 0>
void write_key(KeyWriter& w, const T& v) {
  static_assert(sizeof(T) <= 8, "bucketcache: integers wider than 64 bits are not key types");
  if constexpr (std::is_signed_v<T>) {
    w.integer(static_cast<std::int64_t>(v));
  } else {
    w.unsigned_integer(static_cast<std::uint64_t>(v));
  }
}

// Finite numbers; NaN and infinities throw InvalidArgument.
template <class T, std::enable_if_t<std::is_same_v<T, double> || std::is_same_v<T, float>, int> = 0>
void write_key(KeyWriter& w, const T& v) {
  w.number(static_cast<double>(v));
}

inline void write_key(KeyWriter& w, const std::nullptr_t&) { w.null(); }
inline void write_key(KeyWriter& w, const std::nullopt_t&) { w.null(); }

template <class T>
void write_key(KeyWriter& w, const std::optional<T>& v) {
  if (v) {
    write_key_value(w, *v);
  } else {
    w.null();
  }
}

// Sequences -> arrays.
template <class T, class A>
void write_key(KeyWriter& w, const std::vector<T, A>& v) {
  detail::write_array(w, v.begin(), v.end());
}
template <class T, std::size_t N>
void write_key(KeyWriter& w, const std::array<T, N>& v) {
  detail::write_array(w, v.begin(), v.end());
}
template <class T, class A>
void write_key(KeyWriter& w, const std::deque<T, A>& v) {
  detail::write_array(w, v.begin(), v.end());
}
template <class T, class A>
void write_key(KeyWriter& w, const std::list<T, A>& v) {
  detail::write_array(w, v.begin(), v.end());
}
template <class T, class C, class A>
void write_key(KeyWriter& w, const std::set<T, C, A>& v) {
  detail::write_array(w, v.begin(), v.end());
}
template <class T, class C, class A>
void write_key(KeyWriter& w, const std::multiset<T, C, A>& v) {
  detail::write_array(w, v.begin(), v.end());
}
template <class A, class B>
void write_key(KeyWriter& w, const std::pair<A, B>& v) {
  w.begin_array();
  write_key_value(w, v.first);
  write_key_value(w, v.second);
  w.end_array();
}
template <class... Ts>
void write_key(KeyWriter& w, const std::tuple<Ts...>& v) {
  detail::write_tuple(w, v, std::index_sequence_for<Ts...>{});
}

// String-keyed maps -> objects. Duplicate names (std::multimap) throw InvalidArgument.
template <class K, class V, class C, class A>
void write_key(KeyWriter& w, const std::map<K, V, C, A>& m) {
  if constexpr (detail::is_byte_order_v<C, K>) {
    detail::write_object_in_order(w, m);
  } else {
    detail::write_object_sorted(w, m);
  }
}
template <class K, class V, class C, class A>
void write_key(KeyWriter& w, const std::multimap<K, V, C, A>& m) {
  if constexpr (detail::is_byte_order_v<C, K>) {
    detail::write_object_in_order(w, m);
  } else {
    detail::write_object_sorted(w, m);
  }
}
template <class K, class V, class H, class E, class A>
void write_key(KeyWriter& w, const std::unordered_map<K, V, H, E, A>& m) {
  detail::write_object_sorted(w, m);
}

namespace detail {

template <class T, class = void>
struct has_member_write_key : std::false_type {};
template <class T>
struct has_member_write_key<
    T, std::void_t<decltype(std::declval<const T&>().write_key(std::declval<KeyWriter&>()))>>
    : std::true_type {};

// Built-in overloads (declared above) or ones found by argument-dependent lookup.
template <class T, class = void>
struct has_free_write_key : std::false_type {};
template <class T>
struct has_free_write_key<
    T, std::void_t<decltype(write_key(std::declval<KeyWriter&>(), std::declval<const T&>()))>>
    : std::true_type {};

// RawKeyMaker's byte containers.
template <class T>
inline constexpr bool is_byte_v =
    std::is_same_v<T, char> || std::is_same_v<T, unsigned char> || std::is_same_v<T, std::byte>;
template <class K>
struct is_byte_container : std::false_type {};
template <class T, class A>
struct is_byte_container<std::vector<T, A>> : std::bool_constant<is_byte_v<T>> {};
template <class T, std::size_t N>
struct is_byte_container<std::array<T, N>> : std::bool_constant<is_byte_v<T>> {};

}  // namespace detail

template <class T>
void write_key_value(KeyWriter& w, const T& value) {
  if constexpr (detail::is_char_type_v<T>) {
    static_assert(detail::dependent_false<T>::value,
                  "bucketcache: a plain char (or wchar_t, char16_t, char32_t) is not a key: "
                  "write std::string(1, c) for a character or int(c) for a number");
  } else if constexpr (std::is_same_v<T, long double>) {
    static_assert(detail::dependent_false<T>::value,
                  "bucketcache: long double is not a key type; convert it to double");
  } else if constexpr (detail::has_member_write_key<T>::value) {
    value.write_key(w);
  } else if constexpr (detail::has_free_write_key<T>::value) {
    write_key(w, value);
  } else {
    static_assert(detail::dependent_false<T>::value,
                  "bucketcache: this type is not a key type. Give it a member "
                  "`void write_key(bucketcache::KeyWriter&) const` or a free function "
                  "`void write_key(bucketcache::KeyWriter&, const T&)` in its own namespace "
                  "(see docs/keys.md)");
  }
}

// KeySink appending to a std::string.
class StringKeySink final : public KeySink {
 public:
  explicit StringKeySink(std::string& out) : out_(&out) {}
  void write(const char* data, std::size_t size) override { out_->append(data, size); }

 private:
  std::string* out_;
};

// Writes the canonical form of key to sink through a KeyWriter (bounded buffer).
// Throws InvalidArgument for an invalid key; sink may then have received part of it.
template <class K>
void write_canonical_key(const K& key, KeySink& sink) {
  KeyWriter w(sink);
  write_key_value(w, key);
  w.finish();
}

namespace detail {
// Where a plain key text (below) is built: a std::string, or a PlainTextBuffer on the
// stack. plain_reserve(out, n) prepares for n more bytes; false if they do not fit.
inline bool plain_reserve(std::string& out, std::size_t n) {
  out.reserve(out.size() + n);
  return true;
}
inline void plain_append(std::string& out, std::string_view s) { out.append(s.data(), s.size()); }
inline void plain_append(std::string& out, char c) { out += c; }

// A fixed buffer for the canonical text of a short plain key: building it allocates nothing.
class PlainTextBuffer {
 public:
  static constexpr std::size_t kCapacity = 256;
  std::string_view view() const { return std::string_view(buf_, size_); }
  std::size_t size() const { return size_; }
  void clear() { size_ = 0; }
  // Whether n more bytes fit.
  bool fits(std::size_t n) const { return n <= kCapacity - size_; }
  // Only for bytes that fit.
  void append(std::string_view s) {
    if (!s.empty()) std::memcpy(buf_ + size_, s.data(), s.size());
    size_ += s.size();
  }
  void append(char c) { buf_[size_++] = c; }

 private:
  char buf_[kCapacity];
  std::size_t size_ = 0;
};
inline bool plain_reserve(PlainTextBuffer& out, std::size_t n) { return out.fits(n); }
// Only after a plain_reserve() that covers the bytes.
inline void plain_append(PlainTextBuffer& out, std::string_view s) { out.append(s); }
inline void plain_append(PlainTextBuffer& out, char c) { out.append(c); }

// Which bytes a plain string may hold: printable ASCII except '"' and '\\' (the bytes
// KeyWriter writes as they are).
struct PlainBytes {
  bool ok[256] = {};
  constexpr PlainBytes() {
    for (int c = 0x20; c <= 0x7e; ++c) ok[c] = c != '"' && c != '\\';
  }
};
inline constexpr PlainBytes kPlainBytes{};

// Whether s is printable ASCII without '"' or '\\': then its canonical form is s in quotes.
inline bool is_plain_string(std::string_view s) {
  bool plain = true;  // no branch per byte: keys are short, and nearly all plain
  for (const char c : s) plain &= kPlainBytes.ok[static_cast<unsigned char>(c)];
  return plain;
}

// The canonical form of a string of printable ASCII without '"' or '\\' (the common key):
// the string in quotes, as KeyWriter writes it, appended to out (a std::string or a
// PlainTextBuffer). False (out untouched) for any other string, or if it does not fit.
template <class Out>
bool plain_string_key(std::string_view s, Out& out) {
  if (!is_plain_string(s) || !plain_reserve(out, s.size() + 2)) return false;
  plain_append(out, '"');
  plain_append(out, s);
  plain_append(out, '"');
  return true;
}
// Keys that may know their canonical text without a KeyWriter (memoize's call keys):
// `bool plain_text(Out& out) const`, for Out a std::string or a PlainTextBuffer, appends it
// to an empty out, or returns false leaving out empty (not a plain key, or it does not fit
// the buffer).
template <class K, class = void>
struct has_plain_text : std::false_type {};
template <class K>
struct has_plain_text<
    K, std::void_t<decltype(std::declval<const K&>().plain_text(std::declval<std::string&>())),
                   decltype(std::declval<const K&>().plain_text(std::declval<PlainTextBuffer&>()))>>
    : std::true_type {};

// Whether key may have a plain text (a string, or a key with plain_text).
template <class K>
inline constexpr bool may_be_plain_v =
    std::is_same_v<K, std::string> || std::is_same_v<K, std::string_view> ||
    has_plain_text<K>::value;

// Appends key's plain text to an empty out; false (out empty) if key has none or it does
// not fit.
template <class K, class Out>
bool plain_text_of(const K& key, Out& out) {
  if constexpr (std::is_same_v<K, std::string> || std::is_same_v<K, std::string_view>) {
    return plain_string_key(key, out);
  } else if constexpr (has_plain_text<K>::value) {
    return key.plain_text(out);
  } else {
    (void)key;
    (void)out;
    return false;
  }
}
}  // namespace detail

// The canonical form of key. Throws InvalidArgument for an invalid key.
template <class K>
std::string canonical_key(const K& key) {
  std::string out;
  if (detail::plain_text_of(key, out)) return out;
  StringKeySink sink(out);
  write_canonical_key(key, sink);
  return out;
}

// Calls f(std::string_view) with the canonical form of key (the bytes canonical_key()
// returns) and returns what f returns; the view is valid during the call only. A plain key
// (a string of printable ASCII, a memoized call with such arguments) that fits a fixed
// buffer is built on the stack without allocating. Throws InvalidArgument for an invalid
// key.
template <class K, class F>
decltype(auto) with_canonical_key(const K& key, F&& f) {
  if constexpr (detail::may_be_plain_v<K>) {
    detail::PlainTextBuffer buf;
    if (detail::plain_text_of(key, buf)) return std::forward<F>(f)(buf.view());
  }
  const std::string text = canonical_key(key);
  return std::forward<F>(f)(std::string_view(text));
}

// The default keymaker (BucketCache's DefaultKeyMaker): builds the key's canonical form in
// memory, then hashes it. Digest = digest_key(backend_id, "json", canonical_key(key)).
struct DefaultKeyMaker {
  static constexpr std::string_view id = "json";

  template <class K>
  std::string canonical(const K& key) const {
    return canonical_key(key);
  }

  // Throws InvalidArgument for an invalid key.
  template <class K>
  Digest make_digest(const K& key, std::string_view backend_id) const {
    return with_canonical_key(
        key, [&](std::string_view text) { return digest_key(backend_id, id, text); });
  }
};

// Same digests as DefaultKeyMaker, but the canonical bytes stream straight into the hash
// through KeyWriter's fixed buffer: memory use does not grow with the key's size.
struct StreamingDefaultKeyMaker {
  static constexpr std::string_view id = "json";

  // Convenience: the canonical form as a string (this one does use memory).
  template <class K>
  std::string canonical(const K& key) const {
    return canonical_key(key);
  }

  // Throws InvalidArgument for an invalid key.
  template <class K>
  Digest make_digest(const K& key, std::string_view backend_id) const {
    KeyHasher hasher(backend_id, id);
    write_canonical_key(key, hasher);
    return hasher.finish();
  }
};

// Keys that are raw bytes, hashed as they are (no canonical form):
// digest = digest_key(backend_id, "raw", bytes). Accepts std::string, std::string_view,
// const char* (NUL-terminated), char arrays (up to the first NUL), and std::vector or
// std::array of char, unsigned char or std::byte.
struct RawKeyMaker {
  static constexpr std::string_view id = "raw";

  // The bytes of key (a view into it). A null const char* throws InvalidArgument.
  template <class K>
  static std::string_view bytes(const K& key) {
    if constexpr (detail::is_member_name<K>::value) {
      return std::string_view(key);
    } else if constexpr (std::is_same_v<K, const char*> || std::is_same_v<K, char*>) {
      if (key == nullptr) throw InvalidArgument("invalid key: null const char* string");
      return std::string_view(key);
    } else if constexpr (std::is_array_v<K> &&
                         std::is_same_v<std::remove_cv_t<std::remove_extent_t<K>>, char>) {
      std::size_t n = 0;
      while (n < std::extent_v<K> && key[n] != '\0') ++n;
      return std::string_view(key, n);
    } else if constexpr (detail::is_byte_container<K>::value) {
      return std::string_view(reinterpret_cast<const char*>(key.data()), key.size());
    } else {
      static_assert(detail::dependent_false<K>::value,
                    "bucketcache: RawKeyMaker keys are std::string, std::string_view, "
                    "const char*, or std::vector/std::array of char, unsigned char or std::byte");
      return {};
    }
  }

  // Throws InvalidArgument for a null const char*.
  template <class K>
  Digest make_digest(const K& key, std::string_view backend_id) const {
    return digest_key(backend_id, id, bytes(key));
  }
};

BUCKETCACHE_NAMESPACE_END
