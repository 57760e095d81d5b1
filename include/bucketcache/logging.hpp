// Logging. Off by default. Enable with set_log_level() or the environment variable
// BUCKETCACHE_LOG=<trace|debug|info|warn|error|critical|off>, read when the library first
// logs. Lines go to stderr unless a callback is installed with set_log_callback().
#pragma once

#include <functional>
#include <string_view>

#include "bucketcache/export.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

// Values match the C API's BC_LOG_* constants.
enum class LogLevel : int {
  trace = 0,
  debug = 1,
  info = 2,
  warn = 3,
  error = 4,
  critical = 5,
  off = 6
};

BUCKETCACHE_API void set_log_level(LogLevel level);
BUCKETCACHE_API LogLevel log_level();

// Keys appear in log lines abbreviated (first 12 characters of the digest, first 64 bytes
// of a canonical key) unless this is on. Off by default.
BUCKETCACHE_API void set_log_full_keys(bool on);
BUCKETCACHE_API bool log_full_keys();

// Receives (level, message) for every line at or above the level. Called on the thread
// that logs, possibly from many threads at once, with no lock of the logger held; must not
// throw (exceptions are dropped). Lines the library emits while the callback runs on that
// thread (the callback called the library) are dropped. C API calls deliver their lines
// just before they return (docs/logging.md).
// An empty function restores the stderr output.
using LogCallback = std::function<void(LogLevel, std::string_view)>;
BUCKETCACHE_API void set_log_callback(LogCallback callback);

BUCKETCACHE_NAMESPACE_END
