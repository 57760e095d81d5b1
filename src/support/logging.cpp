// spdlog stays in here: no spdlog or fmt type leaves this file.
#include "bucketcache/logging.hpp"

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

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

// The calling thread's state: inside the callback (its own library calls' lines are
// dropped), and the lines held by DeferredLogLines scopes.
struct PendingLine {
  LogLevel level;
  std::string text;
};
constexpr std::size_t kMaxPendingLines = 10000;
thread_local bool t_in_callback = false;
thread_local int t_defer_depth = 0;
thread_local std::vector<PendingLine> t_pending;
thread_local std::size_t t_dropped = 0;

void deliver(const LogCallback& cb, LogLevel level, std::string_view text) noexcept {
  t_in_callback = true;
  try {
    cb(level, text);
  } catch (...) {
    // A throwing callback must not break the caller; the line is dropped.
  }
  t_in_callback = false;
}

// Forwards formatted lines to the user's callback. No lock is held around the callback
// (it may run on several threads at once, as documented), so a callback that calls the
// library never waits for a lock its own thread holds.
class CallbackSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit CallbackSink(std::shared_ptr<const LogCallback> cb) : cb_(std::move(cb)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (t_in_callback) return;
    const auto level = static_cast<LogLevel>(static_cast<int>(msg.level));
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (t_defer_depth > 0) {
      if (t_pending.size() < kMaxPendingLines) {
        t_pending.push_back({level, std::string(text)});
      } else {
        ++t_dropped;
      }
      return;
    }
    deliver(*cb_, level, text);
  }
  void flush_() override {}

 private:
  std::shared_ptr<const LogCallback> cb_;
};

struct LogState {
  std::mutex mu;
  std::shared_ptr<spdlog::logger> logger;
  std::atomic<int> level{static_cast<int>(LogLevel::off)};
  std::atomic<bool> full_keys{false};
  std::shared_ptr<const LogCallback> callback;  // the installed one (under mu), or none
  std::atomic<bool> has_callback{false};

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

  std::shared_ptr<const LogCallback> get_callback() {
    std::lock_guard<std::mutex> lock(mu);
    return callback;
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
  std::shared_ptr<const LogCallback> cb;
  if (to_callback) {
    cb = std::make_shared<const LogCallback>(std::move(callback));
    sink = std::make_shared<CallbackSink>(cb);
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
  s.callback = std::move(cb);
  s.has_callback.store(to_callback, std::memory_order_relaxed);
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

// With logging off or no callback (the defaults), a scope touches no thread-local state:
// two relaxed loads. A line logged after another thread turns logging on mid-call is then
// delivered at once, as a C++ caller's is.
DeferredLogLines::DeferredLogLines() noexcept {
  LogState& s = state();
  active_ = s.level.load(std::memory_order_relaxed) != static_cast<int>(LogLevel::off) &&
            s.has_callback.load(std::memory_order_relaxed);
  if (active_) ++t_defer_depth;
}

bool DeferredLogLines::has_lines() const noexcept {
  return active_ && !finished_ && t_defer_depth == 1 && (!t_pending.empty() || t_dropped != 0);
}

void DeferredLogLines::finish() noexcept {
  if (!active_ || finished_) return;
  finished_ = true;
  if (--t_defer_depth > 0 || (t_pending.empty() && t_dropped == 0)) return;
  std::vector<PendingLine> lines;
  lines.swap(t_pending);
  const std::size_t dropped = t_dropped;
  t_dropped = 0;
  try {
    // The callback installed now (set_log_callback may have replaced it meanwhile); none:
    // the lines were for a callback that is gone.
    const std::shared_ptr<const LogCallback> cb = state().get_callback();
    if (!cb) return;
    for (const PendingLine& line : lines) deliver(*cb, line.level, line.text);
    if (dropped != 0) {
      deliver(*cb, LogLevel::warn,
              fmt::format("{} log lines of one call dropped (more than {} held)", dropped,
                          kMaxPendingLines));
    }
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
