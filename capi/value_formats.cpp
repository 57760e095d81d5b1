#include "value_formats.hpp"

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

}  // namespace capi
}  // namespace bucketcache
