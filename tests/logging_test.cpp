// Logging: off by default, on by API, lines reach a callback, keys abbreviated by default.
#include "bucketcache/logging.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mutex>
#include <string>
#include <vector>

#include "bucketcache/store.hpp"
#include "support/log_internal.hpp"
#include "test_util.hpp"

namespace bc = bucketcache;

namespace {

struct Captured {
  std::mutex mu;
  std::vector<std::pair<bc::LogLevel, std::string>> lines;
};

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bc::set_log_callback([this](bc::LogLevel level, std::string_view msg) {
      std::lock_guard<std::mutex> lock(captured_.mu);
      captured_.lines.emplace_back(level, std::string(msg));
    });
  }
  void TearDown() override {
    bc::set_log_level(bc::LogLevel::off);
    bc::set_log_full_keys(false);
    bc::set_log_callback(nullptr);
  }
  std::vector<std::pair<bc::LogLevel, std::string>> lines() {
    std::lock_guard<std::mutex> lock(captured_.mu);
    return captured_.lines;
  }
  Captured captured_;
};

bool any_line_contains(const std::vector<std::pair<bc::LogLevel, std::string>>& lines,
                       const std::string& text) {
  for (const auto& l : lines) {
    if (l.second.find(text) != std::string::npos) return true;
  }
  return false;
}

}  // namespace

TEST_F(LoggingTest, OffByDefault) {
  // The test runner does not set BUCKETCACHE_LOG, so the level read at start is off.
  ASSERT_EQ(std::getenv("BUCKETCACHE_LOG"), nullptr);
  EXPECT_EQ(bc::log_level(), bc::LogLevel::off);
  bctest::TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  s.set(s.digest("k"), "v");
  bc::Entry e;
  s.get(s.digest("missing"), e);
  s.prune_directory();
  EXPECT_TRUE(lines().empty());
}

TEST_F(LoggingTest, LinesReachTheCallbackWithAbbreviatedKeys) {
  bc::set_log_level(bc::LogLevel::debug);
  bctest::TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::Digest d = s.digest("k");
  s.set(d, "v");
  const auto got = lines();
  ASSERT_FALSE(got.empty());
  EXPECT_TRUE(any_line_contains(got, d.hex().substr(0, 12)));
  EXPECT_FALSE(any_line_contains(got, d.hex()));  // abbreviated
  for (const auto& l : got)
    EXPECT_GE(static_cast<int>(l.first), static_cast<int>(bc::LogLevel::debug));
}

TEST_F(LoggingTest, FullKeysWhenAsked) {
  bc::set_log_level(bc::LogLevel::debug);
  bc::set_log_full_keys(true);
  bctest::TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  const bc::Digest d = s.digest("k");
  s.set(d, "v");
  EXPECT_TRUE(any_line_contains(lines(), d.hex()));
  EXPECT_EQ(std::string(bc::detail::abbreviate_key(std::string(200, 'x'))).size(), 200u);
  bc::set_log_full_keys(false);
  EXPECT_EQ(std::string(bc::detail::abbreviate_key(std::string(200, 'x'))).size(), 64u);
}

TEST_F(LoggingTest, LevelFiltersLines) {
  bc::set_log_level(bc::LogLevel::warn);
  bctest::TempDir dir;
  bc::Options o;
  o.memory_limit_bytes = 0;
  bc::Store s(dir.path(), "raw", "raw", o);
  const bc::Digest d = s.digest("k");
  s.set(d, "v");  // debug: filtered
  EXPECT_TRUE(lines().empty());
  bctest::write_file(s.entry_path(d), "garbage");
  bc::Entry e;
  EXPECT_NE(s.get(d, e), bc::ReadStatus::found);  // a corrupt entry logs a warning
  const auto got = lines();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].first, bc::LogLevel::warn);
  EXPECT_NE(got[0].second.find("corrupt"), std::string::npos);
}

TEST_F(LoggingTest, ThrowingCallbackDoesNotBreakTheCaller) {
  bc::set_log_callback([](bc::LogLevel, std::string_view) { throw std::runtime_error("boom"); });
  bc::set_log_level(bc::LogLevel::trace);
  bctest::TempDir dir;
  bc::Store s(dir.path(), "raw", "raw");
  EXPECT_NO_THROW(s.set(s.digest("k"), "v"));
}

// A C++ callback that calls the library on its own thread: no lock is held around the
// callback, and the lines of its own calls are dropped (no recursion). In a child with an
// alarm: a deadlock must fail the test, not hang it.
TEST(Logging, ACallbackMayCallTheLibraryOnItsThread) {
  bctest::TempDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::alarm(20);
    bc::Options o;
    o.memory_limit_bytes = 0;
    bc::Store s(dir.path(), "raw", "raw", o);
    const bc::Digest k = s.digest("k");
    s.set(k, "v");
    int lines = 0;
    int nested_ok = 0;
    bc::set_log_callback([&](bc::LogLevel, std::string_view) {
      ++lines;
      bc::Entry e;
      if (s.get(k, e) == bc::ReadStatus::found && *e.value == "v") ++nested_ok;
    });
    bc::set_log_level(bc::LogLevel::debug);
    bc::Entry e;
    const bool found = s.get(k, e) == bc::ReadStatus::found;
    bc::set_log_level(bc::LogLevel::off);
    bc::set_log_callback(nullptr);
    // The outer get's line reached the callback; its nested get's lines did not.
    ::_exit(found && lines >= 1 && nested_ok == lines ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << (WIFSIGNALED(status) ? "killed by signal (a deadlock ends by the alarm)" : "failed");
}
