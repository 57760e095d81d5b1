#include "value_formats.hpp"

#include <cstdint>
#include <limits>
#include <msgpack.hpp>
#include <nlohmann/json.hpp>

#include "bucketcache/error.hpp"

namespace bucketcache {
namespace capi {

namespace {

void check_msgpack(std::string_view bytes) {
  // No container or string can be longer than the input, so these limits cost nothing
  // for valid data and stop a forged length from allocating gigabytes.
  const std::size_t n = bytes.size();
  const msgpack::unpack_limit limit(n, n / 2, n, n, n, 1024);
  std::size_t offset = 0;
  try {
    msgpack::object_handle oh =
        msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
    (void)oh;
  } catch (const std::exception& e) {
    throw InvalidArgument(std::string("value is not valid MessagePack: ") + e.what());
  }
  if (offset != bytes.size()) {
    throw InvalidArgument("value has " + std::to_string(bytes.size() - offset) +
                          " bytes after its MessagePack object");
  }
}

}  // namespace

bool valid_backend(const std::string& id) {
  if (id.empty() || id.size() > 15) return false;
  for (char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

void check_value(const std::string& backend, std::string_view bytes) {
  if (backend == "json") {
    if (!nlohmann::json::accept(bytes.begin(), bytes.end())) {
      throw InvalidArgument("value is not valid JSON text (backend \"json\")");
    }
  } else if (backend == "msgpack") {
    check_msgpack(bytes);
  }
}

namespace {

[[noreturn]] void not_an_integer(const std::string& backend) {
  throw InvalidArgument("value is not an integer in the int64 range (backend \"" + backend +
                        "\"); bc_incr leaves it unchanged");
}

std::int64_t parse_decimal(const std::string& backend, std::string_view s) {
  std::size_t i = 0;
  const bool negative = !s.empty() && s[0] == '-';
  if (negative) i = 1;
  if (i == s.size()) not_an_integer(backend);
  std::uint64_t magnitude = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') not_an_integer(backend);
    const auto digit = static_cast<std::uint64_t>(s[i] - '0');
    if (magnitude > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
      not_an_integer(backend);
    }
    magnitude = magnitude * 10 + digit;
  }
  const auto max = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  if (negative) {
    if (magnitude > max + 1) not_an_integer(backend);
    return magnitude == max + 1 ? std::numeric_limits<std::int64_t>::min()
                                : -static_cast<std::int64_t>(magnitude);
  }
  if (magnitude > max) not_an_integer(backend);
  return static_cast<std::int64_t>(magnitude);
}

}  // namespace

std::int64_t parse_integer(const std::string& backend, std::string_view bytes) {
  if (backend == "raw") return parse_decimal(backend, bytes);
  if (backend == "json") {
    const nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
    if (j.is_number_unsigned()) {
      const auto u = j.get<std::uint64_t>();
      if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        not_an_integer(backend);
      }
      return static_cast<std::int64_t>(u);
    }
    if (j.is_number_integer()) return j.get<std::int64_t>();
    not_an_integer(backend);
  }
  if (backend == "msgpack") {
    const std::size_t n = bytes.size();
    const msgpack::unpack_limit limit(n, n / 2, n, n, n, 1024);
    std::size_t offset = 0;
    try {
      msgpack::object_handle oh =
          msgpack::unpack(bytes.data(), bytes.size(), offset, nullptr, nullptr, limit);
      const msgpack::object& o = oh.get();
      if (offset == bytes.size()) {
        if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
        if (o.type == msgpack::type::POSITIVE_INTEGER &&
            o.via.u64 <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
          return static_cast<std::int64_t>(o.via.u64);
        }
      }
    } catch (const std::exception&) {
    }
    not_an_integer(backend);
  }
  throw InvalidArgument(
      "bc_incr needs the \"raw\", \"json\" or \"msgpack\" backend (this bucket's is \"" + backend +
      "\")");
}

std::string format_integer(const std::string& backend, std::int64_t value) {
  if (backend == "msgpack") {
    msgpack::sbuffer buf;
    msgpack::pack(buf, value);
    return std::string(buf.data(), buf.size());
  }
  return std::to_string(value);  // raw decimal; a JSON integer
}

}  // namespace capi
}  // namespace bucketcache
