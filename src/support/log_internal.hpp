// Internal logging helpers (fmt formatting behind a level check).
#pragma once

#include <fmt/format.h>

#include <string>

#include "bucketcache/digest.hpp"
#include "bucketcache/logging.hpp"

namespace bucketcache {
inline namespace v1 {

namespace detail {
// Not exported: the library's own logging (BC_LOG below).
bool log_enabled(LogLevel level) noexcept;
void log_message(LogLevel level, std::string_view message) noexcept;
// A key's text as it should appear in a log line (abbreviated unless log_full_keys()).
std::string_view abbreviate_key(std::string_view key_text) noexcept;
}  // namespace detail

// The digest as it appears in log lines: 12 hex characters unless log_full_keys().
inline std::string key_label(const Digest& d) {
  std::string hex = d.hex();
  if (!log_full_keys()) hex.resize(12);
  return hex;
}

}  // namespace v1
}  // namespace bucketcache

// Formats and logs only when the level is enabled.
#define BC_LOG(level, ...)                                                 \
  do {                                                                     \
    if (::bucketcache::detail::log_enabled(level)) {                       \
      ::bucketcache::detail::log_message(level, fmt::format(__VA_ARGS__)); \
    }                                                                      \
  } while (0)
