// spdlog stays in here: no spdlog or fmt type leaves this file.
#include "bucketcache/logging.hpp"

#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "support/log_internal.hpp"

BUCKETCACHE_NAMESPACE_BEGIN

namespace {

constexpr std::size_t kAbbreviatedKeyLength = 64;

spdlog::level::level_enum to_spdlog(LogLevel level) {
  return static_cast<spdlog::level::level_enum>(static_cast<int>(level));
}

LogLevel parse_level(const char* text) {
  if (text == nullptr) return LogLevel::off;
  std::string s(text);
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s == "trace") return LogLevel::trace;
  if (s == "debug") return LogLevel::debug;
  if (s == "info") return LogLevel::info;
  if (s == "warn" || s == "warning") return LogLevel::warn;
  if (s == "error" || s == "err") return LogLevel::error;
  if (s == "critical") return LogLevel::critical;
  return LogLevel::off;
}

// Forwards formatted lines to the user's callback.
class CallbackSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit CallbackSink(LogCallback cb) : cb_(std::move(cb)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    try {
      cb_(static_cast<LogLevel>(static_cast<int>(msg.level)),
          std::string_view(msg.payload.data(), msg.payload.size()));
    } catch (...) {
      // A throwing callback must not break the caller; the line is dropped.
    }
  }
  void flush_() override {}

 private:
  LogCallback cb_;
};

struct LogState {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<int> level{static_cast<int>(LogLevel::off)};
  std::atomic<bool> full_keys{false};

  LogState() {
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    logger = std::make_shared<spdlog::logger>("bucketcache", sink);
    logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [bucketcache] [%l] %v");
    set_level(parse_level(std::getenv("BUCKETCACHE_LOG")));
  }

  // The level is stored and applied to the logger under mu, so that set_log_callback()
  // (which replaces the logger under mu) always installs the latest level.
  void set_level(LogLevel l) {
    std::lock_guard<std::mutex> lock(mu);
    level.store(static_cast<int>(l), std::memory_order_relaxed);
    logger->set_level(to_spdlog(l));
  }

  std::shared_ptr<spdlog::logger> get() {
    std::lock_guard<std::mutex> lock(mu);
    return logger;
  }
};

LogState& state() {
  static LogState* s = new LogState();  // never destroyed: usable from static destructors
  return *s;
}

}  // namespace

void set_log_level(LogLevel level) { state().set_level(level); }

LogLevel log_level() {
  return static_cast<LogLevel>(state().level.load(std::memory_order_relaxed));
}

void set_log_full_keys(bool on) { state().full_keys.store(on, std::memory_order_relaxed); }

bool log_full_keys() { return state().full_keys.load(std::memory_order_relaxed); }

void set_log_callback(LogCallback callback) {
  LogState& s = state();
  const bool to_callback = static_cast<bool>(callback);
  spdlog::sink_ptr sink;
  if (to_callback) {
    sink = std::make_shared<CallbackSink>(std::move(callback));
    sink->set_pattern("%v");
  } else {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  }
  auto logger = std::make_shared<spdlog::logger>("bucketcache", sink);
  if (!to_callback) logger->set_pattern("[%Y-%m-%d %H:%M:%S.%e] [bucketcache] [%l] %v");
  // Under the lock that set_level() takes, so a concurrent level change is not lost.
  std::lock_guard<std::mutex> lock(s.mu);
  logger->set_level(to_spdlog(static_cast<LogLevel>(s.level.load(std::memory_order_relaxed))));
  s.logger = std::move(logger);
}

namespace detail {

bool log_enabled(LogLevel level) noexcept {
  return level != LogLevel::off &&
         static_cast<int>(level) >= state().level.load(std::memory_order_relaxed);
}

void log_message(LogLevel level, std::string_view message) noexcept {
  if (!log_enabled(level)) return;
  try {
    state().get()->log(to_spdlog(level), "{}", message);
  } catch (...) {
    // Logging never throws into the caller.
  }
}

std::string_view abbreviate_key(std::string_view key_text) noexcept {
  if (log_full_keys() || key_text.size() <= kAbbreviatedKeyLength) return key_text;
  return key_text.substr(0, kAbbreviatedKeyLength);
}

}  // namespace detail

BUCKETCACHE_NAMESPACE_END
