// MsgpackBackend: values as MessagePack through msgpack-cxx (id "msgpack").
//
//   struct Point { int x, y; MSGPACK_DEFINE(x, y) };
//   bucketcache::Bucket<bucketcache::MsgpackBackend> b(dir);
//   b.set("origin", Point{0, 0});
//
// Any T msgpack-cxx packs and converts works: its built-in adaptors (arithmetic types,
// std::string, std containers, std::optional, std::tuple, ...; include the adaptor
// headers msgpack.hpp does not) and user types with MSGPACK_DEFINE / MSGPACK_DEFINE_MAP
// or msgpack::adaptor specializations (msgpack's own customization point). Conversion is
// strict: an int that does not fit T, a float read as an integer or any other mismatch
// throws msgpack::type_error, which Bucket treats as a miss.
//
// Reading is bounded before anything is allocated: a payload whose containers claim more
// elements than it has bytes, that nests deeper than Config::max_depth or exceeds a
// Config limit throws. The format is data-only, so MessagePack entries are safe to read
// from directories that other users can write; values are portable across machines.
#pragma once

#include <cstddef>
#include <cstdint>
#include <msgpack.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace detail {

// msgpack::packer stream appending to a std::string.
struct MsgpackAppender {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};

// First pass over a payload: the elements of all containers (2 per map pair) each start at
// a distinct byte, so their total cannot exceed the payload size; this bounds what the
// second pass (msgpack::unpack) allocates. Also enforces the nesting limit.
class MsgpackBudget : public msgpack::v2::null_visitor {
 public:
  MsgpackBudget(std::size_t budget, std::size_t max_depth)
      : budget_(budget), max_depth_(max_depth) {}
  bool start_array(std::uint32_t n) { return enter(n); }
  bool end_array() { return leave(); }
  bool start_map(std::uint32_t n) { return enter(std::uint64_t{n} * 2); }
  bool end_map() { return leave(); }

 private:
  bool enter(std::uint64_t n) {
    if (n > budget_) throw msgpack::size_overflow("msgpack: container larger than payload");
    if (++depth_ > max_depth_) throw msgpack::depth_size_overflow("msgpack: nesting too deep");
    budget_ -= static_cast<std::size_t>(n);
    return true;
  }
  bool leave() {
    --depth_;
    return true;
  }
  std::size_t budget_;
  std::size_t max_depth_;
  std::size_t depth_ = 0;
};

}  // namespace detail

struct MsgpackBackend {
  static constexpr std::string_view id = "msgpack";

  // Limits applied when reading (msgpack::unpack_limit); a payload over a limit is a miss.
  struct Config {
    std::size_t max_array_size = 0xffffffff;  // elements in one array
    std::size_t max_map_size = 0xffffffff;    // key/value pairs in one map
    std::size_t max_str_size = 0xffffffff;    // bytes in one string
    std::size_t max_bin_size = 0xffffffff;    // bytes in one bin
    std::size_t max_ext_size = 0xffffffff;    // bytes in one ext
    std::size_t max_depth = 512;              // nested arrays and maps
  };

  // Appends the MessagePack encoding of value to out. Throws what msgpack-cxx throws (e.g.
  // for a container over 2^32-1 elements), leaving out unchanged.
  template <class T>
  static void dump(const T& value, std::string& out, const Config& /*config*/) {
    const std::size_t old_size = out.size();
    try {
      detail::MsgpackAppender appender{out};
      msgpack::packer<detail::MsgpackAppender> packer(appender);
      packer.pack(value);
    } catch (...) {
      out.resize(old_size);
      throw;
    }
  }

  // Decodes exactly one MessagePack value filling bytes and converts it to T. Throws
  // msgpack::unpack_error (malformed, truncated, trailing bytes, over a limit) or
  // msgpack::type_error (not a T). T must own its data: views into the unpacked object
  // (msgpack::object, std::string_view, msgpack::type::raw_ref) would dangle.
  template <class T>
  static T load(std::string_view bytes, const Config& config) {
    static_assert(!std::is_same_v<T, msgpack::object> && !std::is_same_v<T, std::string_view>,
                  "the result would point into freed memory; load a type owning its data");
    std::size_t off = 0;
    detail::MsgpackBudget budget(bytes.size(), config.max_depth);
    if (!msgpack::v2::parse(bytes.data(), bytes.size(), off, budget)) {
      throw msgpack::parse_error("msgpack: malformed or truncated value");
    }
    if (off != bytes.size()) throw msgpack::parse_error("msgpack: trailing bytes");
    const msgpack::unpack_limit limit(config.max_array_size, config.max_map_size,
                                      config.max_str_size, config.max_bin_size, config.max_ext_size,
                                      config.max_depth);
    off = 0;
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
    return handle.get().as<T>();
  }
};

BUCKETCACHE_NAMESPACE_END
