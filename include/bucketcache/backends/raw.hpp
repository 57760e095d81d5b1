// RawBackend: values are byte strings, stored unchanged (id "raw").
//
//   bucketcache::Bucket<bucketcache::RawBackend> b(dir);
//   b.set("key", std::string("\x00\x01 any bytes", 12));
//   std::vector<unsigned char> v = b.get<std::vector<unsigned char>>("key");
//
// dump() takes std::string, std::string_view, a NUL-terminated const char* (or string
// literal) and std::vector of char, unsigned char or std::byte; load() gives std::string
// or std::vector of char, unsigned char or std::byte. Other types do not compile. Every
// byte string is a valid value, so reading can only fail on memory exhaustion: raw is
// safe to read from directories that other users can write.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace detail {
template <class T>
struct is_raw_byte_vector : std::false_type {};
template <>
struct is_raw_byte_vector<std::vector<char>> : std::true_type {};
template <>
struct is_raw_byte_vector<std::vector<unsigned char>> : std::true_type {};
template <>
struct is_raw_byte_vector<std::vector<std::byte>> : std::true_type {};
template <class>
inline constexpr bool raw_unsupported = false;
}  // namespace detail

struct RawBackend {
  static constexpr std::string_view id = "raw";
  struct Config {};

  // Appends the bytes of value to out. Throws std::invalid_argument for a null const char*.
  template <class T>
  static void dump(const T& value, std::string& out, const Config& /*config*/) {
    if constexpr (detail::is_raw_byte_vector<T>::value) {
      out.append(reinterpret_cast<const char*>(value.data()), value.size());
    } else if constexpr (std::is_same_v<T, const char*> || std::is_same_v<T, char*>) {
      if (value == nullptr) throw std::invalid_argument("RawBackend: null string");
      out.append(value);
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      const std::string_view bytes = value;
      out.append(bytes.data(), bytes.size());
    } else {
      static_assert(detail::raw_unsupported<T>,
                    "RawBackend stores std::string, std::string_view, const char* and "
                    "std::vector<char|unsigned char|std::byte>");
    }
  }

  // Returns bytes as a T: std::string or std::vector<char|unsigned char|std::byte>.
  template <class T>
  static T load(std::string_view bytes, const Config& /*config*/) {
    if constexpr (std::is_same_v<T, std::string>) {
      return T(bytes);
    } else if constexpr (detail::is_raw_byte_vector<T>::value) {
      using E = typename T::value_type;
      const E* p = reinterpret_cast<const E*>(bytes.data());
      return T(p, p + bytes.size());
    } else {
      static_assert(detail::raw_unsupported<T>,
                    "RawBackend loads std::string and std::vector<char|unsigned char|std::byte>");
    }
  }
  // The same from bytes the caller gives up: a std::string takes them without a copy.
  template <class T>
  static T load(std::string&& bytes, const Config& config) {
    if constexpr (std::is_same_v<T, std::string>) {
      return std::move(bytes);
    } else {
      return load<T>(std::string_view(bytes), config);
    }
  }
};

BUCKETCACHE_NAMESPACE_END
