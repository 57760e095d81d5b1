// Fuzz target: the canonical JSON key parser (canonicalize_json, docs/keys.md).
//
// Invariants: no crash, hang or sanitizer report on any input; a rejection is always
// InvalidArgument naming the byte offset ("at byte N"); an accepted input is valid JSON
// (nlohmann agrees); the canonical form is valid JSON and canonical itself (idempotent).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "bucketcache/canonical.hpp"
#include "bucketcache/error.hpp"

namespace bc = bucketcache;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string canonical;
  try {
    canonical = bc::canonicalize_json(text);
  } catch (const bc::InvalidArgument& e) {
    if (std::strstr(e.what(), "at byte ") == nullptr) std::abort();
    return 0;
  } catch (...) {
    std::abort();  // only InvalidArgument may escape
  }
  if (!nlohmann::json::accept(text.begin(), text.end())) std::abort();
  if (!nlohmann::json::accept(canonical.begin(), canonical.end())) std::abort();
  std::string again;
  try {
    again = bc::canonicalize_json(canonical);
  } catch (...) {
    std::abort();
  }
  if (again != canonical) std::abort();
  return 0;
}
