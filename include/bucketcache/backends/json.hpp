// JsonBackend: values as JSON text through nlohmann::json (id "json").
//
//   struct Point { int x, y; };
//   NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Point, x, y)
//   bucketcache::Bucket<bucketcache::JsonBackend> b(dir, {}, {/*indent=*/2});
//   b.set("origin", Point{0, 0});
//
// Any T that nlohmann::json converts to and from works: its built-in types (arithmetic,
// strings, std containers, std::optional through a user adl_serializer, nlohmann::json
// itself) and user types with to_json/from_json or NLOHMANN_DEFINE_TYPE_* (nlohmann's
// own customization point). Strings must be valid UTF-8. Conversions follow nlohmann:
// a stored 1.5 read as int gives 1, a stored true read as int gives 1, but a string read
// as a number (and most other mismatches) throws, which Bucket treats as a miss.
//
// The parser is data-only and does not recurse, and nesting is limited (Config::max_depth),
// so JSON entries are safe to read from directories that other users can write; values
// are portable across machines.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

struct JsonBackend {
  static constexpr std::string_view id = "json";

  struct Config {
    // As nlohmann::json::dump: -1 writes compact JSON, n >= 0 pretty-prints with n spaces.
    int indent = -1;
    // Escape every non-ASCII character as \uXXXX.
    bool ensure_ascii = false;
    // load() refuses values nesting arrays and objects deeper than this (nlohmann parses
    // without recursion, but copies, conversions and dumps of a value recurse).
    std::size_t max_depth = 512;
  };

  // Appends value as JSON text to out. Throws nlohmann::json::exception when value cannot
  // be converted (e.g. type_error 316 for a string that is not valid UTF-8).
  template <class T>
  static void dump(const T& value, std::string& out, const Config& config) {
    const nlohmann::json j(value);
    std::string text =
        j.dump(config.indent, ' ', config.ensure_ascii, nlohmann::json::error_handler_t::strict);
    if (out.empty()) {
      out = std::move(text);
    } else {
      out += text;
    }
  }

  // Parses bytes (one JSON value, surrounding whitespace allowed, no comments) and converts
  // it to T. Throws nlohmann::json::parse_error on malformed input, type_error or
  // out_of_range when the value does not convert to T.
  template <class T>
  static T load(std::string_view bytes, const Config& config) {
    check_depth(bytes, config.max_depth);
    nlohmann::json j = nlohmann::json::parse(bytes.data(), bytes.data() + bytes.size());
    if constexpr (std::is_same_v<T, nlohmann::json>) {
      return j;
    } else {
      return j.template get<T>();
    }
  }

 private:
  // Throws std::out_of_range if arrays and objects nest deeper than max_depth. Exact for
  // valid JSON; invalid JSON is rejected by the parser anyway.
  static void check_depth(std::string_view bytes, std::size_t max_depth) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
      const char c = bytes[i];
      if (in_string) {
        if (c == '\\') {
          ++i;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '[' || c == '{') {
        if (++depth > max_depth) throw std::out_of_range("JsonBackend: nesting too deep");
      } else if ((c == ']' || c == '}') && depth > 0) {
        --depth;
      }
    }
  }
};

BUCKETCACHE_NAMESPACE_END
