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
// The parser is data-only and does not recurse, so JSON entries are safe to read from
// directories that other users can write; values are portable across machines.
#pragma once

#include <nlohmann/json.hpp>
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
  };

  // Appends value as JSON text to out. Throws nlohmann::json::exception when value cannot
  // be converted (e.g. type_error 316 for a string that is not valid UTF-8).
  template <class T>
  static void dump(const T& value, std::string& out, const Config& config) {
    const nlohmann::json j(value);
    std::string text = j.dump(config.indent, ' ', config.ensure_ascii,
                              nlohmann::json::error_handler_t::strict);
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
  static T load(std::string_view bytes, const Config& /*config*/) {
    nlohmann::json j = nlohmann::json::parse(bytes.data(), bytes.data() + bytes.size());
    if constexpr (std::is_same_v<T, nlohmann::json>) {
      return j;
    } else {
      return j.template get<T>();
    }
  }
};

BUCKETCACHE_NAMESPACE_END
