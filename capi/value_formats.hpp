// Value checks for the backends the C API accepts: "raw", "json", "msgpack", and
// "pickle" (Python pickle bytes from the Python binding; opaque to the library).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace bucketcache {
namespace capi {

// Whether id can name a backend: 1-15 printable ASCII characters. Ids other than the four
// above are opaque to the library (a binding's own backend; no value check).
bool valid_backend(const std::string& id);

// Throws InvalidArgument unless bytes is one complete value of the backend's format: any
// bytes for "raw" and "pickle", one JSON text (strict UTF-8) for "json", one MessagePack object
// with nothing after it for "msgpack".
void check_value(const std::string& backend, std::string_view bytes);

// bc_incr's integers: parses bytes as one integer of the backend's format ("raw": ASCII
// decimal, "json": a JSON integer, "msgpack": an integer) in the int64 range; throws
// InvalidArgument otherwise (and for any other backend).
std::int64_t parse_integer(const std::string& backend, std::string_view bytes);
// The integer in the backend's format.
std::string format_integer(const std::string& backend, std::int64_t value);

}  // namespace capi
}  // namespace bucketcache
