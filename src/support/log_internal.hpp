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

// While one lives on a thread, lines for the log callback are held (up to a bound; the
// excess is counted in one last line) and delivered when the outermost one on that thread
// ends. The C API's entry points hold one, so the callback runs after the call has released
// every lock it took: a callback may then call the library, even the same bucket. Lines
// the library emits while the callback runs on that thread (because it called the library)
// are dropped, never delivered into the callback again.
class DeferredLogLines {
 public:
  DeferredLogLines() noexcept;
  ~DeferredLogLines() { finish(); }
  DeferredLogLines(const DeferredLogLines&) = delete;
  DeferredLogLines& operator=(const DeferredLogLines&) = delete;
  // Whether this is the outermost scope and lines are held (finish() would call back).
  bool has_lines() const noexcept;
  // Ends the scope now (the destructor then does nothing): the outermost delivers.
  void finish() noexcept;

 private:
  bool active_;  // a callback is installed and lines may be logged (else: no thread state)
  bool finished_ = false;
};
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
