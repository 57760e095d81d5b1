// Helpers shared by canonical_writer.cpp and canonical_json.cpp (not installed).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "bucketcache/digest.hpp"
#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN
namespace detail {

// KeySink that appends to a std::string.
class StringSink final : public KeySink {
 public:
  explicit StringSink(std::string& out) : out_(&out) {}
  void write(const char* data, std::size_t size) override { out_->append(data, size); }

 private:
  std::string* out_;
};

// A member name (or other user text) quoted for an error message: JSON-style escapes for
// control characters, bytes >= 0x80 kept as they are, cut after `limit` bytes with "...".
std::string quote_for_message(std::string_view text, std::size_t limit = 64);

// Writes the canonical form of a finite double to out (at least 32 bytes); returns the
// length. Throws InvalidArgument for NaN and infinities.
std::size_t format_canonical_double_to(double v, char* out);

}  // namespace detail
BUCKETCACHE_NAMESPACE_END
